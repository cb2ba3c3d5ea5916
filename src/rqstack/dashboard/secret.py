"""The Flask secret key: kept 0600 in RQSTACK_DATA_DIR so logins survive restarts."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from rqstack.settings import Settings

logger = logging.getLogger(__name__)

SECRET_FILE_NAME = "dashboard.secret"
_KEY_BYTES = 32


def secret_key(settings: Settings) -> bytes:
    """The key from the data dir's secret file (created on first use), else one derived from the token."""
    try:
        return _read_or_create(Path(settings.data_dir) / SECRET_FILE_NAME)
    except OSError as exc:
        if settings.dashboard_token:
            logger.warning(
                "cannot keep the dashboard secret in %s (%s); deriving it from the token",
                settings.data_dir,
                exc,
            )
            return hmac.new(
                settings.dashboard_token.encode(), b"rqstack-dashboard-session", hashlib.sha256
            ).digest()
        logger.warning(
            "cannot keep the dashboard secret in %s (%s); logins end at restart", settings.data_dir, exc
        )
        return secrets.token_bytes(_KEY_BYTES)


def _read_or_create(path: Path) -> bytes:
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on one key (the loser reads the winner's).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
    return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text().strip()
    if len(text) < _KEY_BYTES:
        raise OSError(f"{path} holds no usable key")
    return bytes.fromhex(text) if all(c in "0123456789abcdef" for c in text) else text.encode()

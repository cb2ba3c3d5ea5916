"""`backup.postgres`: pg_dump streamed through gzip into a rotated directory of verified dumps."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from rqstack.errors import BadInput, ConfigError, RqstackError
from rqstack.settings import Settings
from rqstack.worker.jobs.registry import job
from rqstack.worker.progress import report_progress

logger = logging.getLogger(__name__)

_SCHEMES = ("postgres", "postgresql")
_CHUNK = 1 << 20
#: pg_dump's plain format ends with this line; its absence means the dump stopped early.
_DUMP_TRAILER = b"PostgreSQL database dump complete"
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: A temp file this old belongs to a backup that was killed, not to one still running.
_STALE_TEMP_SECONDS = 6 * 3600
_PROGRESS_EVERY_SECONDS = 1.0
#: Fail fast on an unreachable host instead of waiting for the job timeout.
_CONNECT_TIMEOUT = "10"

#: How the job opens its temp file; tests swap it to inject a write failure (a full disk).
OpenOutput = Callable[[Path], IO[bytes]]


class BackupFailed(RqstackError):
    """The backup could not be made; no file was left behind."""

    code = "backup_failed"


@dataclass(frozen=True)
class DumpTarget:
    """What pg_dump connects to: the URL without its password, and the password for PGPASSWORD."""

    url: str
    password: str | None
    database: str
    redacted: str

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for pg_dump: the password travels here, never in argv."""
        env = dict(os.environ if base is None else base)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        env.setdefault("PGCONNECT_TIMEOUT", _CONNECT_TIMEOUT)
        return env


@dataclass
class BackupResult:
    """What one backup produced and what rotation removed."""

    database: str
    path: Path
    bytes: int
    dump_bytes: int
    duration: float
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form returned by the job."""
        return {
            "database": self.database,
            "path": str(self.path),
            "bytes": self.bytes,
            "dump_bytes": self.dump_bytes,
            "duration": round(self.duration, 3),
            "removed": self.removed,
        }


@job(
    "backup.postgres",
    timeout="1h",
    retry=2,
    retry_interval="5m",
    description="Dump a PostgreSQL database (DATABASE_URL) to a gzipped, verified, rotated file",
)
def backup_postgres(
    url: str | None = None,
    keep_days: int | None = 14,
    keep_count: int | None = None,
    directory: str | None = None,
) -> dict[str, Any]:
    """Back up DATABASE_URL (or ``url``) into RQSTACK_BACKUP_DIR; rotate by age and count."""
    settings = Settings.from_env()
    target_url = url or settings.database_url
    if not target_url:
        raise ConfigError(
            "backup.postgres has no database: DATABASE_URL is unset and no url was given; no backup was "
            "made; set DATABASE_URL=postgresql://user@host/dbname or pass url",
            field="DATABASE_URL",
        )
    folder = Path(directory) if directory else settings.backups
    result = run_backup(target_url, folder, keep_days=keep_days, keep_count=keep_count)
    return result.as_dict()


def run_backup(
    url: str,
    directory: Path,
    *,
    keep_days: int | None = 14,
    keep_count: int | None = None,
    now: datetime | None = None,
    open_output: OpenOutput | None = None,
) -> BackupResult:
    """Dump, compress, verify, publish atomically, then rotate; BackupFailed leaves no partial file."""
    _check_keep(keep_days, "keep_days")
    _check_keep(keep_count, "keep_count")
    target = parse_target(url)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed(
            "pg_dump was not found on PATH; no backup was made; install the PostgreSQL client "
            "(apt install postgresql-client) or add its bin directory to PATH of the worker"
        )
    now = now or datetime.now(UTC)
    started = time.monotonic()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupFailed(
            f"cannot create backup directory {directory} ({exc.strerror or exc}); no backup was made; "
            "create it or point RQSTACK_BACKUP_DIR at a writable directory"
        ) from None
    final = _free_name(directory, target.database, now)
    temp = directory / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    report_progress(0, None, f"dumping {target.database}")
    try:
        dump_bytes = _dump(pg_dump, target, temp, open_output or _open_output)
        report_progress(dump_bytes, None, "verifying")
        _verify(temp, target)
        os.replace(temp, final)
    except BaseException:
        # Also on a job timeout or SIGTERM: a half-written dump must never look like a backup.
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_dir(directory)
    report_progress(dump_bytes, None, "rotating")
    removed = rotate(directory, target.database, now=now, keep_days=keep_days, keep_count=keep_count)
    removed += _remove_stale_temps(directory, target.database)
    result = BackupResult(
        database=target.database,
        path=final,
        bytes=final.stat().st_size,
        dump_bytes=dump_bytes,
        duration=time.monotonic() - started,
        removed=removed,
    )
    report_progress(1, 1, f"done: {final.name}")
    logger.info("backup of %s written to %s (%s bytes)", target.redacted, final, result.bytes)
    return result


def parse_target(url: str) -> DumpTarget:
    """Split a postgresql:// URL into a password-free URL, the password and the database name."""
    parts = urlsplit(url)
    redacted = _redact(url)
    if parts.scheme not in _SCHEMES:
        raise BadInput(
            f"database URL {redacted!r} is not a PostgreSQL URL; no backup was made; "
            "write it like postgresql://user:password@host:5432/dbname",
            field="url",
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    password = unquote(parts.password) if parts.password is not None else None
    for key, value in query:
        if key == "password":
            password = value
    kept = [(k, v) for k, v in query if k != "password"]
    host = parts.netloc.rpartition("@")[2]
    user = unquote(parts.username) if parts.username else None
    netloc = f"{quote(user, safe='')}@{host}" if user else host
    database = unquote(parts.path.lstrip("/")) or dict(query).get("dbname") or user or "postgres"
    clean = parts._replace(netloc=netloc, query=urlencode(kept)).geturl()
    # Without a host libpq uses the local socket, but urlsplit needs a netloc to keep "//".
    if not netloc and not clean.startswith(f"{parts.scheme}://"):
        clean = clean.replace(f"{parts.scheme}:", f"{parts.scheme}://", 1)
    return DumpTarget(url=clean, password=password, database=database, redacted=redacted)


def pg_dump_command(pg_dump: str, target: DumpTarget) -> list[str]:
    """argv of pg_dump: plain SQL to stdout, never a password prompt, never the password itself."""
    return [pg_dump, "--no-password", "--format=plain", f"--dbname={target.url}"]


def file_stem(database: str) -> str:
    """The database name as it may appear in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", database).lstrip(".") or "db"


def backup_pattern(database: str) -> re.Pattern[str]:
    """Names of this database's backups: ``<db>-YYYYmmddTHHMMSSZ[-n].sql.gz``."""
    return re.compile(rf"^{re.escape(file_stem(database))}-(\d{{8}}T\d{{6}}Z)(?:-(\d+))?\.sql\.gz$")


def backup_files(directory: Path, database: str) -> list[tuple[datetime, Path]]:
    """This database's backups in ``directory``, newest first, with their UTC timestamps."""
    return backup_files_any(directory).get(file_stem(database), [])


def rotate(
    directory: Path,
    database: str,
    *,
    now: datetime,
    keep_days: int | None,
    keep_count: int | None,
) -> list[str]:
    """Delete this database's backups older than ``keep_days`` or beyond the newest ``keep_count``."""
    cutoff = None if keep_days is None else now - timedelta(days=keep_days)
    removed = []
    for index, (stamp, path) in enumerate(backup_files(directory, database)):
        too_many = keep_count is not None and index >= keep_count
        too_old = cutoff is not None and stamp < cutoff and index > 0
        if too_many or too_old:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    if removed:
        logger.info("rotation removed %s old backup(s) of %s", len(removed), database)
    return removed


def _dump(pg_dump: str, target: DumpTarget, temp: Path, open_output: OpenOutput) -> int:
    with tempfile.TemporaryFile() as stderr:
        with subprocess.Popen(
            pg_dump_command(pg_dump, target),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=target.env(),
        ) as process:
            try:
                dumped = _stream(process, temp, open_output)
            except BaseException:
                _stop(process)
                raise
            code = process.wait()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    if code != 0:
        raise BackupFailed(
            f"pg_dump of {target.redacted} failed (exit {code}): {summarise(errors, target)}; no backup "
            "was made; check that the database is reachable, the URL, user and password are right, "
            "and pg_dump is not older than the server"
        )
    return dumped


def _stream(process: subprocess.Popen[bytes], temp: Path, open_output: OpenOutput) -> int:
    assert process.stdout is not None
    dumped = 0
    last_report = time.monotonic()
    try:
        with open_output(temp) as raw:
            with gzip.GzipFile(filename=temp.name, mode="wb", fileobj=raw, mtime=0) as compressed:
                while chunk := process.stdout.read(_CHUNK):
                    compressed.write(chunk)
                    dumped += len(chunk)
                    if time.monotonic() - last_report >= _PROGRESS_EVERY_SECONDS:
                        last_report = time.monotonic()
                        report_progress(dumped, None, f"dumped {dumped // 1024} KiB")
            raw.flush()
            os.fsync(raw.fileno())
    except OSError as exc:
        raise BackupFailed(
            f"writing the backup to {temp.parent} failed ({exc.strerror or exc}); no backup was made "
            "and the partial file was removed; free disk space there or point RQSTACK_BACKUP_DIR "
            "at a writable directory with room"
        ) from None
    return dumped


def _verify(path: Path, target: DumpTarget) -> None:
    """Read the file back through gzip: a CRC error, an empty dump or a missing trailer fails it."""
    size = 0
    tail = b""
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                tail = (tail + chunk)[-4096:]
    except (OSError, EOFError) as exc:
        raise BackupFailed(
            f"the backup of {target.redacted} did not read back ({exc}); it was discarded; "
            "check the disk of the backup directory and run the backup again"
        ) from None
    if size == 0 or _DUMP_TRAILER not in tail:
        raise BackupFailed(
            f"the dump of {target.redacted} is {'empty' if size == 0 else 'incomplete'}; it was "
            "discarded; run pg_dump by hand against the same URL to see why"
        )


def summarise(stderr: str, target: DumpTarget) -> str:
    """pg_dump's error lines in one line, without the password."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("pg_dump: ").removeprefix("error: ") for line in lines if "error" in line]
    text = "; ".join(errors or lines[-3:]) or "no message"
    if target.password:
        text = text.replace(target.password, "***")
    return text if len(text) <= 400 else text[:399] + "…"


def _free_name(directory: Path, database: str, now: datetime) -> Path:
    base = f"{file_stem(database)}-{now.astimezone(UTC).strftime(_STAMP_FORMAT)}"
    candidate = directory / f"{base}.sql.gz"
    counter = 1
    # Two backups within one second (a manual run next to the nightly one) must not overwrite.
    while candidate.exists():
        counter += 1
        candidate = directory / f"{base}-{counter}.sql.gz"
    return candidate


def _remove_stale_temps(directory: Path, database: str) -> list[str]:
    prefix = f".{file_stem(database)}-"
    removed = []
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for path in directory.iterdir():
        if path.name.startswith(prefix) and ".sql.gz.tmp-" in path.name:
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path.name)
    return removed


def _open_output(path: Path) -> IO[bytes]:
    # O_EXCL: never write into a file some other process is writing.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_keep(value: int | None, name: str) -> None:
    if value is not None and value < 1:
        raise BadInput(
            f"{name} must be at least 1 (or null for no limit), got {value}; no backup was made",
            field=name,
        )


def _redact(url: str) -> str:
    # String edits, not urlunsplit: that would turn postgresql:///db into postgresql:/db.
    password = urlsplit(url).password
    if password is not None:
        url = url.replace(f":{password}@", ":***@", 1)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)


def backup_files_any(directory: Path) -> dict[str, list[tuple[datetime, Path]]]:
    """Every file named like one of our backups, by database stem, newest first."""
    generic = re.compile(r"^(.+)-(\d{8}T\d{6}Z)(?:-(\d+))?\.sql\.gz$")
    found: dict[str, list[tuple[datetime, int, Path]]] = {}
    for path in directory.iterdir() if directory.is_dir() else ():
        match = generic.match(path.name)
        if match and path.is_file():
            stamp = datetime.strptime(match.group(2), _STAMP_FORMAT).replace(tzinfo=UTC)
            found.setdefault(match.group(1), []).append((stamp, int(match.group(3) or 1), path))
    return {
        stem: [(stamp, path) for stamp, _, path in sorted(items, key=lambda i: (i[0], i[1]), reverse=True)]
        for stem, items in found.items()
    }

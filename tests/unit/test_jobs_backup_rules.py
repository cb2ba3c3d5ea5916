"""Pure parts of backup.postgres: URL handling without leaking the password, naming, rotation rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rqstack.errors import BadInput
from rqstack.worker.jobs.backup import (
    backup_pattern,
    file_stem,
    parse_target,
    pg_dump_command,
    rotate,
    summarise,
)


@pytest.mark.parametrize(
    ("url", "clean", "password", "database"),
    [
        ("postgresql:///test", "postgresql:///test", None, "test"),
        (
            "postgresql://u:s%40cret@db:5432/app?sslmode=require",
            "postgresql://u@db:5432/app?sslmode=require",
            "s@cret",
            "app",
        ),
        (
            "postgres://u@h/app?password=pw&connect_timeout=3",
            "postgres://u@h/app?connect_timeout=3",
            "pw",
            "app",
        ),
        ("postgresql://u@h", "postgresql://u@h", None, "u"),
    ],
)
def test_parse_target_moves_password_out_of_the_url(
    url: str, clean: str, password: str | None, database: str
) -> None:
    target = parse_target(url)
    assert (target.url, target.password, target.database) == (clean, password, database)
    argv = pg_dump_command("/usr/bin/pg_dump", target)
    assert "--no-password" in argv
    assert password is None or all(password not in arg for arg in argv)
    env = target.env({})
    assert env.get("PGPASSWORD") == password
    assert env["PGCONNECT_TIMEOUT"] == "10"


def test_redacted_url_hides_the_password() -> None:
    target = parse_target("postgresql://u:topsecret@h/db?password=other")
    assert "topsecret" not in target.redacted and "other" not in target.redacted
    assert summarise(
        "pg_dump: error: auth failed for topsecret\n", parse_target("postgresql://u:topsecret@h/d")
    ) == ("auth failed for ***")


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "http://h/db"])
def test_non_postgres_url_is_bad_input(url: str) -> None:
    with pytest.raises(BadInput, match="not a PostgreSQL URL"):
        parse_target(url)


def test_pattern_matches_only_this_database() -> None:
    pattern = backup_pattern("app")
    assert pattern.match("app-20261125T030000Z.sql.gz")
    assert pattern.match("app-20261125T030000Z-2.sql.gz")
    for other in ("app-2-20261125T030000Z.sql.gz", "app_x-20261125T030000Z.sql.gz", "app-20261125.sql.gz"):
        assert not pattern.match(other)
    assert file_stem("we/ird db") == "we_ird_db"


def test_rotate_never_removes_the_newest(tmp_path: Path) -> None:
    old = tmp_path / "app-20200101T000000Z.sql.gz"
    old.write_bytes(b"x")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert rotate(tmp_path, "app", now=now, keep_days=1, keep_count=None) == []
    newer = tmp_path / "app-20200102T000000Z.sql.gz"
    newer.write_bytes(b"x")
    assert rotate(tmp_path, "app", now=now, keep_days=1, keep_count=None) == [old.name]

"""backup.postgres against the real local PostgreSQL: dump, restore elsewhere, compare; failures clean up."""

from __future__ import annotations

import errno
import gzip
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest
import redis
from rq.job import Job

from rqstack.serializer import JSONFirstSerializer
from rqstack.worker.enqueue import EnqueueRequest, enqueue
from rqstack.worker.jobs.backup import BackupFailed, run_backup
from rqstack.worker.jobs.registry import load_jobs
from rqstack.worker.runner import build_fast_worker

ROWS = [(1, "alpha", None), (2, "béta ☃", 2.5), (3, 'it\'s "quoted"\nnewline', -1.0)]


def psql(database: str, sql: str) -> str:
    """Run SQL over the local socket (trust auth) and return unaligned output."""
    done = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def scratch_db(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Make fresh databases on demand; each is dropped in a finalizer."""

    def make() -> str:
        name = f"rqstack_test_{secrets.token_hex(4)}"
        subprocess.run(["createdb", name], check=True)
        request.addfinalizer(lambda: psql("test", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        return name

    return make


@pytest.fixture
def source_db(scratch_db: Callable[[], str]) -> str:
    """A fresh database with a table of awkward rows."""
    name = scratch_db()
    psql(name, "CREATE TABLE things (id int PRIMARY KEY, label text NOT NULL, score float8)")
    for row_id, label, score in ROWS:
        literal = label.replace("'", "''")
        psql(name, f"INSERT INTO things VALUES ({row_id}, '{literal}', {'NULL' if score is None else score})")
    return name


def pg_dump_processes(database: str) -> list[int]:
    """Pids of pg_dump processes dumping ``database`` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"pg_dump") and any(database.encode() in arg for arg in argv):
            found.append(int(proc.name))
    return found


def url_of(database: str) -> str:
    # A password in the URL must reach pg_dump through PGPASSWORD; trust auth ignores it.
    return f"postgresql://root:not-on-argv@127.0.0.1:5432/{database}"


def test_backup_restores_into_a_fresh_database(
    source_db: str, scratch_db: Callable[[], str], tmp_path: Path
) -> None:
    result = run_backup(url_of(source_db), tmp_path)
    assert result.path.parent == tmp_path
    assert result.path.name.startswith(f"{source_db}-") and result.path.name.endswith("Z.sql.gz")
    assert result.bytes == result.path.stat().st_size > 0
    assert result.dump_bytes > result.bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.path.name]
    assert oct(result.path.stat().st_mode & 0o777) == "0o600"

    target = scratch_db()
    with gzip.open(result.path, "rb") as dump:
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target],
            input=dump.read(),
            capture_output=True,
            check=True,
        )
    query = "SELECT id, label, coalesce(score::text, 'NULL') FROM things ORDER BY id"
    assert psql(target, query) == psql(source_db, query)
    assert psql(target, "SELECT count(*) FROM things").strip() == str(len(ROWS))


def test_rotation_keeps_recent_and_foreign_files(source_db: str, tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    stamps = [now - timedelta(days=d) for d in (1, 2, 10, 40)]
    ours = [tmp_path / f"{source_db}-{s:%Y%m%dT%H%M%SZ}.sql.gz" for s in stamps]
    foreign = [
        tmp_path / "otherdb-20200101T000000Z.sql.gz",
        tmp_path / f"{source_db}-notes.txt",
        tmp_path / f"{source_db}_copy-20200101T000000Z.sql.gz",
    ]
    for path in ours + foreign:
        path.write_bytes(b"old")

    result = run_backup(url_of(source_db), tmp_path, keep_days=7, now=now)
    assert sorted(result.removed) == sorted(p.name for p in ours[2:])
    assert all(p.exists() for p in [*ours[:2], *foreign, result.path])

    again = run_backup(url_of(source_db), tmp_path, keep_days=None, keep_count=2, now=now)
    assert again.path.name.endswith("Z-2.sql.gz")  # same second: a second name, not an overwrite
    assert sorted(again.removed) == sorted(p.name for p in ours[:2])
    assert {p.name for p in tmp_path.iterdir()} == {result.path.name, again.path.name} | {
        p.name for p in foreign
    }


def test_unreachable_database_names_the_cause(tmp_path: Path) -> None:
    with pytest.raises(BackupFailed) as caught:
        run_backup("postgresql://root:hunter2@127.0.0.1:1/test", tmp_path)
    message = caught.value.message
    assert "Connection refused" in message and "no backup was made" in message
    assert "hunter2" not in message and "***" in message
    assert list(tmp_path.iterdir()) == []


def test_missing_database_is_summarised(tmp_path: Path) -> None:
    with pytest.raises(BackupFailed, match='database "no_such_db_rqstack" does not exist'):
        run_backup("postgresql:///no_such_db_rqstack", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_pg_dump_says_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupFailed, match="pg_dump was not found on PATH"):
        run_backup("postgresql:///test", tmp_path / "backups")
    assert not (tmp_path / "backups").exists()


def test_full_disk_removes_the_partial_file(source_db: str, tmp_path: Path) -> None:
    written: list[Path] = []

    class FullDisk:
        """A real file that stops accepting bytes after a few, as a full disk does."""

        def __init__(self, path: Path) -> None:
            self.file = path.open("xb")
            written.append(path)

        def write(self, data: bytes) -> int:
            if self.file.tell() + len(data) > 20:
                self.file.write(data[:5])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.file.write(data)

        def __getattr__(self, name: str) -> object:
            return getattr(self.file, name)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

    def open_full(path: Path) -> IO[bytes]:
        return FullDisk(path)  # type: ignore[return-value]

    with pytest.raises(BackupFailed) as caught:
        run_backup(url_of(source_db), tmp_path, open_output=open_full)
    assert "No space left on device" in caught.value.message
    assert "partial file was removed" in caught.value.message
    assert written and not written[0].exists()
    assert list(tmp_path.iterdir()) == []


def test_job_runs_on_a_worker_with_progress(
    source_db: str,
    connection: redis.Redis,
    redis_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backups = tmp_path / "nightly"
    monkeypatch.setenv("DATABASE_URL", f"postgresql:///{source_db}")
    monkeypatch.setenv("RQSTACK_BACKUP_DIR", str(backups))
    load_jobs()
    queued = enqueue(connection, EnqueueRequest(job="backup.postgres", kwargs={"keep_count": 3}))
    build_fast_worker(connection, ["default"]).work(burst=True)

    job = Job.fetch(queued.job_id, connection=connection, serializer=JSONFirstSerializer)
    assert job.get_status() == "finished", job.latest_result()
    result = job.return_value()
    assert isinstance(result, dict)
    assert Path(result["path"]).parent == backups and Path(result["path"]).exists()
    assert result["removed"] == []
    assert job.meta["progress"]["percent"] == 100.0


def test_a_timed_out_backup_stops_pg_dump_and_leaves_nothing(
    source_db: str,
    connection: redis.Redis,
    redis_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real lock makes pg_dump wait inside PostgreSQL until the job's timeout stops it.
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-d", source_db], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert holder.stdin is not None
    holder.stdin.write("BEGIN; LOCK TABLE things IN ACCESS EXCLUSIVE MODE; SELECT 1;\n")
    holder.stdin.flush()
    try:
        lock_query = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted"
        deadline = time.monotonic() + 10
        while psql(source_db, lock_query).strip() == "0" and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("RQSTACK_BACKUP_DIR", str(tmp_path / "b"))
        load_jobs()
        queued = enqueue(
            connection,
            EnqueueRequest(
                job="backup.postgres", kwargs={"url": f"postgresql:///{source_db}"}, timeout=1, retry=0
            ),
        )
        build_fast_worker(connection, ["default"]).work(burst=True)
        job = Job.fetch(queued.job_id, connection=connection, serializer=JSONFirstSerializer)
        assert job.get_status() == "failed"
        result = job.latest_result()
        assert result is not None and "timeout" in (result.exc_string or "")
        assert list((tmp_path / "b").iterdir()) == []
        assert pg_dump_processes(source_db) == []  # killed, not left waiting on the lock
    finally:
        holder.stdin.close()
        holder.wait(10)

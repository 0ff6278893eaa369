"""The four maintenance tasks on both backends: what each does, its record, its lock (held by
another process: the run is skipped and says so), a failure as one line, and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from storage_helpers import create_collection, create_document, open_db

import workersupport
from chunkyard.cli.main import main
from chunkyard.documents import blobs
from chunkyard.maintenance import tasks
from chunkyard.maintenance.lock import TaskLock
from chunkyard.maintenance.record import INTERRUPTED, read_state_of, start_run
from chunkyard.maintenance.schedule import TASKS
from chunkyard.maintenance.tasks import run_task, run_task_sync
from chunkyard.settings import Settings
from chunkyard.storage.models import (
    MaintenanceRun,
    Operation,
    OperationPart,
    OperationStatus,
    utcnow,
)


def _runs(settings: Settings, task: str) -> list[MaintenanceRun]:
    async def read() -> list[MaintenanceRun]:
        async with open_db(settings) as (_, sessions), sessions() as session:
            rows = await session.scalars(select(MaintenanceRun).where(MaintenanceRun.task == task)
                                         .order_by(MaintenanceRun.id))
            return list(rows.all())

    return asyncio.run(read())


def test_every_task_runs_records_and_reports(settings: Settings,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    postgresql = not settings.resolved_database_url.startswith("sqlite")
    if postgresql:
        asyncio.run(_leave_a_ccnew_index(settings))
    before = {task: len(_runs(settings, task)) for task in TASKS}
    results = {task: run_task_sync(task, settings) for task in TASKS}
    assert {r.outcome for r in results.values()} == {"succeeded"}, results
    if postgresql:
        assert results["analyze"].detail == "analyzed chunks and its 100 partitions"
        assert results["reindex"].detail == (
            "rebuilt 300 indexes of 100 chunk partitions concurrently, dropped 1 left by an "
            "interrupted run")
        assert asyncio.run(_indexes_of(settings, "chunks_p07")) == [
            "chunks_p07_collection_id_document_id_chunk_index_idx",
            "chunks_p07_document_id_chunk_index_partition_key_key", "chunks_p07_pkey"]
        assert "SQLite" not in results["skew"].detail
    else:
        assert "SQLite" in results["analyze"].detail
        assert results["reindex"].detail == "rebuilt the 3 indexes of chunks (SQLite: one table)"
        # The test databases are not in incremental mode, and the run says what it did.
        assert "no incremental VACUUM (auto_vacuum is NONE" in results["cleanup"].detail
    assert results["skew"].detail.startswith("skew 1.000: max 0 / mean 0.0")
    assert "deleted 0 operations" in results["cleanup"].detail
    for task, result in results.items():
        runs = _runs(settings, task)
        assert len(runs) == before[task] + 1
        row = runs[-1]
        assert (row.outcome, row.detail) == ("succeeded", result.detail)
        assert row.finished_at is not None and row.started_at <= row.finished_at
        assert "\n" not in row.detail

    # `maintenance status` shows each task's last run, and the JSON form the same.
    env = {"CHUNKYARD_DATABASE_URL": settings.resolved_database_url,
           "CHUNKYARD_DATA_DIR": str(settings.data_dir)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        from chunkyard.settings import get_settings

        get_settings.cache_clear()
        try:
            assert main(["maintenance", "status"]) == 0
            table = capsys.readouterr().out.splitlines()
            assert table[0].split()[:3] == ["task", "last", "run"]
            assert [line.split()[0] for line in table[1:]] == list(TASKS)
            assert all("succeeded" in line for line in table[1:])
            assert main(["maintenance", "status", "--json"]) == 0
            rows = json.loads(capsys.readouterr().out)
            assert [r["task"] for r in rows] == list(TASKS)
            assert {r["outcome"] for r in rows} == {"succeeded"}
            assert rows[0]["schedule"] == "daily at 02:00 UTC" and not rows[0]["overdue"]
            assert datetime.fromisoformat(rows[1]["next_due"]) > datetime.now(UTC)
            assert main(["maintenance", "run", "skew"]) == 0
            line = capsys.readouterr().out
            assert line.startswith("skew succeeded in ") and line.count("\n") == 1
        finally:
            get_settings.cache_clear()


async def _leave_a_ccnew_index(settings: Settings) -> None:
    """What REINDEX CONCURRENTLY leaves when it is stopped: an invalid copy named *_ccnew."""
    async with open_db(settings) as (engine, _), engine.begin() as connection:
        await connection.execute(text(
            'CREATE UNIQUE INDEX "chunks_p07_pkey_ccnew" ON chunks_p07 (id, partition_key)'))
        await connection.execute(text(
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'chunks_p07_pkey_ccnew'::regclass"))


async def _indexes_of(settings: Settings, table: str) -> list[str]:
    async with open_db(settings) as (engine, _), engine.connect() as connection:
        return [str(n) for (n,) in (await connection.execute(text(
            "SELECT indexrelid::regclass::text FROM pg_index "
            f"WHERE indrelid = '{table}'::regclass ORDER BY 1"))).all()]


def test_another_process_holding_the_lock_makes_the_run_a_skip(settings: Settings) -> None:
    """The lock is held here; `chunkyard maintenance run` in another process finds it held."""
    async def hold_and_run() -> None:
        async with open_db(settings) as (engine, _):
            async with TaskLock(engine, settings.data_dir, "analyze").hold() as held:
                assert held
                result = await asyncio.to_thread(
                    subprocess.run,
                    [*workersupport.chunkyard_command(), "maintenance", "run", "analyze"],
                    env=workersupport.settings_env(settings), capture_output=True, text=True,
                    timeout=60, cwd=settings.data_dir,
                )
                assert result.returncode == 75, result.stderr
                assert result.stderr.strip() == (
                    "chunkyard: error: maintenance analyze skipped: another run of it holds "
                    "its lock; try again when it has finished (`chunkyard maintenance status`)"
                )
                # In this process too (another connection, or another open file).
                again = await run_task("analyze", settings)
                assert again.outcome == "skipped"
                # A scheduled run that meets it leaves no record: the holder does that work.
                scheduled = await run_task("analyze", settings,
                                           due_since=datetime.min.replace(tzinfo=UTC))
                assert scheduled.outcome == "skipped"
                # Another task has a lock of its own.
                assert (await run_task("skew", settings)).outcome == "succeeded"
            # Released with the run: the next one takes it.
            assert (await run_task("analyze", settings)).outcome == "succeeded"

    asyncio.run(hold_and_run())
    runs = _runs(settings, "analyze")
    assert [r.outcome for r in runs[-3:]] == ["skipped", "skipped", "succeeded"]
    assert runs[-2].detail == "another run of this task holds its lock"


def test_a_failure_is_one_line_and_a_dead_run_is_closed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def dead_run() -> None:
        async with open_db(settings) as (engine, _):
            await start_run(engine, "reindex", utcnow() - timedelta(hours=1))

    asyncio.run(dead_run())  # a run whose process died: its row says running

    async def broken(ctx: tasks.Context) -> str:
        async with ctx.engine.connect() as connection:
            await connection.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    monkeypatch.setitem(tasks.TASK_FUNCTIONS, "reindex", broken)
    monkeypatch.setenv("CHUNKYARD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("CHUNKYARD_DATA_DIR", str(settings.data_dir))
    from chunkyard.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["maintenance", "run", "reindex"]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("chunkyard: error: maintenance reindex failed: ")
    assert "no_such_table" in err and err.count("\n") == 1 and "Traceback" not in err
    dead, failed = _runs(settings, "reindex")[-2:]
    assert (dead.outcome, dead.detail) == ("failed", INTERRUPTED)
    assert failed.outcome == "failed" and "no_such_table" in failed.detail
    assert "\n" not in failed.detail and "Traceback" not in failed.detail

    state = asyncio.run(_state(settings))
    assert state.tasks["reindex"].last_ran is not None
    assert state.tasks["reindex"].last_ran.outcome == "failed"


async def _state(settings: Settings) -> Any:
    async with open_db(settings) as (engine, _):
        return await read_state_of(engine)


# -- cleanup ----------------------------------------------------------------------------------


def _blob(settings: Settings, digest: str, age: float) -> Path:
    path = settings.data_dir / blobs.relative_blob_path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


async def _seed(engine: AsyncEngine, settings: Settings, referenced: str) -> dict[str, uuid.UUID]:
    """Operations old and new, finished and not, each with a part; a document on a blob."""
    from chunkyard.storage.engine import create_session_factory

    long_ago = utcnow() - timedelta(days=settings.maintenance_retention_days + 5)
    recent = utcnow() - timedelta(days=1)
    made: dict[str, uuid.UUID] = {}
    async with create_session_factory(engine)() as session:
        collection = await create_collection(session)
        await create_document(session, collection, content_sha256=referenced)
        for label, status, finished in [
            ("old_done", OperationStatus.COMPLETED, long_ago),
            ("old_failed", OperationStatus.FAILED, long_ago),
            ("new_done", OperationStatus.COMPLETED, recent),
            ("old_running", OperationStatus.RUNNING, None),
        ]:
            operation = Operation(collection_id=collection.id, owner_id=collection.owner_id,
                                  config={"strategy": "recursive", "params": {}}, status=status,
                                  created_at=long_ago, started_at=long_ago, finished_at=finished)
            session.add(operation)
            await session.flush()
            session.add(OperationPart(operation_id=operation.id, number=0, document_ids=[]))
            made[label] = operation.id
        session.add(MaintenanceRun(task="skew", outcome="succeeded", started_at=long_ago,
                                   finished_at=long_ago, detail="an old record"))
        await session.commit()
    return made


def test_cleanup_deletes_what_is_old_or_unreferenced_and_nothing_else(
    databases: Any, backend: str
) -> None:
    settings = databases.migrated(backend)  # its own record: the old one is the newest success
    referenced_old = _blob(settings, "a" * 64, age=3600)
    orphan_old = _blob(settings, "b" * 64, age=3600)
    orphan_new = _blob(settings, "c" * 64, age=60)  # its upload may not have committed
    stranger = settings.data_dir / "blobs" / "zz" / "not-a-blob"
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(b"kept")
    os.utime(stranger, (time.time() - 7200, time.time() - 7200))
    incoming = settings.data_dir / "blobs" / ".incoming"
    incoming.mkdir(parents=True)
    (incoming / "upload-dead").write_bytes(b"half")
    os.utime(incoming / "upload-dead", (time.time() - 2 * 86400,) * 2)
    (incoming / "upload-live").write_bytes(b"half")

    async def go() -> tuple[dict[str, uuid.UUID], set[uuid.UUID], int, int]:
        async with open_db(settings) as (engine, _):
            made = await _seed(engine, settings, "a" * 64)
            result = await run_task("cleanup", settings)
            assert result.outcome == "succeeded", result.detail
            # A task's newest success is kept however old; this one is the old record.
            second = await run_task("cleanup", settings)
            async with engine.connect() as connection:
                left = set((await connection.scalars(select(Operation.id))).all())
                parts = int(await connection.scalar(
                    select(func.count()).select_from(OperationPart)) or 0)
                old_skew = int(await connection.scalar(
                    select(func.count()).select_from(MaintenanceRun)
                    .where(MaintenanceRun.detail == "an old record")) or 0)
            assert second.detail.startswith("deleted 0 operations (0 parts)")
            return made, left, parts, old_skew

    made, left, parts, old_skew = asyncio.run(go())
    assert left == {made["new_done"], made["old_running"]}
    assert parts == 2
    assert old_skew == 1
    assert referenced_old.exists() and orphan_new.exists() and stranger.exists()
    assert not orphan_old.exists()
    assert not (incoming / "upload-dead").exists() and (incoming / "upload-live").exists()
    detail = _runs(settings, "cleanup")[0].detail
    assert detail.startswith("deleted 2 operations (2 parts) finished over 30.0 days ago, "
                             "1 unreferenced blobs (10 bytes), 1 stale uploads, "
                             "0 old maintenance records;"), detail


def test_cleanup_prunes_expired_preview_cache_entries_in_redis(databases: Any) -> None:
    import redis

    from chunkyard.chunking.cache import REDIS_PREFIX

    settings = workersupport.celery_settings(databases.shared("sqlite"))
    client = redis.Redis.from_url(str(settings.redis_url))
    user = uuid.uuid4()
    index, sizes = f"{REDIS_PREFIX}-index:{user}", f"{REDIS_PREFIX}-sizes:{user}"
    now_ms = int(time.time() * 1000)
    try:
        client.zadd(index, {"gone1": now_ms - 5000, "gone2": now_ms - 1, "live": now_ms + 60000})
        client.hset(sizes, mapping={"gone1": 10, "gone2": 10, "live": 10})
        result = run_task_sync("cleanup", settings)
        assert result.outcome == "succeeded", result.detail
        assert client.zrange(index, 0, -1) == [b"live"]
        assert set(client.hkeys(sizes)) == {b"live"}
        pruned = int(result.detail.split("; ")[1].split()[0])
        assert pruned >= 2  # others' expired members of the shared Redis count too
    finally:
        client.delete(index, sizes)
        client.close()


def test_the_schedule_moment_is_recorded_when_given(settings: Settings) -> None:
    at = datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)
    result = run_task_sync("skew", settings, now=at)
    assert result.started_at == at
    row = _runs(settings, "skew")[-1]
    assert row.started_at == at and row.finished_at is not None
    assert timedelta(0) <= row.finished_at - at < timedelta(seconds=30)


def test_cleanup_vacuums_an_sqlite_database_in_incremental_mode(databases: Any) -> None:
    settings = databases.migrated("sqlite")
    path = Path(settings.resolved_database_url.split("///", 1)[1])
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")  # the mode takes effect with a rebuild
        db.execute("CREATE TABLE scratch (x TEXT)")
        db.executemany("INSERT INTO scratch VALUES (?)", [("x" * 2000,)] * 200)
        db.commit()
        db.execute("DROP TABLE scratch")
        db.commit()
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
    assert free > 50
    result = run_task_sync("cleanup", settings)
    assert result.outcome == "succeeded", result.detail
    assert result.detail.endswith(f"; incremental VACUUM freed {free} pages")
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_skew_over_one_and_a_half_is_recorded_and_logged(
    databases: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from storage_helpers import make_chunks

    from chunkyard.storage.repositories import config_hash_for, replace_document_chunks

    settings = databases.migrated("sqlite")
    config = {"strategy": "recursive", "params": {}}

    async def one_document() -> None:
        async with open_db(settings) as (_, sessions), sessions() as session:
            document = await create_document(session, await create_collection(session))
            await replace_document_chunks(session, document, make_chunks(30),
                                          config_hash_for(config), config=config)
            await session.commit()

    asyncio.run(one_document())
    with caplog.at_level("WARNING", logger="chunkyard.maintenance"):
        result = run_task_sync("skew", settings)
    # 30 rows in one of 100 partitions: the fullest holds 100 times the mean.
    assert result.detail.startswith("skew 100.000: max 30 / mean 0.3 chunk rows per partition")
    assert ", over 1.5 (fullest chunks_p" in result.detail
    warnings = [r for r in caplog.records if r.name == "chunkyard.maintenance"
                and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "skew 100.000 is over 1.5" in warnings[0].getMessage()

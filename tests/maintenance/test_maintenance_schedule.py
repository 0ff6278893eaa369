"""When the tasks are due, and who runs them: the schedule, the embedded scheduler (given
the time, it runs what is due, off the event loop), the Celery beat entries, and a real
`chunkyard worker` running a maintenance task sent to its queue."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.schedules import crontab
from sqlalchemy import select
from storage_helpers import open_db

import dbsupport
import workersupport
from chunkyard.maintenance import tasks
from chunkyard.maintenance.schedule import HOUR, SCHEDULE, TASKS, WEEK, Schedule
from chunkyard.maintenance.scheduler import MaintenanceScheduler
from chunkyard.settings import Settings
from chunkyard.storage.models import MaintenanceRun
from chunkyard.worker.celery_app import create_celery_app
from chunkyard.worker.tasks import MAINTENANCE_TASK_NAME

# A Saturday evening, then the night after it.
SATURDAY = datetime(2026, 1, 3, 22, 30, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def test_the_schedule_says_when_each_task_is_due() -> None:
    assert SATURDAY.weekday() == 5
    analyze, skew, cleanup, reindex = (SCHEDULE[t] for t in TASKS)
    assert analyze.previous(SATURDAY) == at(3, 2) and analyze.next_after(SATURDAY) == at(4, 2)
    assert analyze.previous(at(4, 2)) == at(4, 2)  # a scheduled time is its own previous
    assert skew.previous(SATURDAY) == at(3, 22) and skew.next_after(SATURDAY) == at(3, 23)
    assert cleanup.next_after(SATURDAY) == at(4, 3)  # Sunday 03:00
    assert cleanup.previous(SATURDAY) == at(4, 3) - timedelta(weeks=1)
    assert reindex.next_after(at(4, 4)) == at(11, 4)
    assert (skew.period, reindex.period) == (HOUR, WEEK)
    assert [s.describe() for s in SCHEDULE.values()] == [
        "daily at 02:00 UTC", "hourly at :00", "weekly on Sunday at 03:00 UTC",
        "weekly on Sunday at 04:00 UTC"]
    assert Schedule(minute=30, hour=1, weekday=0).crontab_fields() == {
        "minute": "30", "hour": "1", "day_of_week": "1"}  # Celery counts from Sunday


def test_celery_beat_sends_the_four_tasks_on_their_crontabs(tmp_path: Path) -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", queue="maint-q", data_dir=tmp_path)
    entries = create_celery_app(settings).conf.beat_schedule
    assert set(entries) == {f"maintenance-{t}" for t in TASKS}  # and no backend_cleanup
    expected = {
        "analyze": crontab(minute="0", hour="2"),
        "skew": crontab(minute="0"),
        "cleanup": crontab(minute="0", hour="3", day_of_week="0"),
        "reindex": crontab(minute="0", hour="4", day_of_week="0"),
    }
    for task, cron in expected.items():
        entry = entries[f"maintenance-{task}"]
        assert entry["task"] == MAINTENANCE_TASK_NAME and entry["args"] == [task]
        assert entry["schedule"] == cron
        assert entry["options"]["queue"] == "maint-q"
    sunday = entries["maintenance-cleanup"]["schedule"]  # Celery's Sunday is 0
    assert (sunday.minute, sunday.hour, sunday.day_of_week) == ({0}, {3}, {0})


def test_the_embedded_scheduler_runs_what_is_due_off_the_event_loop(
    databases: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = databases.migrated("sqlite")
    slow = 2.0  # seconds; the loop may not pause for a quarter of it (a loaded machine)

    async def slow_analyze(ctx: tasks.Context) -> str:
        time.sleep(slow)  # blocking, as a long statement would be
        return "analyzed slowly"

    monkeypatch.setitem(tasks.TASK_FUNCTIONS, "analyze", slow_analyze)
    scheduler = MaintenanceScheduler(settings, started_at=at(3, 1, 30))

    async def go() -> None:
        # Before 02:00 nothing is due; it wakes at the top of the hour (skew).
        ran, wake = await scheduler.tick(at(3, 1, 40))
        assert ran == [] and wake == at(3, 2)

        gaps: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        prober = asyncio.create_task(probe())
        started = time.monotonic()
        ran, wake = await scheduler.tick(at(3, 2, 0, 30))
        took = time.monotonic() - started
        done.set()
        await prober
        assert [r.task for r in ran] == ["analyze", "skew"]
        assert [r.outcome for r in ran] == ["succeeded", "succeeded"]
        assert ran[0].started_at == at(3, 2, 0, 30)
        assert wake == at(3, 3)  # the next skew
        # The loop kept turning while analyze blocked its own thread for a second.
        assert took >= slow and max(gaps) < slow / 4, (took, max(gaps))

        # Ran: not due again for that scheduled time, whoever asks.
        ran, _ = await scheduler.tick(at(3, 2, 5))
        assert ran == []
        again = await tasks.run_task("analyze", settings, now=at(3, 2, 6),
                                     due_since=scheduler.started_at)
        assert again.outcome == "not due"
        # A scheduler started after a missed 02:00 (the server was down) runs it at once.
        late = MaintenanceScheduler(settings, started_at=at(4, 9))
        ran, _ = await late.tick(at(4, 9, 0, 10))
        assert [r.task for r in ran] == ["analyze", "skew"]

    asyncio.run(go())

    async def rows() -> list[tuple[str, datetime]]:
        async with open_db(settings) as (engine, _), engine.connect() as connection:
            result = await connection.execute(
                select(MaintenanceRun.task, MaintenanceRun.started_at)
                .order_by(MaintenanceRun.id))
            return [(str(t), s) for t, s in result.all()]

    assert asyncio.run(rows()) == [("analyze", at(3, 2, 0, 30)), ("skew", at(3, 2, 0, 30)),
                                   ("analyze", at(4, 9, 0, 10)), ("skew", at(4, 9, 0, 10))]


def test_a_celery_worker_runs_a_maintenance_task_sent_to_its_queue(
    databases: Any, tmp_path: Path
) -> None:
    settings = workersupport.celery_settings(databases.shared("postgresql"))
    worker = workersupport.Worker(settings, tmp_path, concurrency=1, name="maint").start()
    app = create_celery_app(settings)
    try:
        async def runs() -> list[tuple[str, str]]:
            async with open_db(settings) as (engine, _), engine.connect() as connection:
                result = await connection.execute(
                    select(MaintenanceRun.task, MaintenanceRun.outcome)
                    .where(MaintenanceRun.id > newest).order_by(MaintenanceRun.id))
                return [(str(t), str(o)) for t, o in result.all()]

        newest = max([0, *asyncio.run(_ids(settings))])
        app.send_task(MAINTENANCE_TASK_NAME, args=["skew"], kwargs={"scheduled": False},
                      queue=settings.queue)

        deadline = time.monotonic() + 60
        found: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            found = asyncio.run(runs())
            if found and found[-1][1] != "running":
                break
            time.sleep(0.2)
        assert found == [("skew", "succeeded")], worker.log()[-3000:]
    finally:
        worker.stop()
        workersupport.remove_queue_keys(settings)
        app.close()


async def _ids(settings: Settings) -> list[int]:
    async with open_db(settings) as (engine, _), engine.connect() as connection:
        return [int(i) for i in (await connection.scalars(select(MaintenanceRun.id))).all()]


def test_chunkyard_scheduler_runs_beat_with_the_schedule_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    settings = Settings(redis_url=dbsupport.require_redis(), queue="chunkyard-test-beat",
                        data_dir=tmp_path / "data")
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*workersupport.chunkyard_command(), "scheduler", "--loglevel", "debug"],
            env=workersupport.settings_env(settings), cwd=tmp_path, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "Waking up in" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        text = log.read_text(errors="replace")
        for task in TASKS:
            assert f"maintenance-{task} {MAINTENANCE_TASK_NAME}('{task}')" in text
        assert "backend_cleanup" not in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert list((tmp_path / "data").glob("celerybeat-schedule*"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    # Without a broker there is nothing to send to, and it says so in one line.
    plain = workersupport.settings_env(Settings(data_dir=tmp_path / "data"))
    result = subprocess.run([*workersupport.chunkyard_command(), "scheduler"], env=plain,
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("chunkyard: error: no broker configured")
    assert result.stderr.count("\n") == 1

"""An embedded app schedules maintenance itself, and its /metrics reports every maintenance
task from the start (last success, last duration, last failed, period), read from the record
at scrape time (the same query on both backends: `maintenance status` reads it on PostgreSQL
in test_maintenance_tasks.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from chunkyard.api.app import create_app
from chunkyard.api.metrics import metrics_for
from chunkyard.maintenance import tasks
from chunkyard.maintenance.schedule import SCHEDULE, TASKS
from chunkyard.maintenance.scheduler import MaintenanceScheduler, start_scheduler
from chunkyard.maintenance.tasks import run_task_sync

SERIES = ("chunkyard_maintenance_last_success_timestamp_seconds",
          "chunkyard_maintenance_last_duration_seconds", "chunkyard_maintenance_last_failed",
          "chunkyard_maintenance_period_seconds")


def _scrape(client: TestClient) -> dict[str, dict[str, float]]:
    metrics_for(client.app).database.expire()  # type: ignore[arg-type]
    response = client.get("/metrics")
    assert response.status_code == 200
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in SERIES:
                found.setdefault(sample.name, {})[sample.labels["task"]] = sample.value
    return found


def test_every_task_is_reported_before_and_after_it_runs(
    databases: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = databases.migrated("sqlite")
    with TestClient(create_app(settings)) as client:
        scheduler = client.app.state.maintenance  # type: ignore[attr-defined]
        assert isinstance(scheduler, MaintenanceScheduler) and scheduler.running
        before = time.time()
        fresh = _scrape(client)
        assert set(fresh) == set(SERIES)
        assert all(set(values) == set(TASKS) for values in fresh.values())
        assert fresh["chunkyard_maintenance_period_seconds"] == {
            t: s.period for t, s in SCHEDULE.items()}
        # Nothing ran: nothing failed, no duration, and the clock starts with this process.
        assert set(fresh["chunkyard_maintenance_last_failed"].values()) == {0.0}
        assert set(fresh["chunkyard_maintenance_last_duration_seconds"].values()) == {0.0}
        starts = set(fresh["chunkyard_maintenance_last_success_timestamp_seconds"].values())
        assert len(starts) == 1 and before - 60 < starts.pop() <= time.time()

        skew = run_task_sync("skew", settings)

        async def broken(ctx: tasks.Context) -> str:
            raise RuntimeError("the disk is full")

        monkeypatch.setitem(tasks.TASK_FUNCTIONS, "reindex", broken)
        failed = run_task_sync("reindex", settings)
        assert (skew.outcome, failed.outcome) == ("succeeded", "failed")
        after = _scrape(client)
        success = after["chunkyard_maintenance_last_success_timestamp_seconds"]
        assert success["skew"] == pytest.approx(skew.finished_at.timestamp(), abs=0.01)
        # The others count from the first maintenance run recorded (skew's).
        assert success["analyze"] == success["reindex"] == pytest.approx(
            skew.started_at.timestamp(), abs=0.01)
        assert after["chunkyard_maintenance_last_failed"] == {
            "analyze": 0.0, "skew": 0.0, "cleanup": 0.0, "reindex": 1.0}
        duration = after["chunkyard_maintenance_last_duration_seconds"]
        assert duration["skew"] == pytest.approx(skew.duration, abs=0.01) and duration["skew"] > 0
    assert not scheduler.running  # stopped with the app
    off = settings.model_copy(update={"maintenance_schedule": False})
    assert start_scheduler(off, embedded=True) is None
    assert start_scheduler(settings, embedded=False) is None  # Celery: `chunkyard scheduler`

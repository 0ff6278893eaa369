"""The maintenance series of /metrics, read from `maintenance_runs` at scrape time (by
`api/metrics.py: DatabaseCollector`, with the operation series).

Every task has every series from the start, so an alert can tell "never ran" from "not
scraped":
- `chunkyard_maintenance_last_success_timestamp_seconds{task}`: when its newest success
  finished. Before any success, the start of the oldest maintenance run of any task (the
  hourly `skew` makes one within the hour of a working scheduler), or with none at all the
  time this process first read the record: a new install is not "overdue" at once, and an
  install whose scheduler never runs is overdue two periods after it started;
- `chunkyard_maintenance_last_duration_seconds{task}`: its newest run that ran to an end
  (succeeded or failed; 0 before any), skipped runs left out (they did nothing);
- `chunkyard_maintenance_last_failed{task}`: 1 when that run failed, else 0;
- `chunkyard_maintenance_period_seconds{task}`: its schedule's period, for the overdue alert.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from chunkyard.maintenance.record import MaintenanceState, read_state
from chunkyard.maintenance.schedule import SCHEDULE, TASKS

__all__ = ["MaintenanceSeries", "read_state"]


class MaintenanceSeries:
    """Formats a `MaintenanceState` as metric families; remembers its first read."""

    def __init__(self) -> None:
        self.first_read: float | None = None

    def families(self, state: MaintenanceState) -> Iterator[Metric]:
        if self.first_read is None:
            self.first_read = time.time()
        baseline = state.first_run_at.timestamp() if state.first_run_at else self.first_read
        success = GaugeMetricFamily(
            "chunkyard_maintenance_last_success_timestamp_seconds",
            "When each maintenance task last succeeded (epoch seconds); before its first "
            "success, when maintenance first ran at all (or this process started).",
            labels=["task"],
        )
        duration = GaugeMetricFamily(
            "chunkyard_maintenance_last_duration_seconds",
            "How long each maintenance task's newest run that did its work took (0 before any).",
            labels=["task"],
        )
        failed = GaugeMetricFamily(
            "chunkyard_maintenance_last_failed",
            "1 when each maintenance task's newest run that did its work failed, else 0.",
            labels=["task"],
        )
        period = GaugeMetricFamily(
            "chunkyard_maintenance_period_seconds",
            "Seconds between two scheduled runs of each maintenance task.",
            labels=["task"],
        )
        for task in TASKS:
            item = state.tasks[task]
            last = item.last_success
            done = last.finished_at if last is not None else None
            success.add_metric([task], done.timestamp() if done else baseline)
            ran = item.last_ran
            duration.add_metric([task], (ran.duration or 0.0) if ran else 0.0)
            failed.add_metric([task], 1.0 if ran is not None and ran.outcome == "failed"
                              else 0.0)
            period.add_metric([task], SCHEDULE[task].period)
        yield from (success, duration, failed, period)

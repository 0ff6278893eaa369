"""The Celery application that runs chunking jobs: broker, queue, reliability and time limits.

Built from the settings (`create_celery_app`), never at import time, so importing the package
needs no broker. The choices, and why:

- broker: `CHUNKYARD_BROKER_URL` if set (e.g. RabbitMQ), else `CHUNKYARD_REDIS_URL`; no result
  backend: a job's outcome is its operation's row, which clients read (or hear about);
- one queue, `CHUNKYARD_QUEUE`. On Redis its name also prefixes every broker key, so
  deployments or test runs sharing a Redis never take each other's messages, nor restore
  each other's unacknowledged ones with their own visibility timeout;
- acknowledged late and rejected (requeued) when the worker process is lost, so a job whose
  worker dies is delivered again; the part's lease (see `jobs.py`) makes a second delivery of
  a part that is still running wait rather than run twice;
- one message prefetched per process: a prefetched part would wait behind the running one
  while another process could take it;
- soft and hard time limits per task (`CHUNKYARD_JOB_SOFT_TIME_LIMIT`,
  `CHUNKYARD_JOB_TIME_LIMIT`): planning an operation, or running one of its parts;
- Redis: unacknowledged messages come back after `CHUNKYARD_BROKER_VISIBILITY_TIMEOUT`, checked
  for often enough that a short timeout means a quick redelivery;
- JSON only, for tasks and for what the workers accept;
- each pool process starts the capped job process its documents are chunked in
  (`job_process.py`, which loads the strategies and the default tokenizer) when it starts,
  not in its first job.
"""

from __future__ import annotations

from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]

from chunkyard.settings import Settings, get_settings
from chunkyard.worker.tasks import register_tasks


class BrokerNotConfigured(ValueError):
    """Neither CHUNKYARD_BROKER_URL nor CHUNKYARD_REDIS_URL is set."""


def create_celery_app(settings: Settings | None = None) -> Any:
    """A Celery app for `settings`, with the chunking tasks registered."""
    settings = settings or get_settings()
    broker = settings.celery_broker_url
    if not broker:
        raise BrokerNotConfigured(
            "no broker configured: set CHUNKYARD_REDIS_URL (or CHUNKYARD_BROKER_URL)"
        )
    app = Celery("chunkyard", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.job_soft_time_limit,
        task_time_limit=settings.job_time_limit,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        broker_transport_options=_transport_options(broker, settings),
        broker_connection_retry_on_startup=True,
        # A broker hiccup does not stop running jobs: their messages may come back, and the
        # lease turns the duplicates away (cancelling would throw finished work away instead).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    app.conf.beat_schedule = beat_schedule(settings)
    app.conf.result_expires = None  # no results are kept: beat needs no backend_cleanup
    register_tasks(app, settings)

    def warm_up(**_: Any) -> None:
        # The pool process only stores: its job process loads the strategies and tokenizer.
        from chunkyard.worker.tasks import job_processes

        job_processes(settings).prestart()

    worker_process_init.connect(warm_up, weak=False, dispatch_uid="chunkyard-warm-up")
    return app


def beat_schedule(settings: Settings) -> dict[str, Any]:
    """`chunkyard scheduler`'s entries: each maintenance task on its crontab (UTC), sent to
    the workers' queue (maintenance/schedule.py holds the times)."""
    from celery.schedules import crontab  # type: ignore[import-untyped]

    from chunkyard.maintenance.schedule import SCHEDULE
    from chunkyard.worker.tasks import MAINTENANCE_TASK_NAME

    return {
        f"maintenance-{name}": {
            "task": MAINTENANCE_TASK_NAME,
            "schedule": crontab(**schedule.crontab_fields()),
            "args": [name],
            "options": {"queue": settings.queue, "expires": schedule.period / 2},
        }
        for name, schedule in SCHEDULE.items()
    }


def _transport_options(broker: str, settings: Settings) -> dict[str, Any]:
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return {}
    visibility = settings.broker_visibility_timeout
    return {
        "visibility_timeout": visibility,
        # e.g. `chunkyard:broker:chunkyard` for the queue itself, beside the service's own
        # `chunkyard:preview:...` cache keys.
        "global_keyprefix": f"{settings.queue}:broker:",
        # Look for messages past their visibility timeout every few seconds (kombu's default
        # is every 100 s), so a short timeout gives a quick redelivery; the scan is one cheap
        # sorted-set range under a mutex.
        "unacked_restore_interval": max(1, min(10, int(visibility / 4))),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
    }

"""When each maintenance task is due: the one schedule, in UTC, for both schedulers.

The in-process scheduler of `chunkyard serve` (embedded mode) reads it through
`Schedule.previous`/`next_after`; `chunkyard scheduler` (Celery beat) turns each entry into a
`crontab` (worker/celery_app.py). A schedule is a minute, an hour (None: every hour) and a
weekday (None: every day; 0 is Monday, as `datetime.weekday`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY


@dataclass(frozen=True, slots=True)
class Schedule:
    minute: int
    hour: int | None = None
    weekday: int | None = None

    @property
    def period(self) -> float:
        """Seconds between two scheduled times."""
        if self.hour is None:
            return HOUR
        return DAY if self.weekday is None else WEEK

    def previous(self, now: datetime) -> datetime:
        """The latest scheduled time at or before `now` (aware, UTC)."""
        now = now.astimezone(UTC).replace(second=0, microsecond=0)
        at = now.replace(minute=self.minute)
        if self.hour is not None:
            at = at.replace(hour=self.hour)
        if self.weekday is not None:
            at -= timedelta(days=(at.weekday() - self.weekday) % 7)
        if at > now:
            at -= timedelta(seconds=self.period)
        return at

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time after `moment`."""
        return self.previous(moment) + timedelta(seconds=self.period)

    def describe(self) -> str:
        time = f"{self.hour:02d}:{self.minute:02d}" if self.hour is not None else None
        if time is None:
            return f"hourly at :{self.minute:02d}"
        if self.weekday is None:
            return f"daily at {time} UTC"
        day = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
               "Sunday")[self.weekday]
        return f"weekly on {day} at {time} UTC"

    def crontab_fields(self) -> dict[str, str]:
        """The fields of Celery's `crontab` (its day_of_week counts from Sunday = 0)."""
        return {
            "minute": str(self.minute),
            "hour": "*" if self.hour is None else str(self.hour),
            "day_of_week": "*" if self.weekday is None else str((self.weekday + 1) % 7),
        }


# The tasks, in the order `maintenance status` lists them. Weekly work is on Sunday night,
# one hour apart, after the daily ANALYZE.
SCHEDULE: dict[str, Schedule] = {
    "analyze": Schedule(minute=0, hour=2),
    "skew": Schedule(minute=0),
    "cleanup": Schedule(minute=0, hour=3, weekday=6),
    "reindex": Schedule(minute=0, hour=4, weekday=6),
}
TASKS: tuple[str, ...] = tuple(SCHEDULE)

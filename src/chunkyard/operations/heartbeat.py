"""Worker heartbeats in Redis: every `chunkyard worker` records when it last beat, and
`GET /metrics` reads how long ago each one did.

One sorted set per queue (`<queue>:workers:heartbeat`) holds a member per worker (its Celery
host name, `chunkyard-<pid>@<host>`) scored with the Redis server's clock at its last beat, so
no host's own clock matters. A worker beats every `INTERVAL` seconds from a thread of its main
process (the process that would stop beating if the worker died or hung), and takes its member
out when it stops cleanly. A member that has not beaten for `RETENTION` seconds is pruned, so
the set stays as small as the workers of the last hour, and the key expires with the last of
them. Without Redis (a non-Redis broker and no `CHUNKYARD_REDIS_URL`) nothing is recorded.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger("chunkyard.worker")

INTERVAL = 10.0
# A dead worker's last beat stays readable (and alertable) this long after it stopped beating.
RETENTION = 3600.0
# Read no more members than this, newest first: the label set of the metric stays bounded.
MAX_WORKERS = 500


def heartbeat_key(queue: str) -> str:
    """The sorted set of the workers of `queue` (under the queue's prefix, like its broker keys)."""
    return f"{queue}:workers:heartbeat"


def _seconds(redis_time: Any) -> float:
    seconds, microseconds = redis_time
    return float(seconds) + float(microseconds) / 1e6


class WorkerHeartbeat:
    """Beats for one worker (`name`) into the set of `queue`, on a daemon thread."""

    def __init__(self, redis_url: str, queue: str, name: str,
                 interval: float = INTERVAL) -> None:
        from redis import Redis

        self.client = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        self.key = heartbeat_key(queue)
        self.name = name
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Record one beat now (on the Redis clock), and prune the workers long silent."""
        now = _seconds(self.client.time())
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.key, {self.name: now})
        pipe.zremrangebyscore(self.key, "-inf", now - RETENTION)
        pipe.expire(self.key, int(RETENTION))
        pipe.execute()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.beat()
            except Exception as exc:  # Redis away: the silence is what the alert is for
                logger.warning("worker heartbeat: could not record a beat: %r", exc)
            self._stopping.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chunkyard-heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and take this worker out of the set: a clean stop is no outage."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None
        try:
            self.client.zrem(self.key, self.name)
        except Exception as exc:  # it is pruned after RETENTION, and alerted on until then
            logger.warning("worker heartbeat: could not remove %s: %r", self.name, exc)
        finally:
            self.client.close()


async def read_heartbeats(redis: Any, queue: str) -> dict[str, float]:
    """Seconds since each worker of `queue` beat (on the Redis clock): those that beat within
    `RETENTION`, newest first, at most `MAX_WORKERS` (`redis` is an asyncio client)."""
    now = _seconds(await redis.time())
    members = await redis.zrevrangebyscore(
        heartbeat_key(queue), "+inf", now - RETENTION, start=0, num=MAX_WORKERS,
        withscores=True,
    )
    ages: dict[str, float] = {}
    for member, score in members:
        name = member.decode("utf-8", "replace") if isinstance(member, bytes) else str(member)
        ages[name] = max(0.0, now - float(score))
    return ages

"""The job queue an operation is handed to once its row is committed: what the operations
domain needs of a runner, whichever execution mode implements it (`worker.runner`: the
embedded runner, or Celery)."""

from __future__ import annotations

import uuid
from typing import Protocol


class JobRunner(Protocol):
    async def start(self, operation_id: uuid.UUID) -> None:
        """Run (or send) the operation's job; its row must be committed already."""

    async def resume(self) -> None:
        """Pick up operations that a stopped or crashed process left behind."""

    async def shutdown(self) -> None: ...

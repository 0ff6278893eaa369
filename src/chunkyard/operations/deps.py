"""Typed dependencies of the operations routes: the job queue and the progress bus."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from chunkyard.kit.deps import app_service
from chunkyard.operations.events import ProgressBus
from chunkyard.operations.queue import JobRunner

JobQueueDep = Annotated[JobRunner, Depends(app_service("job_queue"))]
ProgressBusDep = Annotated[ProgressBus, Depends(app_service("progress_bus"))]

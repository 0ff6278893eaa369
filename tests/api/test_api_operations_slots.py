"""The embedded runner runs a bounded number of operations at once (two per job process); the
others wait, pending, holding nothing. Found under load: 100 users' operations all running
at once each held a database connection while waiting for a job process, took the whole
pool, and requests waited its 30 s and failed with 503."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_helpers import API, Api, create_collection, in_db, user_headers
from operation_helpers import FINISHED, start, text_file, upload
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.chunking.pool import cpu_count
from chunkyard.storage.models import Operation, OperationStatus
from chunkyard.worker.runner import RUNNING_PER_PROCESS


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_at_most_two_operations_per_job_process_run_at_once_and_all_complete(api: Api) -> None:
    slots = RUNNING_PER_PROCESS * cpu_count()
    started: list[tuple[dict[str, str], str]] = []
    for user in range(3):  # three users, three operations each (the per-user bound)
        headers = user_headers(api)
        for n in range(3):
            collection = create_collection(api, headers, config={
                "strategy": "recursive", "params": {"chunk_size": 64}})
            upload(api, headers, collection["id"],
                   [(f"u{user}-{n}.md", text_file(f"u{user}n{n}", paragraphs=3000))])
            started.append((headers, start(api, headers, collection["id"])["id"]))
    ids = {operation for _, operation in started}

    async def running(session: AsyncSession) -> int:
        return int(await session.scalar(
            select(func.count()).select_from(Operation)
            .where(Operation.status == OperationStatus.RUNNING)) or 0)

    most, deadline = 0, time.monotonic() + 120
    while True:
        most = max(most, in_db(api.settings, running))
        finals: list[Any] = [api.client.get(f"{API}/operations/{op}", headers=h).json()["status"]
                             for h, op in started]
        if all(status in FINISHED for status in finals):
            break
        assert time.monotonic() < deadline, finals
        time.sleep(0.02)
    assert finals == ["completed"] * len(ids)
    assert 1 <= most <= slots, (most, slots)

"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its backends answer)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from chunkyard.kit.deps import app_service
from chunkyard.kit.errors import error_response

CHECK_TIMEOUT = 3.0

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check_redis(client: Any) -> None:
    await client.ping()


@router.get("/readyz", response_model=None)
async def readyz(
    request: Request, redis: Annotated[Any, Depends(app_service("redis"))]
) -> dict[str, Any] | JSONResponse:
    checks: dict[str, Any] = {"database": _check_database(request.app.state.engine)}
    if redis is not None:
        checks["redis"] = _check_redis(redis)
    results: dict[str, str] = {}
    failures: list[str] = []
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT)
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"
            results[name] = "unavailable"
            failures.append(f"{name} unreachable ({type(exc).__name__})")
    if failures:
        return error_response(503, "not_ready", "; ".join(failures))
    return {"status": "ok", "checks": results}

"""`GET /api/v1/limits`: the caller's limits and current use."""

from __future__ import annotations

import uuid
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.kit.deps import SessionFactoryDep, SettingsDep, app_service, transaction
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.limits.deps import RateLimiterDep
from chunkyard.limits.quota import active_operations, stored_bytes
from chunkyard.limits.rate import PREVIEW_WINDOW_SECONDS
from chunkyard.limits.schemas import LimitsOut, Usage

router = APIRouter(tags=["limits"], responses=ERROR_RESPONSES)


class HeldBytes(Protocol):
    """What this route needs of the preview cache (`chunking.cache.PreviewCache`)."""

    async def held_bytes(self, user: uuid.UUID) -> int: ...


PreviewCacheUsageDep = Annotated[HeldBytes, Depends(app_service("preview_cache"))]


@router.get("/limits", response_model=LimitsOut)
async def limits(
    user: CurrentUser,
    settings: SettingsDep,
    factory: SessionFactoryDep,
    rate: RateLimiterDep,
    cache: PreviewCacheUsageDep,
) -> LimitsOut:
    """Your limits and how much of each you use now."""
    async with transaction(factory, write=False) as session:
        operations = await active_operations(session, user.id)
        stored = await stored_bytes(session, user.id)
    return LimitsOut(
        active_operations=Usage(limit=settings.max_active_operations_per_user,
                                used=operations),
        storage_bytes=Usage(limit=settings.max_storage_bytes_per_user, used=stored),
        previews_per_minute=Usage(
            limit=settings.max_previews_per_minute,
            used=await rate.used("preview", user.id, PREVIEW_WINDOW_SECONDS),
        ),
        preview_cache_bytes=Usage(limit=settings.max_preview_cache_bytes_per_user,
                                  used=await cache.held_bytes(user.id)),
        max_file_bytes=settings.max_upload_bytes,
        max_request_bytes=settings.request_body_limit,
        max_extracted_chars=settings.max_extracted_chars,
        operation_memory_mb=settings.operation_memory_mb,
    )

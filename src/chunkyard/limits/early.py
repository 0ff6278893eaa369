"""Refuse an upload that is over the storage quota by its declared length alone, before its
body is read: FastAPI reads (and spools) a multipart body before any dependency runs, so
this check wraps the route's handler instead (`QuotaCheckedRoute`).

The check is only a fast path, for the big uploads it is there for: the declared length less
the framing a multipart body is allowed (`MULTIPART_FRAMING_BYTES`, the same allowance the
request-body cap makes) is taken as the files' bytes, so an upload close to the quota is
left to the exact check, made on the spooled sizes inside the storing transaction
(`quota.reserve_storage`). An unauthenticated request, or one without a length, goes on to
the route unchanged (its 401, or the exact check, answers it).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from chunkyard.auth.dependencies import bearer_scheme, cookie_scheme, current_user
from chunkyard.kit.deps import get_session_factory, get_settings_dep, transaction
from chunkyard.kit.errors import ServiceError
from chunkyard.limits.errors import limit_reached
from chunkyard.limits.quota import STORAGE_RETRY_AFTER, stored_bytes
from chunkyard.settings import MULTIPART_FRAMING_BYTES


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def refuse_if_over_quota(request: Request) -> None:
    declared = _declared_length(request)
    if declared is None:
        return
    try:
        user = await current_user(request, await bearer_scheme(request),
                                  await cookie_scheme(request))
    except ServiceError:
        return  # the route answers it (401)
    settings = get_settings_dep(request)
    limit = settings.max_storage_bytes_per_user
    async with transaction(get_session_factory(request), write=False) as session:
        used = await stored_bytes(session, user.id)
    at_least = declared - MULTIPART_FRAMING_BYTES
    if used + at_least > limit:
        raise limit_reached(
            f"files: this upload ({declared} bytes long) would bring your stored documents "
            f"past your quota of {limit} bytes ({used} used); delete documents to make room",
            code="storage_quota_exceeded", retry_after=STORAGE_RETRY_AFTER,
        )


class QuotaCheckedRoute(APIRoute):
    """A route whose requests are checked against the storage quota before the body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            await refuse_if_over_quota(request)
            return await handler(request)

        return checked

"""Domain errors that carry their HTTP status, and the one renderer of SPEC's error body.

Every error the service answers with is `{"error": "<machine code>", "detail": "<sentence>"}`:
domain errors (`ServiceError` subclasses), FastAPI's request validation errors, the core's
`ChunkingError`, the storage layer's bad page requests, Starlette's 404/405/413, and (as a
last resort, from the request-id middleware) unexpected exceptions as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from chunkyard.core.types import ChunkingError
from chunkyard.kit.transient import is_overloaded, is_transient

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

# The web framework and the storage layer are imported where errors are rendered, not here:
# the job processes raise these errors and load neither (a second less to start each).

logger = logging.getLogger("chunkyard.api")
# Seconds a client is told to wait when the database or cache cannot be reached (503).
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# ... and when it is only too busy (the pool's timeout, SQLite's lock wait: a 429).
OVERLOADED_RETRY_AFTER_SECONDS = 2


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    detail: str


class ServiceError(Exception):
    """A domain error: `status` and `code` say how the API answers it."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, detail: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.error_code = code
        else:
            self.error_code = type(self).code
        self.headers = dict(headers or {})


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"

    def __init__(self, detail: str = "authentication required", *, code: str | None = None):
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class Invalid(ServiceError):
    """A well-formed request whose content is wrong (422)."""

    status = 422
    code = "invalid"


class TooManyRequests(ServiceError):
    status = 429
    code = "too_many_requests"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


# Starlette HTTPException statuses -> machine codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        {"error": code, "detail": detail}, status_code=status, headers=dict(headers or {})
    )


def describe_validation_errors(errors: Sequence[Any]) -> tuple[int, str, str]:
    """(status, code, sentence) for FastAPI's validation errors; the sentence names each field."""
    if any(isinstance(e, Mapping) and e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        ctx = first.get("ctx") or {}
        reason = ctx.get("error") if isinstance(ctx, Mapping) else None
        detail = f"the request body is not valid JSON ({reason or 'parse error'})"
        return 400, "invalid_json", detail
    parts = []
    for err in errors:
        if not isinstance(err, Mapping):
            parts.append(str(err))
            continue
        loc = [str(p) for p in err.get("loc", ())]
        # "body", "query", "path" say where; the rest is the field.
        where = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "missing" and loc == ["body"]:
            parts.append("a JSON request body is required")
            continue
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{where}: {msg}" if where else msg)
    return 422, "validation_error", "; ".join(parts) or "the request is not valid"


def render_error(request: Request | None, exc: BaseException) -> JSONResponse:
    """THE renderer: any exception -> SPEC's error body with a fitting status."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from chunkyard.storage.repositories import InvalidPageRequest

    if isinstance(exc, StarletteHTTPException) and isinstance(exc.__cause__, ServiceError):
        # FastAPI wraps errors raised while reading the body (e.g. too large) in a 400.
        exc = exc.__cause__
    if isinstance(exc, ServiceError):
        return error_response(exc.status, exc.error_code, exc.detail, exc.headers)
    if isinstance(exc, RequestValidationError):
        status, code, detail = describe_validation_errors(exc.errors())
        return error_response(status, code, detail)
    if isinstance(exc, ChunkingError):
        return error_response(422, "invalid_config", str(exc))
    if isinstance(exc, InvalidPageRequest):  # a bad limit, or a cursor no listing issued
        return error_response(400, exc.code, str(exc))
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        code = _HTTP_CODES.get(status, "error" if status < 500 else "server_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if status == 404 and detail == "Not Found":
            path = request.url.path if request is not None else "this path"
            detail = f"there is nothing at {path}"
        elif status == 405:
            method = request.method if request is not None else "this method"
            detail = f"{method} is not allowed here"
        return error_response(status, code, detail, exc.headers)
    if is_overloaded(exc):
        # Every database connection busy, or SQLite's writers queued past the busy timeout:
        # the service is past what it can take right now, as admission control's 429 says.
        logger.warning("overloaded: %s: %s", type(exc).__name__, exc)
        return error_response(
            429, "overloaded",
            "the server is busier than it can serve right now; try again in "
            f"{OVERLOADED_RETRY_AFTER_SECONDS} s",
            {"Retry-After": str(OVERLOADED_RETRY_AFTER_SECONDS)},
        )
    if is_transient(exc):
        # The database or Redis down or unreachable, a connection broken, the pool exhausted:
        # the request may well pass again in a moment, and it is not a bug (no traceback).
        logger.warning("service unavailable: %s: %s", type(exc).__name__, exc)
        return error_response(
            503, "unavailable",
            "the service cannot reach its database or cache right now; try again shortly",
            {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred; it was logged")


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return render_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from chunkyard.storage.repositories import InvalidPageRequest

    for exc_type in (
        ServiceError,
        RequestValidationError,
        ChunkingError,
        InvalidPageRequest,
        StarletteHTTPException,
    ):
        app.add_exception_handler(exc_type, _handle)


# Documented on every route of the API (OpenAPI), so generated clients know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (404, "Not found (or another user's)"),
        (422, "Invalid input; `detail` names the field"),
    )
}

"""The one refusal of every limit: 429, `Retry-After` (whole seconds, at least 1), SPEC's body."""

from __future__ import annotations

import math

from chunkyard.kit.errors import TooManyRequests


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def limit_reached(detail: str, *, code: str, retry_after: float) -> TooManyRequests:
    """The 429 to raise when a limit is reached; `retry_after` in seconds."""
    return TooManyRequests(detail, code=code, headers=retry_after_header(retry_after))

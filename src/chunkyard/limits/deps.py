"""Typed dependencies of the limits: the app's rate limiter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from chunkyard.kit.deps import app_service
from chunkyard.limits.rate import RateLimiter

RateLimiterDep = Annotated[RateLimiter, Depends(app_service("rate_limiter"))]

"""Typed dependencies of the chunking routes: the app's chunking processes and preview cache."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from chunkyard.chunking.cache import PreviewCache
from chunkyard.chunking.pool import ChunkingPool
from chunkyard.kit.deps import app_service

ChunkingPoolDep = Annotated[ChunkingPool, Depends(app_service("chunking_pool"))]
PreviewCacheDep = Annotated[PreviewCache, Depends(app_service("preview_cache"))]

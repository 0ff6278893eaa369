"""What `GET /api/v1/limits` answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Usage(BaseModel):
    """A limit and how much of it the caller uses now."""

    limit: int = Field(description="The most the caller may have (or do)")
    used: int = Field(description="How much the caller has (or did) now")


class LimitsOut(BaseModel):
    """The caller's limits and current use; going past one is a 429 with `Retry-After`."""

    active_operations: Usage = Field(
        description="Operations pending or running at once "
        "(CHUNKYARD_MAX_ACTIVE_OPERATIONS_PER_USER)"
    )
    storage_bytes: Usage = Field(
        description="Bytes of uploaded documents kept (CHUNKYARD_MAX_STORAGE_BYTES_PER_USER)"
    )
    previews_per_minute: Usage = Field(
        description="Previews and compares in the last 60 seconds "
        "(CHUNKYARD_MAX_PREVIEWS_PER_MINUTE)"
    )
    preview_cache_bytes: Usage = Field(
        description="Bytes of cached preview results, the oldest dropped past the limit "
        "(CHUNKYARD_MAX_PREVIEW_CACHE_BYTES_PER_USER)"
    )
    max_file_bytes: int = Field(description="The largest file an upload takes (413 above)")
    max_request_bytes: int = Field(description="The largest request body (413 above)")
    max_extracted_chars: int = Field(
        description="The longest text one document may extract to; a document over it fails "
        "alone (CHUNKYARD_MAX_EXTRACTED_CHARS)")
    operation_memory_mb: int = Field(
        description="The memory (address space, MB) of each process that extracts and chunks "
        "a document, a preview or a compare; one that needs more fails alone "
        "(CHUNKYARD_OPERATION_MEMORY_MB, 0: no cap)")

"""Bodies of the chunk routes."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StoredChunkOut(BaseModel):
    """A stored chunk: SPEC's chunk fields plus its `id` and `document_id`."""

    # Built straight from the ORM row; the aliases are the row's column attributes.
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(
        validation_alias="stable_id",
        description="The chunk's stable id: 32 hex digits derived from its document, its "
        "configuration, its text and the number of chunks with the same text before it in the "
        "document (never its position), so re-chunking keeps the ids of unchanged chunks.",
    )
    document_id: uuid.UUID
    index: int = Field(validation_alias="chunk_index")
    text: str
    start: int = Field(validation_alias="start_offset")
    end: int = Field(validation_alias="end_offset")
    tokens: int
    metadata: dict[str, Any] = Field(validation_alias="meta")


class ChunkPage(BaseModel):
    items: list[StoredChunkOut]
    next_cursor: str | None

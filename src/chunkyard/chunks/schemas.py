"""Bodies of the chunk routes."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StoredChunkOut(BaseModel):
    """A stored chunk: SPEC's chunk fields plus its `id` and `document_id`."""

    # Built straight from the ORM row; the aliases are the row's column attributes.
    model_config = ConfigDict(from_attributes=True)

    id: int
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

"""Bodies of the collection routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chunkyard.chunking.schemas import ChunkConfig
from chunkyard.kit.names import unsafe_character


def _clean_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    bad = unsafe_character(value)
    if bad is not None:
        raise ValueError(f"must not contain control, separator or bidi characters ({bad})")
    return value


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=255)
    config: ChunkConfig = Field(default_factory=ChunkConfig)

    @field_validator("name")
    @classmethod
    def clean_name(cls, value: str) -> str:
        return _clean_name(value)


class CollectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=255)
    config: ChunkConfig | None = None

    @field_validator("name")
    @classmethod
    def clean_name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_name(value)


class LastOperation(BaseModel):
    """The newest operation of a collection, in brief (GET /operations/{id} has the rest)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    documents_done: int
    documents_total: int
    finished_at: datetime | None


class CollectionOut(BaseModel):
    id: uuid.UUID
    name: str
    config: ChunkConfig
    document_count: int
    chunk_count: int
    stale_documents: int = Field(
        description="Documents whose stored chunks are stale (see a document's `stale`): "
        "their content changed since they were chunked, or they were chunked with another "
        "configuration than `config`."
    )
    other_config_documents: int = Field(
        description="Documents whose stored chunks were made with another configuration "
        "than `config` (a part of `stale_documents`): more than 0 means the collection's "
        "chunks mix configurations."
    )
    created_at: datetime
    last_operation: LastOperation | None = Field(
        description="The collection's newest operation (the last one started), or null when "
        "none has been started."
    )


class CollectionPage(BaseModel):
    items: list[CollectionOut]
    next_cursor: str | None

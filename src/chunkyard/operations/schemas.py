"""Bodies of the operation routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chunkyard.chunking.schemas import ChunkConfig

MAX_DOCUMENT_IDS = 10_000


class OperationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: ChunkConfig | None = Field(
        None, description="The configuration to chunk with; absent: the collection's."
    )
    document_ids: list[uuid.UUID] | None = Field(
        None, min_length=1, max_length=MAX_DOCUMENT_IDS,
        description="The documents to chunk; absent: every document of the collection.",
    )


class OperationOut(BaseModel):
    # Built straight from the ORM row: one list of fields, not a copy per field.
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str = Field(description="`chunking`, or `evaluation` (see `/evaluations/{id}`).")
    status: str
    documents_total: int
    documents_done: int
    documents_failed: int
    chunks_created: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class OperationPage(BaseModel):
    items: list[OperationOut]
    next_cursor: str | None

"""Bodies of the document routes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


class DocumentOut(BaseModel):
    # Built straight from the ORM row: one list of fields, not a copy per field.
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    collection_id: uuid.UUID
    filename: str
    status: str
    size_bytes: int
    content_sha256: str
    chunk_count: int
    error: str | None


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None


class UploadResponse(BaseModel):
    items: list[DocumentOut]

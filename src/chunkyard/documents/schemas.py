"""Bodies of the document routes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class DocumentOut(BaseModel):
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

"""Bodies of the document routes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field


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


class DocumentText(BaseModel):
    """A stored document's extracted text: what its chunks' offsets index."""

    document_id: uuid.UUID
    filename: str
    kind: str = Field(
        description='What the extractor read it as: "text", "markdown", "code", "html", "pdf" '
        'or "docx".'
    )
    text: str = Field(
        description="The text exactly as a chunking operation extracts it: for every stored "
        "chunk of the document, `text[chunk.start:chunk.end] == chunk.text`."
    )
    size_chars: int = Field(description="The text's length in characters.")

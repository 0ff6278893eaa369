"""Bodies of the document routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChunkedWith(BaseModel):
    """The configuration a document's stored chunks were made with."""

    strategy: str
    params: dict[str, Any]


class DocumentOut(BaseModel):
    # Built straight from the ORM row: one list of fields, not a copy per field.
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: uuid.UUID
    collection_id: uuid.UUID
    filename: str
    status: str
    size_bytes: int
    content_sha256: str
    chunk_count: int
    characters: int | None = Field(
        None, validation_alias="text_chars",
        description="Its extracted text's length in characters, as measured when it was last "
        "chunked (null before).")
    pages: int | None = Field(
        None, description="Its pages (PDF), as counted when it was last chunked; null for a "
        "kind without pages, or before.")
    tokens: int | None = Field(
        None, validation_alias="chunk_tokens",
        description="The tokens of its stored chunks by their configuration's tokenizer "
        "(with overlap, counted in each chunk), as measured when it was last chunked (null "
        "before).")
    error: str | None
    chunked_with: ChunkedWith | None = Field(
        None,
        description="The configuration its stored chunks were made with (`{strategy, "
        "params}`), or null when it has no stored chunks yet.",
    )
    chunked_at: datetime | None = Field(
        None, description="When its stored chunks were made, or null."
    )
    stale: bool = Field(
        False,
        description="True when its stored chunks no longer match: its content changed since "
        "they were made, or they were made with another configuration than the collection's "
        "current one (a run with a custom configuration, or a change of the collection's "
        "configuration since). False for a document without stored chunks. Stale chunks stay "
        "as they are until an operation re-chunks the document.",
    )


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
        description="The text exactly as a chunking operation extracts it (or the window of "
        "it asked for): for every stored chunk of the document, "
        "`whole[chunk.start:chunk.end] == chunk.text`."
    )
    size_chars: int = Field(description="The whole text's length in characters.")
    start: int = Field(
        description="Where `text` starts in the whole text (0 unless a window was asked for)."
    )
    end: int = Field(
        description="Where `text` ends in the whole text (`size_chars` unless a window was "
        "asked for): `text` is `whole[start:end]`."
    )

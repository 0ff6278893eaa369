"""Bodies of the chunking routes (strategies, preview, recommend, compare), and the chunking
configuration a collection or an operation carries."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_CHUNKS_RETURNED = 10_000

_TEXT = "The text to chunk; give either `text` or `document_id`."
_DOCUMENT_ID = (
    "A stored document (yours) to chunk instead of a text: its file is extracted and chunked "
    "exactly as a chunking operation would."
)
_FILENAME = (
    "Optional file name for a `text`: its extension tells markdown and code from prose "
    "(a document's own name is used for a `document_id`)."
)


class _TextOrDocument(BaseModel):
    """Exactly one of `text` and `document_id`; `filename` goes with a text only."""

    text: str | None = Field(None, description=_TEXT)
    document_id: uuid.UUID | None = Field(None, description=_DOCUMENT_ID)
    filename: str | None = Field(None, max_length=1024, description=_FILENAME)

    @model_validator(mode="after")
    def one_source(self) -> _TextOrDocument:
        if self.text is None and self.document_id is None:
            raise ValueError("text or document_id is required (exactly one of the two)")
        if self.text is not None and self.document_id is not None:
            raise ValueError("give text or document_id, not both")
        if self.document_id is not None and self.filename is not None:
            raise ValueError("filename goes with text only; a document's own name is used")
        return self


class ChunkConfig(BaseModel):
    """A chunking configuration: a strategy name and its parameters."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("recursive", min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class ChoiceOut(BaseModel):
    """One value a parameter can take on this installation, and whether it can run here."""

    value: str
    description: str
    available: bool
    unavailable_reason: str | None = None
    # Which packages are missing and how to install them: for administrators only.
    unavailable_detail: str | None = None


class StrategyOut(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]
    # Whether the strategy runs here with its default parameters, and if not why (a sentence).
    available: bool = True
    unavailable_reason: str | None = None
    unavailable_detail: str | None = None
    # The tokenizers (and for `semantic` the embedding models) this installation has.
    options: dict[str, list[ChoiceOut]] = Field(default_factory=dict)


class ChunkOut(BaseModel):
    index: int
    text: str
    start: int
    end: int
    tokens: int
    metadata: dict[str, Any]


class Metrics(BaseModel):
    chunk_count: int
    tokens_mean: float
    tokens_min: int
    tokens_max: int
    tokens_p95: int
    small_share: float
    mid_sentence_share: float
    time_ms: float


class PreviewRequest(_TextOrDocument):
    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("recursive", min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    max_chunks: int | None = Field(
        None, ge=0, le=MAX_CHUNKS_RETURNED,
        description="Return at most this many chunks (all are still counted and measured).",
    )
    first_chunk: int = Field(
        0, ge=0, le=2**31 - 1,
        description="Return chunks from this index on: with `max_chunks`, a window of the "
        "chunks (the next one starts at the answer's `next_chunk`).",
    )


class PreviewResponse(BaseModel):
    chunks: list[ChunkOut] = Field(
        description="The chunks from `first_chunk`, at most `max_chunks` of them; for a stored "
        "document of more than 2,000,000 characters, also no more than 2,000,000 characters "
        "of chunk text (ask for the rest from `next_chunk`)."
    )
    total_chunks: int
    next_chunk: int | None = Field(
        None, description="The index of the first chunk after `chunks` (the `first_chunk` of "
        "the next window), or null when `chunks` reach the last one."
    )
    metrics: Metrics
    cached: bool


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=1024)
    text: str | None = None
    embedding_model: str | None = Field(
        None, min_length=1, max_length=200,
        description="The model the chunks will be embedded with (e.g. all-MiniLM-L6-v2, "
        "text-embedding-3-small): chunk_size stays within what it reads. Unset: "
        "all-MiniLM-L6-v2.",
    )
    embedding_max_tokens: int | None = Field(
        None, ge=16, le=1_000_000,
        description="The embedding model's input limit in its own tokens, for a model not "
        "known by name; caps chunk_size.",
    )


class RecommendResponse(BaseModel):
    strategy: str
    params: dict[str, Any]
    reason: str


class CompareRequest(_TextOrDocument):
    model_config = ConfigDict(extra="forbid")

    configs: list[ChunkConfig] = Field(min_length=2, max_length=6)
    max_chunks: int | None = Field(20, ge=0, le=MAX_CHUNKS_RETURNED)


class CompareResult(BaseModel):
    """One configuration's outcome: its metrics and chunks, or (when it failed while chunking,
    e.g. an embedding endpoint that cannot be reached) null metrics and chunks and `error`."""

    strategy: str
    params: dict[str, Any]
    metrics: Metrics | None = Field(
        description="Null when this configuration failed (see `error`)."
    )
    chunks: list[ChunkOut] | None = Field(
        description="Null when this configuration failed (see `error`)."
    )
    error: str | None = Field(
        description="Why this configuration failed while chunking (one line), or null. The "
        "other configurations are compared as usual and the recommendation is one of them; "
        "when every configuration fails, the compare is an error response instead.",
    )


class Recommendation(BaseModel):
    """The configuration that looks best, among those that did not fail; `index` is its place
    in `results`."""

    index: int
    strategy: str
    params: dict[str, Any]
    score: float
    reason: str


class CompareResponse(BaseModel):
    results: list[CompareResult]
    recommendation: Recommendation

"""Parameters every strategy shares, validated with pydantic so bad values name their field."""

from __future__ import annotations

from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chunkyard.core.sizing import validate_tokenizer_name
from chunkyard.core.types import ChunkingError


class BaseParams(BaseModel):
    """Common parameters; each strategy subclasses this with its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_size: int = Field(
        512, ge=16, le=8192, description="Hard cap on tokens per chunk, under `tokenizer`."
    )
    chunk_overlap: int = Field(
        0, ge=0, le=4096,
        description="Tokens shared by consecutive chunks, at most half of chunk_size.",
    )
    tokenizer: str = Field(
        "cl100k",
        description="How tokens are counted: cl100k (OpenAI), words, chars, or hf:PATH "
        "to a Hugging Face tokenizer.json.",
        json_schema_extra={"examples": ["cl100k", "words", "chars"]},
    )

    @field_validator("tokenizer")
    @classmethod
    def _known_tokenizer(cls, value: str) -> str:
        try:
            return validate_tokenizer_name(value)
        except ChunkingError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _overlap_at_most_half(self) -> Self:
        if self.chunk_overlap > self.chunk_size // 2:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be at most half of chunk_size "
                f"({self.chunk_size})"
            )
        return self


P = TypeVar("P", bound="BaseParams")


def parse_params(model: type[P], values: dict[str, Any] | None) -> P:
    """Validate `values` into `model`, turning pydantic's report into one clear sentence."""
    try:
        return model.model_validate(values or {})
    except ValidationError as exc:
        raise ChunkingError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "params"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown parameter"
        parts.append(f"{field}: {msg}")
    return "invalid parameters: " + "; ".join(parts)

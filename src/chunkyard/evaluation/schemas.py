"""Bodies of the evaluation routes: questions and their references."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Bounds that keep one question, and one collection's set, a size a person writes.
MAX_QUESTION_CHARS = 2000
MAX_REFERENCES = 50


def _clean_question(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class Reference(BaseModel):
    """An excerpt that answers a question: characters `start` to `end` (code points, end
    excluded) of a document's extracted text, as `GET /documents/{id}/text` returns it."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    document_id: uuid.UUID
    start: int = Field(ge=0)
    end: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Reference:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be more than start ({self.start})")
        return self


class QuestionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=MAX_QUESTION_CHARS)
    references: list[Reference] = Field(min_length=1, max_length=MAX_REFERENCES)

    @field_validator("question")
    @classmethod
    def clean_question(cls, value: str) -> str:
        return _clean_question(value)


class QuestionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(None, max_length=MAX_QUESTION_CHARS)
    references: list[Reference] | None = Field(None, min_length=1, max_length=MAX_REFERENCES)

    @field_validator("question")
    @classmethod
    def clean_question(cls, value: str | None) -> str | None:
        return None if value is None else _clean_question(value)


class QuestionOut(BaseModel):
    id: uuid.UUID
    collection_id: uuid.UUID
    question: str
    references: list[Reference] = Field(
        description="The excerpts that answer it. A reference into a document that was "
        "deleted goes with the document."
    )
    created_at: datetime
    updated_at: datetime


class QuestionPage(BaseModel):
    items: list[QuestionOut]
    next_cursor: str | None


class QuestionImport(BaseModel):
    imported: int = Field(description="Questions added (an import adds all of its rows or none).")
    questions: int = Field(description="The collection's questions after the import.")

"""Bodies of the evaluation routes: questions and their references."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chunkyard.chunking.schemas import ChunkConfig

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


# -- evaluations --------------------------------------------------------------------------

MAX_CONFIGS = 6
MAX_K = 20


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    configs: list[ChunkConfig] = Field(
        min_length=1, max_length=MAX_CONFIGS,
        description="The configurations to score, 1 to 6; each is validated as a chunking "
        "configuration is.")
    k: int = Field(5, ge=1, le=MAX_K, description="Chunks retrieved per question.")
    embedding_model: Literal["static", "local"] = Field(
        "static", description="What embeds the chunks and the questions: `static` (the "
        "bundled static model, fast) or `local` (all-MiniLM-L6-v2, the model "
        "`bench/retrieval.py` scores with; needs the `semantic` extra).")


class ConfigScore(BaseModel):
    strategy: str
    params: dict[str, Any]
    recall: float = Field(description="Mean over the questions of the reference characters "
                          "the retrieved chunks cover, over the reference characters.")
    precision: float = Field(description="Mean of the covered reference characters over the "
                             "retrieved characters.")
    iou: float = Field(description="Mean of the covered reference characters over the "
                       "retrieved characters plus the reference characters left uncovered.")
    chunks: int = Field(description="Chunks the evaluated documents gave.")
    tokens: int = Field(description="Their tokens by the configuration's tokenizer: what "
                        "embedding them costs.")
    documents_failed: int
    error: str | None = Field(description="Why documents failed, when some did.")


class Best(BaseModel):
    iou: int | None = Field(description="Index in `results` of the highest IoU.")
    recall: int | None = Field(description="Index in `results` of the highest recall.")


class EvaluationOut(BaseModel):
    id: uuid.UUID = Field(description="Also its operation's id: follow it on "
                          "`/operations/{id}/ws`, cancel it with `/operations/{id}/cancel`.")
    collection_id: uuid.UUID
    status: str
    k: int
    embedding_model: str
    configs: list[ChunkConfig]
    documents_total: int = Field(description="Documents to chunk: each evaluated document "
                                 "once per configuration.")
    documents_done: int
    documents_failed: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    questions: int | None = Field(description="Questions scored (once completed).")
    results: list[ConfigScore] | None = Field(description="Per configuration, in the order "
                                              "asked, once completed.")
    best: Best | None


class EvaluationPage(BaseModel):
    items: list[EvaluationOut]
    next_cursor: str | None


class Retrieved(BaseModel):
    document_id: uuid.UUID
    start: int
    end: int
    similarity: float


class QuestionConfigScore(BaseModel):
    recall: float
    precision: float
    iou: float
    found: int = Field(description="Reference characters the retrieved chunks cover.")
    reference: int = Field(description="Reference characters.")
    retrieved: list[Retrieved] = Field(description="The chunks retrieved, best first.")


class QuestionScore(BaseModel):
    question_id: uuid.UUID
    question: str
    references: list[Reference]
    configs: list[QuestionConfigScore] = Field(description="Per configuration, in the "
                                               "evaluation's order.")


class QuestionScorePage(BaseModel):
    items: list[QuestionScore]
    next_cursor: str | None

"""The chunk and document types shared by every strategy, the extractors and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ChunkingError(ValueError):
    """A bad input or configuration; the message names what is wrong, for humans."""


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading found in the extracted text: `start` is its offset, `level` 1 = outermost."""

    start: int
    level: int
    title: str


@dataclass(frozen=True, slots=True)
class PageSpan:
    """Characters `[start, end)` of the extracted text come from 1-based page `page`."""

    start: int
    end: int
    page: int


@dataclass(slots=True)
class Document:
    """Extracted text plus the structure the extractor could see.

    `kind` is one of "text", "markdown", "code", "html", "pdf", "docx"; `language` is set for code.
    Offsets in `headings` and `pages` index `text`. `warnings` are sentences about what the
    extractor changed (characters that cannot be stored, replaced).
    """

    text: str
    kind: str = "text"
    filename: str | None = None
    language: str | None = None
    headings: list[Heading] = field(default_factory=list)
    pages: list[PageSpan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Chunk:
    """A span of a document's extracted text; `text == source[start:end]` always."""

    index: int
    text: str
    start: int
    end: int
    tokens: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "tokens": self.tokens,
            "metadata": self.metadata,
        }

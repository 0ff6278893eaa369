"""The library's entry points: chunk a text or a document with a named strategy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chunkyard.core.code import language_for
from chunkyard.core.detect import MARKDOWN_EXTENSIONS
from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk, Document


def document_from_text(text: str, filename: str | None = None) -> Document:
    """A Document for raw text; the kind (markdown, code, text) is guessed from the name.

    Markdown gets its headings exactly as a stored `.md` file does, so chunking pasted text
    named like a file gives what a job stores for that file.
    """
    ext = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if ext in MARKDOWN_EXTENSIONS:
        from chunkyard.extract.text import markdown_headings

        return Document(text=text, kind="markdown", filename=filename,
                        headings=markdown_headings(text))
    language = language_for(filename)
    if language:
        return Document(text=text, kind="code", filename=filename, language=language)
    return Document(text=text, kind="text", filename=filename)


def iter_chunks(
    doc: Document, strategy: str = "recursive", params: dict[str, Any] | None = None
) -> Iterator[Chunk]:
    """Stream the chunks of `doc`; raises ChunkingError for a bad strategy or parameter."""
    return create_strategy(strategy, params).chunks(doc)


def chunk_text(
    text: str, strategy: str = "recursive", *, filename: str | None = None, **params: Any
) -> list[Chunk]:
    """Chunk `text` with `strategy`; `params` are the strategy's parameters."""
    return list(iter_chunks(document_from_text(text, filename), strategy, params))

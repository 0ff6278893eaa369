"""The library's entry points: chunk a text or a document with a named strategy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chunkyard.core.filekinds import language_for, text_kind_for
from chunkyard.core.markdown_blocks import markdown_headings
from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk, ChunkingError, Document


def document_from_text(text: str, filename: str | None = None, *,
                       kind: str | None = None) -> Document:
    """A Document for raw text: `kind` ("markdown", "code" or "text"), else judged by the name.

    The name is read through the same table of file kinds (`core.filekinds`) and the
    markdown headings come from the same parser as for a stored file, so chunking pasted text
    named like a file gives exactly what a job stores for that file.
    """
    kind = kind or text_kind_for(filename)
    if kind == "markdown":
        return Document(text=text, kind="markdown", filename=filename,
                        headings=markdown_headings(text))
    if kind == "code":
        return Document(text=text, kind="code", filename=filename,
                        language=language_for(filename))
    if kind != "text":
        raise ChunkingError(f"kind: {kind!r} is not one of markdown, code, text")
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

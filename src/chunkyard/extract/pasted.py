"""Pasted text as a Document: its name, if any, picks the kind and language from the same table
of file kinds (`filekinds.py`), and its markdown headings come from the same parser, as a
stored file of that name gets, so chunking pasted text named like a file gives exactly what a
job stores for the file. The library's `chunkyard.document_from_text` and `chunk_text`.
"""

from __future__ import annotations

from typing import Any

from chunkyard.core.markdown_blocks import markdown_headings
from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.types import Chunk, ChunkingError, Document
from chunkyard.extract.filekinds import language_for, text_kind_for
from chunkyard.extract.safe_text import make_safe


def document_from_text(text: str, filename: str | None = None, *,
                       kind: str | None = None) -> Document:
    """A Document for raw text: `kind` ("markdown", "code" or "text"), else judged by the name.

    The name is read through the one table of file kinds (`filekinds.py`), and the markdown
    headings come from the same parser as for a stored file. The text is taken as it is
    (the library's chunks index the caller's text); the service makes pasted text safe
    first (`pasted_document`).
    """
    kind = kind or text_kind_for(filename)
    if kind not in ("markdown", "code", "text"):
        raise ChunkingError(f"kind: {kind!r} is not one of markdown, code, text")
    if kind == "markdown":
        return Document(text=text, kind="markdown", filename=filename,
                        headings=markdown_headings(text))
    if kind == "code":
        return Document(text=text, kind="code", filename=filename,
                        language=language_for(filename))
    return Document(text=text, kind="text", filename=filename)


def pasted_document(text: str, filename: str | None = None) -> Document:
    """The Document of a text pasted into the service (a preview's or a compare's), made
    safe first as an extracted file is (`safe_text.make_safe`: NUL and lone surrogates
    become U+FFFD, lengths kept, a warning on the document)."""
    safe, warnings = make_safe(text)
    document = document_from_text(safe, filename)
    document.warnings.extend(warnings)
    return document


def chunk_text(
    text: str, strategy: str = "recursive", *, filename: str | None = None, **params: Any
) -> list[Chunk]:
    """Chunk `text` with `strategy`; `params` are the strategy's parameters."""
    return list(iter_chunks(document_from_text(text, filename), strategy, params))

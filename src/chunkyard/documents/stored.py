"""A stored document's text: the one function that reads and extracts a document's file, and
the one mapping of what can go wrong to an error, used by the text view, previews and jobs.

The job, the text view and a preview of a stored document read the same bytes through the
same extractor (`read_document`), so the offsets of every chunk (stored or
previewed) index the text the view returns. Loading is blocking (file I/O and CPU): call it
in a worker thread or in the app's chunking processes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from chunkyard.core.types import Document
from chunkyard.documents.blobs import relative_blob_path
from chunkyard.extract import ExtractionError, extract_bytes
from chunkyard.extract.errors import DEFAULT_MAX_EXTRACTED_CHARS
from chunkyard.kit.errors import Conflict, Invalid, PayloadTooLarge

if TYPE_CHECKING:  # the job processes load files only: they need no database or users
    from sqlalchemy.ext.asyncio import AsyncSession

    from chunkyard.auth.service import Principal


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a document's file is, what it is called (its name picks the extractor), its
    content's digest (a preview's cache key) and the longest text the caller takes (None:
    any; fixed where a request is served, so that a chunking process applies the server's).
    `max_extracted_chars` bounds the extraction itself (`CHUNKYARD_MAX_EXTRACTED_CHARS`,
    checked while extracting)."""

    id: uuid.UUID
    path: Path
    filename: str
    content_sha256: str
    max_chars: int | None = None
    max_extracted_chars: int = DEFAULT_MAX_EXTRACTED_CHARS


async def stored_file(
    session: AsyncSession,
    owner: Principal,
    document_id: str | uuid.UUID,
    data_dir: Path,
    max_chars: int | None = None,
    max_extracted_chars: int = DEFAULT_MAX_EXTRACTED_CHARS,
) -> StoredFile:
    """The owner's document's file (NotFound for a missing document or someone else's)."""
    from chunkyard.documents.service import get_document

    document = await get_document(session, owner, str(document_id))
    return stored_file_of(document, data_dir, max_chars=max_chars,
                          max_extracted_chars=max_extracted_chars)


class StoredRow(Protocol):
    """What locating a document's file needs of its row (a `Document`, or a job's `Source`)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def filename(self) -> str: ...
    @property
    def storage_path(self) -> str | None: ...
    @property
    def content_sha256(self) -> str: ...


def relative_file_path(storage_path: str | None, content_sha256: str) -> str:
    """Where a document's file lives, relative to the data directory: its `storage_path`, or
    (rows from before it was stored) the blob its content names."""
    return storage_path or relative_blob_path(content_sha256)


def stored_file_of(
    row: StoredRow, data_dir: Path, *, max_chars: int | None = None,
    max_extracted_chars: int = DEFAULT_MAX_EXTRACTED_CHARS,
) -> StoredFile:
    """The `StoredFile` of a document's row: the one place its path is worked out."""
    return StoredFile(row.id, data_dir / relative_file_path(row.storage_path, row.content_sha256),
                      row.filename, row.content_sha256, max_chars, max_extracted_chars)


def read_document(path: Path, filename: str,
                  max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS) -> Document:
    """The extracted text and structure of a stored file; `filename` picks the extractor."""
    data = path.read_bytes()
    document = extract_bytes(data, filename, max_chars=max_chars)
    del data  # only the text is needed from here on
    return document


def load_document(source: StoredFile) -> Document:
    """Blocking: the document's extracted text and structure. An unextractable file is
    Invalid (422, `extraction_failed`), a missing or unreadable blob a Conflict (409,
    `document_unreadable`), a text over `source.max_chars` PayloadTooLarge (413); each names the
    document."""
    try:
        document = read_document(source.path, source.filename, source.max_extracted_chars)
    except ExtractionError as exc:
        # The extractor's message names the file already.
        raise Invalid(f"document {source.id}: {exc}", code="extraction_failed") from None
    except OSError as exc:
        raise Conflict(
            f"the stored file of document {source.id} ({source.filename}) cannot be read "
            f"({exc.strerror or type(exc).__name__})",
            code="document_unreadable",
        ) from None
    max_chars = source.max_chars
    if max_chars is not None and len(document.text) > max_chars:
        raise PayloadTooLarge(
            f"{source.filename!r} has {len(document.text):,} characters of text, more than "
            f"the {max_chars:,} a comparison takes; preview it with one configuration at a "
            "time instead",
        )
    return document


@dataclass(frozen=True, slots=True)
class TextWindow:
    """Part of a stored document's extracted text: `text` is `[start, end)` of the whole,
    which is `size_chars` long (code points, the unit of every chunk offset)."""

    kind: str
    text: str
    start: int
    end: int
    size_chars: int


def load_text_window(
    source: StoredFile, start: int | None, end: int | None, max_window: int
) -> TextWindow:
    """Blocking: `[start, end)` of the document's text (`load_document`'s errors, and its
    text whole when both are None), so that only the window leaves a chunking process. `end`
    past the text stops at its end; `start` past it is Invalid (422); a window (or, with no
    bounds, a whole text) longer than `max_window` is PayloadTooLarge (413)."""
    document = load_document(source)
    size = len(document.text)
    name = source.filename
    if start is None and end is None and size > max_window:
        raise PayloadTooLarge(
            f"{name!r} has {size:,} characters of text, more than the {max_window:,} one "
            "answer holds; ask for a window of it with start and end (in characters)",
        )
    first = start or 0
    if first > size:
        raise Invalid(
            f"start ({first:,}) is past the end of the text of {name!r}, which has {size:,} "
            "characters",
            code="invalid_window",
        )
    last = size if end is None else min(end, size)
    if end is None and start is not None:
        last = min(size, first + max_window)
    if last - first > max_window:
        raise PayloadTooLarge(
            f"a window of the text holds at most {max_window:,} characters; ask for one "
            f"with end - start at most {max_window:,} (asked for {last - first:,})",
        )
    return TextWindow(document.kind, document.text[first:last], first, last, size)

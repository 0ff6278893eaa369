"""Extract a Document from a file path or from bytes, picking the extractor by kind."""

from __future__ import annotations

import os
import sys
from pathlib import PurePath

from chunkyard.core.types import Document, Heading
from chunkyard.extract.detect import binary_type, detect_kind
from chunkyard.extract.errors import ExtractionError
from chunkyard.extract.safe_text import make_safe, safe_string

SUPPORTED = "text, markdown, source code, HTML, PDF or DOCX"


def extract_bytes(data: bytes, filename: str, *, max_chars: int | None = None) -> Document:
    """The extracted text and structure of a file's content; `filename` picks the kind. A
    text longer than `max_chars` (None: no bound; the service passes
    `CHUNKYARD_MAX_EXTRACTED_CHARS`) is an `ExtractionError`, raised while extracting,
    before the text exists whole. A PDF page's and a DOCX package's own bounds always hold."""
    return _extract(data, PurePath(filename).name, filename, _bound(max_chars))


def extract_file(path: str | os.PathLike[str], *, max_chars: int | None = None) -> Document:
    """Read and extract one file; errors (missing file, bad content) are `ExtractionError`.

    The raw bytes are released as soon as the text exists: a large text file needs at most
    twice its size in memory (bytes + str), never a third copy.
    """
    label = os.fspath(path)
    try:
        data = _read(label)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExtractionError(f"{label}: cannot read the file ({reason})") from None
    document = _extract(data, PurePath(label).name, label, _bound(max_chars))
    del data  # the document holds only text; drop the raw bytes before handing it back
    return document


def _bound(max_chars: int | None) -> int:
    return sys.maxsize if max_chars is None else max_chars


def _read(path: str) -> bytes:
    if os.path.isdir(path):
        raise IsADirectoryError(21, "is a directory")
    with open(path, "rb") as handle:
        return handle.read()


def _extract(data: bytes, filename: str, label: str, max_chars: int) -> Document:
    """The document of `data`, made safe (`safe_text.make_safe`): whatever an extractor
    gives, its text can be tokenized and stored, with the same offsets."""
    document = _extract_kind(data, filename, label, max_chars)
    text, warnings = make_safe(document.text)
    if warnings:
        document.text = text
        document.warnings.extend(warnings)
        document.headings = [Heading(h.start, h.level, safe_string(h.title))
                             for h in document.headings]
    return document


def _extract_kind(data: bytes, filename: str, label: str, max_chars: int) -> Document:
    kind = detect_kind(filename, data)
    if kind == "binary":
        what = binary_type(data) or "binary data"
        raise ExtractionError(f"{label}: unsupported file type ({what}); expected {SUPPORTED}")
    if kind == "pdf":
        from chunkyard.extract.pdf import extract_pdf

        return extract_pdf(data, filename, label, max_chars)
    if kind == "docx":
        from chunkyard.extract.docx import extract_docx

        return extract_docx(data, filename, label, max_chars)
    if kind == "html":
        from chunkyard.extract.html import extract_html

        return extract_html(data, filename, label, max_chars)
    from chunkyard.extract.text import extract_text

    return extract_text(data, filename, label, kind, max_chars)

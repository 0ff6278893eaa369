"""PDF text page by page with pypdf, each page's span recorded."""

from __future__ import annotations

import io
from typing import Any

from chunkyard.core.types import Document, PageSpan
from chunkyard.extract.errors import ExtractionError, missing_extra

PAGE_SEPARATOR = "\n\n"


def _open(data: bytes, label: str) -> Any:
    try:
        import pypdf
    except ImportError:
        raise missing_extra(label, "pypdf", "PDF") from None

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are encrypted only against editing and open with an empty password.
            try:
                decrypted = reader.decrypt("")
            except Exception:
                decrypted = pypdf.PasswordType.NOT_DECRYPTED
            if decrypted == pypdf.PasswordType.NOT_DECRYPTED:
                raise ExtractionError(
                    f"{label}: the PDF is encrypted with a password; decrypt it first"
                )
    except ExtractionError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files; none should leak
        raise ExtractionError(f"{label}: not a readable PDF ({_reason(exc)})") from None
    return reader


def _reason(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def extract_pdf(data: bytes, filename: str, label: str) -> Document:
    """Pages joined by a blank line; `pages` has one span per page, 1-based."""
    reader = _open(data, label)
    parts: list[str] = []
    pages: list[PageSpan] = []
    offset = 0
    try:
        for number, page in enumerate(reader.pages, start=1):
            if parts:
                parts.append(PAGE_SEPARATOR)
                offset += len(PAGE_SEPARATOR)
            page_text = page.extract_text() or ""
            parts.append(page_text)
            pages.append(PageSpan(offset, offset + len(page_text), number))
            offset += len(page_text)
    except Exception as exc:
        raise ExtractionError(
            f"{label}: cannot extract text from page {len(pages) + 1} ({_reason(exc)})"
        ) from None
    text = "".join(parts)
    if pages and not text.strip():
        raise ExtractionError(
            f"{label}: the PDF has no extractable text (a scanned document? run OCR on it first)"
        )
    return Document(text, "pdf", filename, pages=pages)

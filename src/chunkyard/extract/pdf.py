"""PDF text page by page with pypdf, each page's span recorded."""

from __future__ import annotations

import io
from typing import Any

from chunkyard.core.types import Document, PageSpan
from chunkyard.extract.errors import (
    DEFAULT_MAX_EXTRACTED_CHARS,
    ExtractionError,
    TextTooLong,
    missing_extra,
    too_long,
)

PAGE_SEPARATOR = "\n\n"
# The most text one page may hold (a dense page of small print has about 10,000 characters):
# counted while pypdf reads the page, so a page whose content stream draws megabytes of text
# (200 pages sharing one 1 MB stream once extracted to 200 million characters) stops there.
MAX_PAGE_CHARS = 200_000


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


class _PageBudget:
    """pypdf's text visitor: counts what a page draws and stops it at the page's or the
    document's bound (`TextTooLong` propagates out of `extract_text`)."""

    def __init__(self, number: int, left: int, max_chars: int) -> None:
        self.number = number
        self.left = left  # characters the document may still take
        self.max_chars = max_chars
        self.drawn = 0

    def __call__(self, text: str, *_: Any) -> None:
        self.drawn += len(text)
        self.check(self.drawn)

    def check(self, length: int) -> None:
        if length > MAX_PAGE_CHARS:
            raise TextTooLong(MAX_PAGE_CHARS, f"page {self.number} holds more than "
                              f"{MAX_PAGE_CHARS:,} characters of text, the limit of one page")
        if length > self.left:
            raise TextTooLong(self.max_chars)


def extract_pdf(data: bytes, filename: str, label: str,
                max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS) -> Document:
    """Pages joined by a blank line; `pages` has one span per page, 1-based. A page over
    `MAX_PAGE_CHARS` or a text over `max_chars` stops the extraction, with that reason."""
    reader = _open(data, label)
    parts: list[str] = []
    pages: list[PageSpan] = []
    offset = 0
    try:
        for number, page in enumerate(reader.pages, start=1):
            if parts:
                parts.append(PAGE_SEPARATOR)
                offset += len(PAGE_SEPARATOR)
            budget = _PageBudget(number, max_chars - offset, max_chars)
            page_text = page.extract_text(visitor_text=budget) or ""
            # The visitor sees what the page draws; layout adds some spacing: check the text.
            budget.check(len(page_text))
            parts.append(page_text)
            pages.append(PageSpan(offset, offset + len(page_text), number))
            offset += len(page_text)
    except TextTooLong as exc:
        raise too_long(label, exc) from None
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

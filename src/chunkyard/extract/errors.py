"""The error every extractor raises for a file it cannot turn into text."""

from __future__ import annotations

from chunkyard.core.types import ChunkingError


class ExtractionError(ChunkingError):
    """A file could not be extracted; the one-line message names the file and the reason."""


# The longest text a document extracts to by default (`CHUNKYARD_MAX_EXTRACTED_CHARS`).
DEFAULT_MAX_EXTRACTED_CHARS = 50_000_000


class TextTooLong(Exception):
    """Raised inside an extractor the moment its text passes `limit` characters (caught by
    the extractor, which raises `too_long` with the file's label)."""

    def __init__(self, limit: int, what: str = "") -> None:
        super().__init__(limit, what)
        self.limit = limit
        self.what = what


def too_long(label: str, exc: TextTooLong) -> ExtractionError:
    """The error for a document whose text passed a bound while being extracted."""
    if exc.what:
        return ExtractionError(f"{label}: {exc.what}")
    return ExtractionError(
        f"{label}: the extracted text is longer than {exc.limit:,} characters, the limit "
        "of one document (CHUNKYARD_MAX_EXTRACTED_CHARS)"
    )


# PDF and DOCX parsers are base dependencies; an installation can still lack one (removed,
# or a broken install). The package that reads each kind, and its import name.
PARSERS = {"pdf": ("pypdf", "pypdf", "PDF"), "docx": ("python-docx", "docx", "DOCX")}


def missing_extra(label: str, module: str, kind: str) -> ExtractionError:
    """The error for a PDF/DOCX file when its parser is not installed."""
    return ExtractionError(
        f"{label}: reading {kind} files needs the '{module}' package, which this "
        "installation lacks (reinstall chunkyard)"
    )


def missing_parser(kind: str) -> str | None:
    """Why this installation cannot extract files of `kind`, in a sentence for a user (None:
    it can): checked at upload, so such a file is refused then, not failed later."""
    parser = PARSERS.get(kind)
    if parser is None:
        return None
    package, module, label = parser
    try:
        __import__(module)
    except ImportError:
        return (f"this installation cannot read {label} files (the server lacks the "
                f"'{package}' package; an administrator can install it)")
    return None

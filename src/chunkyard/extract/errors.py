"""The error every extractor raises for a file it cannot turn into text."""

from __future__ import annotations

from chunkyard.core.types import ChunkingError


class ExtractionError(ChunkingError):
    """A file could not be extracted; the one-line message names the file and the reason."""


MISSING_DOCS_EXTRA = "pip install 'chunkyard[docs]'"


def missing_extra(label: str, module: str, kind: str) -> ExtractionError:
    """The error for a PDF/DOCX file when its optional parser is not installed."""
    return ExtractionError(
        f"{label}: reading {kind} files needs the '{module}' package: {MISSING_DOCS_EXTRA}"
    )

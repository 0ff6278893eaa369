"""File bytes to extracted text plus structure (txt, markdown, code, HTML, PDF, DOCX)."""

from chunkyard.extract.detect import detect_kind, language_for
from chunkyard.extract.errors import ExtractionError
from chunkyard.extract.files import extract_bytes, extract_file
from chunkyard.extract.text import markdown_headings

__all__ = [
    "ExtractionError",
    "detect_kind",
    "extract_bytes",
    "extract_file",
    "language_for",
    "markdown_headings",
]

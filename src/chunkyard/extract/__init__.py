"""File bytes to extracted text plus structure (txt, markdown, code, HTML, PDF, DOCX)."""

from chunkyard.core.markdown_blocks import markdown_headings
from chunkyard.extract.detect import detect_kind
from chunkyard.extract.errors import ExtractionError
from chunkyard.extract.filekinds import language_for
from chunkyard.extract.files import extract_bytes, extract_file

__all__ = [
    "ExtractionError",
    "detect_kind",
    "extract_bytes",
    "extract_file",
    "language_for",
    "markdown_headings",
]

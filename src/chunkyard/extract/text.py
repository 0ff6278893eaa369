"""Plain text, markdown and source code: the file's UTF-8 text unchanged, plus markdown headings.

The headings come from the core's one markdown block parser (`markdown_headings`).
"""

from __future__ import annotations

from chunkyard.core.markdown_blocks import markdown_headings
from chunkyard.core.types import Document
from chunkyard.extract.errors import (
    DEFAULT_MAX_EXTRACTED_CHARS,
    ExtractionError,
    TextTooLong,
    too_long,
)
from chunkyard.extract.filekinds import language_for

_BOM = b"\xef\xbb\xbf"


def decode_utf8(data: bytes, label: str) -> str:
    """`data` decoded as strict UTF-8 with a leading BOM dropped and nothing else changed."""
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        # A memoryview slice skips the BOM without copying the bytes (they may be 100 MB).
        return str(memoryview(data)[skip:], "utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        byte = data[offset]
        raise ExtractionError(
            f"{label}: not valid UTF-8 at byte offset {offset} (byte 0x{byte:02x})"
        ) from None


def extract_text(data: bytes, filename: str, label: str, kind: str,
                 max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS) -> Document:
    """A text, markdown or code document whose text is exactly the decoded file."""
    # Decoding never inflates (a character is at least one byte of UTF-8), so the text is
    # measured once it exists.
    text = decode_utf8(data, label)
    if len(text) > max_chars:
        raise too_long(label, TextTooLong(max_chars))
    if kind == "markdown":
        return Document(text, "markdown", filename, headings=markdown_headings(text))
    if kind == "code":
        return Document(text, "code", filename, language=language_for(filename))
    return Document(text, "text", filename)


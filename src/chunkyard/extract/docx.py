"""DOCX body text with python-docx (the `docs` extra): paragraphs, headings and tables in order."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from chunkyard.core.types import Document, Heading
from chunkyard.extract.errors import (
    DEFAULT_MAX_EXTRACTED_CHARS,
    ExtractionError,
    TextTooLong,
    missing_extra,
    too_long,
)

BLOCK_SEPARATOR = "\n\n"
CELL_SEPARATOR = " | "
# python-docx inflates every part of the package in memory, and its XML tree takes about 20
# times the XML's size; refuse zip bombs up front, before inflating anything. A package may
# inflate to `MAX_INFLATE_RATIO` times its file's size (text-heavy documents inflate 5-15x;
# images are stored, about 1x), plus `INFLATE_ALLOWANCE` for tiny files, and never past
# `MAX_UNCOMPRESSED_BYTES` (a 199 KB file whose document.xml inflated to 68 MB once took
# 1.43 GB).
MAX_INFLATE_RATIO = 30
INFLATE_ALLOWANCE = 2 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024


def inflate_limit(size: int) -> int:
    """The most bytes a DOCX package of `size` bytes may inflate to."""
    return min(MAX_UNCOMPRESSED_BYTES, MAX_INFLATE_RATIO * size + INFLATE_ALLOWANCE)


def _check_package(data: bytes, label: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ExtractionError(f"{label}: not a valid DOCX file (not a zip package)") from None
    if "word/document.xml" not in names:
        raise ExtractionError(f"{label}: not a valid DOCX file (no word/document.xml)")
    limit = inflate_limit(len(data))
    if total > limit:
        raise ExtractionError(
            f"{label}: the DOCX package inflates to {total:,} bytes, over the limit of "
            f"{limit:,} for a file of {len(data):,} bytes (at most {MAX_INFLATE_RATIO} times "
            f"its size, and never over {MAX_UNCOMPRESSED_BYTES:,})"
        )


def heading_level(style_name: str) -> int | None:
    """The heading level of a paragraph style: "Title" is 1, "Heading N" is N, others None."""
    name = style_name.strip().lower()
    if name == "title":
        return 1
    if name.startswith("heading"):
        number = name[len("heading") :].strip()
        if number.isdigit() and 1 <= int(number) <= 9:
            return int(number)
    return None


def _style_name(paragraph: Any) -> str:
    try:
        style = paragraph.style
    except Exception:  # a style id missing from styles.xml
        return ""
    return str(style.name) if style is not None and style.name else ""


def _table_text(table: Any) -> str:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans; show it once.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(CELL_SEPARATOR.join(cells))
    return "\n".join(rows)


def extract_docx(data: bytes, filename: str, label: str,
                 max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS) -> Document:
    """Body paragraphs and tables joined by blank lines; heading styles become headings."""
    try:
        import docx
        from docx.table import Table
    except ImportError:
        raise missing_extra(label, "python-docx", "DOCX") from None

    _check_package(data, label)
    blocks: list[str] = []
    headings: list[Heading] = []
    offset = 0
    try:
        document = docx.Document(io.BytesIO(data))
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                block = _table_text(item)
                level = None
            else:
                block = item.text.strip()
                level = heading_level(_style_name(item))
            if not block:
                continue
            if blocks:
                offset += len(BLOCK_SEPARATOR)
            if offset + len(block) > max_chars:
                raise TextTooLong(max_chars)
            if level is not None:
                headings.append(Heading(offset, level, " ".join(block.split())))
            blocks.append(block)
            offset += len(block)
    except TextTooLong as exc:
        raise too_long(label, exc) from None
    except Exception as exc:  # damaged XML, missing parts: never leak a parser traceback
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ExtractionError(f"{label}: not a readable DOCX file ({reason})") from None
    return Document(BLOCK_SEPARATOR.join(blocks), "docx", filename, headings=headings)

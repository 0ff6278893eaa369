"""DOCX body text with python-docx (the `docs` extra): paragraphs, headings and tables in order."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from chunkyard.core.types import Document, Heading
from chunkyard.extract.errors import ExtractionError, missing_extra

BLOCK_SEPARATOR = "\n\n"
CELL_SEPARATOR = " | "
# python-docx inflates every part of the package in memory; refuse zip bombs up front.
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024


def _check_package(data: bytes, label: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ExtractionError(f"{label}: not a valid DOCX file (not a zip package)") from None
    if "word/document.xml" not in names:
        raise ExtractionError(f"{label}: not a valid DOCX file (no word/document.xml)")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ExtractionError(
            f"{label}: the DOCX package inflates to {total} bytes, over the limit of "
            f"{MAX_UNCOMPRESSED_BYTES}"
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


def extract_docx(data: bytes, filename: str, label: str) -> Document:
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
            if level is not None:
                headings.append(Heading(offset, level, " ".join(block.split())))
            blocks.append(block)
            offset += len(block)
    except Exception as exc:  # damaged XML, missing parts: never leak a parser traceback
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ExtractionError(f"{label}: not a readable DOCX file ({reason})") from None
    return Document(BLOCK_SEPARATOR.join(blocks), "docx", filename, headings=headings)

"""DOCX extraction: body order, heading styles, tables as rows, clean errors."""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx  # the docs extra; installed by scripts/test.sh
import pytest

from chunkyard.core.types import Heading
from chunkyard.extract import ExtractionError, extract_bytes, extract_file

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MEMO = CORPUS / "memo.docx"


def test_memo_headings_and_levels() -> None:
    document = extract_file(MEMO)
    assert document.kind == "docx"
    assert [(h.level, h.title) for h in document.headings] == [
        (1, "Memo: Library Renovation"),
        (1, "Timeline"),
        (1, "Temporary arrangements"),
        (2, "Study space"),
        (2, "Returns"),
    ]
    for heading in document.headings:
        assert document.text.startswith(heading.title, heading.start)
        assert heading.start == 0 or document.text[heading.start - 2 : heading.start] == "\n\n"


def test_memo_body_order_table_rows_and_no_empty_paragraphs() -> None:
    text = extract_file(MEMO).text
    assert text.startswith("Memo: Library Renovation\n\nTo all staff.")
    table = (
        "Phase | Weeks | Area\n"
        "Roof and windows | 1-4 | Reading room\n"
        "Floor | 5-7 | Reading room\n"
        "Shelving | 8-10 | Stacks"
    )
    assert f"ten weeks.\n\n{table}\n\nTemporary arrangements\n\n" in text
    assert text.endswith("Mill Street.\n\nQuestions go to the facilities team.")
    assert "\n\n\n" not in text


def _docx_bytes(build: Callable[[Any], None]) -> bytes:
    document = docx.Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_heading_levels_and_merged_cells() -> None:
    def build(document: Any) -> None:
        document.add_paragraph("intro")
        document.add_heading("Deep", level=3)
        table = document.add_table(rows=2, cols=3)
        table.cell(0, 0).merge(table.cell(0, 1)).text = "wide"
        table.cell(0, 2).text = "c"
        for column, value in enumerate("xyz"):
            table.cell(1, column).text = value

    document = extract_bytes(_docx_bytes(build), "t.docx")
    assert document.text == "intro\n\nDeep\n\nwide | c\nx | y | z"
    assert document.headings == [Heading(7, 3, "Deep")]


def test_docx_detected_from_zip_content_without_extension() -> None:
    document = extract_bytes(MEMO.read_bytes(), "upload")
    assert document.kind == "docx"
    assert document.headings[0].title == "Memo: Library Renovation"


def test_non_docx_zip_is_unsupported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ExtractionError, match=r"^book\.zip: unsupported file type \(ZIP"):
        extract_bytes(buffer.getvalue(), "book.zip")


def test_docx_that_is_not_a_zip_is_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match=r"^fake\.docx: not a valid DOCX file"):
        extract_bytes(b"just some text", "fake.docx")


def test_docx_with_broken_xml_is_a_clear_error() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(MEMO) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                data = data[: len(data) // 2]
            target.writestr(info, data)
    with pytest.raises(ExtractionError) as info:
        extract_bytes(buffer.getvalue(), "broken.docx")
    assert str(info.value).startswith("broken.docx: not a readable DOCX file (")
    assert info.value.__suppress_context__


def test_missing_python_docx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docx", None)
    with pytest.raises(ExtractionError) as info:
        extract_file(MEMO)
    assert str(info.value) == (
        f"{MEMO}: reading DOCX files needs the 'python-docx' package, which this "
        "installation lacks (reinstall chunkyard)"
    )

"""Extraction is bounded while it runs, and a document over a bound fails alone saying which
(issue 12, point 1: a 144 KB HTML of nested lists extracted to 256 million characters, a
199 KB DOCX inflated to 68 MB and took 1.43 GB, a 34 KB PDF of 200 pages sharing one 1 MB
content stream extracted to 200 million characters)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, create_collection, user_headers
from operation_helpers import start, text_file, upload, wait_finished
from security_helpers import nested_lists, pdf_drawing

from chunkyard.extract import ExtractionError, extract_bytes
from chunkyard.extract.docx import MAX_UNCOMPRESSED_BYTES, inflate_limit
from chunkyard.extract.html import MAX_LIST_INDENT
from chunkyard.extract.pdf import MAX_PAGE_CHARS
from chunkyard.settings import Settings

MEMO = Path(__file__).resolve().parents[1] / "corpus" / "memo.docx"
LIMIT = "the limit of one document (CHUNKYARD_MAX_EXTRACTED_CHARS)"


def test_the_default_bound_is_fifty_million_characters() -> None:
    assert Settings().max_extracted_chars == 50_000_000


def test_nested_lists_extract_to_text_linear_in_the_markup() -> None:
    markup = nested_lists(15_000)  # 150 KB
    started = time.perf_counter()
    text = extract_bytes(markup, "lists.html").text
    assert time.perf_counter() - started < 5
    assert len(text) < 3 * len(markup)
    lines = text.split("\n")
    assert lines[0] == "- x"
    assert lines[3] == "      - x"
    assert set(lines[MAX_LIST_INDENT + 1:]) == {"  " * MAX_LIST_INDENT + "- x"}


def test_html_stops_at_the_bound() -> None:
    markup = b"<html><body>" + b"<p>twelve chars</p>" * 10_000 + b"</body></html>"
    assert len(extract_bytes(markup, "long.html").text) > 100_000
    with pytest.raises(ExtractionError) as raised:
        extract_bytes(markup, "long.html", max_chars=100_000)
    assert str(raised.value) == ("long.html: the extracted text is longer than 100,000 "
                                 f"characters, {LIMIT}")


def test_text_files_are_bounded() -> None:
    data = b"word " * 1000
    assert extract_bytes(data, "a.txt", max_chars=5000).text == data.decode()
    with pytest.raises(ExtractionError, match=r"^a\.txt: the extracted text is longer than "
                                              r"4,999 characters"):
        extract_bytes(data, "a.txt", max_chars=4999)


def docx_with_inflated_part(extra: int) -> bytes:
    """memo.docx with a part of `extra` spaces added (it deflates to almost nothing)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(MEMO) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("word/padding.xml", b" " * extra, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def test_docx_inflate_cap_is_a_multiple_of_the_file_size_with_a_ceiling() -> None:
    assert inflate_limit(10**9) == MAX_UNCOMPRESSED_BYTES
    assert MAX_UNCOMPRESSED_BYTES <= 64 * 1024 * 1024
    assert extract_bytes(MEMO.read_bytes(), "memo.docx").text  # an ordinary document reads
    bomb = docx_with_inflated_part(20 * 1024 * 1024)
    assert len(bomb) < 100_000
    with pytest.raises(ExtractionError, match=r"^bomb\.docx: the DOCX package inflates to "
                                              r"[0-9,]+ bytes, over the limit of [0-9,]+ for "
                                              r"a file of [0-9,]+ bytes"):
        extract_bytes(bomb, "bomb.docx")


def test_docx_text_stops_at_the_bound() -> None:
    text = extract_bytes(MEMO.read_bytes(), "memo.docx").text
    with pytest.raises(ExtractionError, match=LIMIT.replace("(", r"\(").replace(")", r"\)")):
        extract_bytes(MEMO.read_bytes(), "memo.docx", max_chars=len(text) - 1)


def test_a_pdf_page_is_bounded_while_it_is_read() -> None:
    pdf = pdf_drawing(1_000_000, 200)  # the finding: 34 KB, 200 pages of one 1 MB stream
    assert len(pdf) < 40_000
    # Refused at the first page, as it is read: not after 200 pages of 1 MB each.
    with pytest.raises(ExtractionError) as raised:
        extract_bytes(pdf, "pages.pdf")
    assert str(raised.value) == (f"pages.pdf: page 1 holds more than {MAX_PAGE_CHARS:,} "
                                 "characters of text, the limit of one page")


def test_a_pdf_is_bounded_in_total() -> None:
    pdf = pdf_drawing(100_000, 30)
    with pytest.raises(ExtractionError) as raised:
        extract_bytes(pdf, "total.pdf", max_chars=500_000)
    assert str(raised.value) == ("total.pdf: the extracted text is longer than 500,000 "
                                 f"characters, {LIMIT}")
    assert len(extract_bytes(pdf_drawing(100_000, 3), "three.pdf").text) > 300_000


def test_a_document_over_a_bound_fails_alone(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    upload(api, headers, collection["id"], [
        ("pages.pdf", pdf_drawing(MAX_PAGE_CHARS * 2, 3)),
        ("lists.html", nested_lists(5000)),
        ("good.txt", text_file("good " + api.backend)),
    ])

    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"],
                          timeout=120)

    assert final["status"] == "completed", final
    assert (final["documents_done"], final["documents_failed"]) == (2, 1), final
    listed = api.client.get(f"{API}/collections/{collection['id']}/documents",
                            headers=headers).json()["items"]
    documents: dict[str, Any] = {d["filename"]: d for d in listed}
    assert documents["pages.pdf"]["status"] == "failed"
    assert documents["pages.pdf"]["error"].endswith(
        f"pages.pdf: page 1 holds more than {MAX_PAGE_CHARS:,} characters of text, the "
        "limit of one page")
    assert documents["lists.html"]["status"] == documents["good.txt"]["status"] == "chunked"

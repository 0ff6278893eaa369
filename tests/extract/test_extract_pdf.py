"""PDF extraction: pages joined by blank lines, one span per page, clean errors."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pypdf  # the docs extra; installed by scripts/test.sh
import pytest

from chunkyard.extract import ExtractionError, extract_bytes, extract_file

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
REPORT = CORPUS / "report.pdf"
MARKERS = ["ALPHA", "BRAVO", "CHARLIE"]


def test_report_pages_cover_the_text_in_order() -> None:
    document = extract_file(REPORT)
    assert document.kind == "pdf"
    assert [span.page for span in document.pages] == [1, 2, 3]
    assert document.pages[0].start == 0
    assert document.pages[-1].end == len(document.text)
    for before, after in zip(document.pages, document.pages[1:], strict=False):
        assert before.start < before.end
        assert document.text[before.end : after.start] == "\n\n"
    assert "\n\n".join(document.text[s.start : s.end] for s in document.pages) == document.text


def test_each_page_span_holds_that_pages_text() -> None:
    document = extract_file(REPORT)
    for span, marker in zip(document.pages, MARKERS, strict=True):
        page_text = document.text[span.start : span.end]
        assert f"marker: {marker}" in " ".join(page_text.split())
        assert all(other not in page_text for other in MARKERS if other != marker)
    assert document.text.startswith("Quarterly Report: Harbour Ferry Service")


def test_pdf_detected_by_magic_whatever_the_name() -> None:
    document = extract_bytes(REPORT.read_bytes(), "download.bin")
    assert document.kind == "pdf"
    assert len(document.pages) == 3


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\nthis is not really a pdf", b"not a pdf at all", b""],
    ids=["bad-body", "no-header", "empty"],
)
def test_corrupt_pdf_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_bytes(data, "broken.pdf")
    message = str(info.value)
    assert message.startswith("broken.pdf: not a readable PDF (")
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_truncated_pdf_is_a_clear_error() -> None:
    data = REPORT.read_bytes()
    with pytest.raises(ExtractionError, match=r"^cut\.pdf: "):
        extract_bytes(data[: len(data) // 2], "cut.pdf")


def _encrypted(user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=str(REPORT))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_password_protected_pdf_is_a_clear_error() -> None:
    with pytest.raises(
        ExtractionError, match=r"^locked\.pdf: the PDF is encrypted with a password"
    ):
        extract_bytes(_encrypted("secret"), "locked.pdf")


def test_pdf_encrypted_only_against_editing_is_read() -> None:
    document = extract_bytes(_encrypted(""), "owner-only.pdf")
    assert [span.page for span in document.pages] == [1, 2, 3]
    assert "ALPHA" in document.text


def test_pdf_without_text_is_an_error() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ExtractionError, match="no extractable text"):
        extract_bytes(buffer.getvalue(), "scan.pdf")


def test_missing_pypdf_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pypdf", None)
    with pytest.raises(ExtractionError) as info:
        extract_file(REPORT)
    assert str(info.value) == (
        f"{REPORT}: reading PDF files needs the 'pypdf' package, which this "
        "installation lacks (reinstall chunkyard)"
    )

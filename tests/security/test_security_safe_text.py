"""Text that cannot be tokenized or stored (NUL, lone surrogates) is made safe by one rule
before anything reads it, and a `<meta charset>` picks only a codec that decodes text.

Findings of issue 12: an HTML file declaring `unicode_escape` or `utf-7` put lone surrogates
and NUL into its text, and the tokenizer raised UnicodeEncodeError on them; pasted text
"a\\ud800" did the same.
"""

from __future__ import annotations

import re

import pytest
from security_helpers import html_declaring, pdf_with_nul

import chunkyard
from chunkyard.extract import extract_bytes
from chunkyard.extract.html import decode_html
from chunkyard.extract.pasted import document_from_text, pasted_document
from chunkyard.extract.safe_text import REPLACEMENT, make_safe

UNSAFE = re.compile("[\x00\ud800-\udfff]")


@pytest.mark.parametrize("text", ["a\ud800", "\udfffb\x00", "x\x00y", "\ud83d\ude00 pair",
                                  "é\ud800ü\x00"])
def test_make_safe_replaces_each_unsafe_code_point_by_one_replacement(text: str) -> None:
    safe, warnings = make_safe(text)
    assert len(safe) == len(text)
    assert not UNSAFE.search(safe)
    for original, kept in zip(text, safe, strict=True):
        assert kept == (REPLACEMENT if UNSAFE.match(original) else original)
    replaced = sum(1 for c in text if UNSAFE.match(c))
    assert warnings == [f"{replaced} character{'s' if replaced > 1 else ''} that cannot be "
                        "stored (NUL or a lone UTF-16 surrogate) replaced by U+FFFD"]
    safe.encode("utf-8")


@pytest.mark.parametrize("text", ["", "plain ascii", "accents é ü, CJK 漢字, emoji 😀", "\ufffd"])
def test_safe_text_is_left_alone(text: str) -> None:
    safe, warnings = make_safe(text)
    assert safe is text
    assert warnings == []


POISON = rb"one \ud800 two \x00 three +2AA- four +AAA- five"


@pytest.mark.parametrize("charset", ["unicode_escape", "unicode-escape", "raw_unicode_escape",
                                     "utf-7", "utf7", "rot13", "rot_13", "hex", "base64",
                                     "punycode", "idna", "uu", "zlib", "quopri"])
def test_meta_charset_never_picks_a_codec_that_does_not_decode_text(charset: str) -> None:
    data = html_declaring(charset, POISON)
    document = extract_bytes(data, "poison.html")
    # Read as UTF-8, as HTML reads a page whose label it does not know: the escapes stay text.
    assert document.text.endswith(POISON.decode("ascii"))
    assert document.warnings == []
    assert decode_html(data, "poison.html") == data.decode("utf-8")
    chunks = chunkyard.chunk_text(document.text, "recursive", chunk_size=16)
    assert chunks


@pytest.mark.parametrize(("charset", "encoded", "text"), [
    ("windows-1252", "café €".encode("cp1252"), "café €"),
    ("latin1", "café".encode("cp1252"), "café"),
    ("shift_jis", "日本語".encode("shift_jis"), "日本語"),
    ("koi8-r", "привет".encode("koi8-r"), "привет"),
    ("gb18030", "中文".encode("gb18030"), "中文"),
    ("iso-8859-2", "żółw".encode("iso8859-2"), "żółw"),
    ("utf-16", b"plain", "plain"),  # HTML reads a declared UTF-16 as UTF-8
])
def test_meta_charset_still_picks_the_encodings_of_the_web(
    charset: str, encoded: bytes, text: str
) -> None:
    assert extract_bytes(html_declaring(charset, encoded), "page.html").text.endswith(text)


def test_an_extracted_nul_is_replaced_with_a_warning_and_offsets_hold() -> None:
    document = extract_bytes(pdf_with_nul("x"), "nul.pdf")
    assert "before\ufffdafter x" in document.text
    assert not UNSAFE.search(document.text)
    assert document.warnings == ["1 character that cannot be stored (NUL or a lone UTF-16 "
                                 "surrogate) replaced by U+FFFD"]
    page = document.pages[0]
    assert document.text[page.start:page.end].startswith("before\ufffdafter")


def test_text_pasted_into_the_service_is_made_safe() -> None:
    document = pasted_document("# a\ud800\n\nb\x00 c", "notes.md")
    assert document.text == "# a\ufffd\n\nb\ufffd c"
    assert [h.title for h in document.headings] == ["a\ufffd"]
    assert document.warnings == ["2 characters that cannot be stored (NUL or a lone UTF-16 "
                                 "surrogate) replaced by U+FFFD"]
    # The library chunks the caller's own text: its offsets index that text.
    assert document_from_text("b\x00 c").text == "b\x00 c"

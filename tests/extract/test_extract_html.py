"""HTML to text: readable blocks, skipped script content, heading offsets into the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkyard.extract import ExtractionError, extract_bytes, extract_file
from growth import assert_linear

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def _text(markup: str, filename: str = "page.html") -> str:
    return extract_bytes(markup.encode(), filename).text


def test_page_headings_point_at_their_text_in_the_output() -> None:
    document = extract_file(CORPUS / "page.html")
    assert document.kind == "html"
    assert [(h.level, h.title) for h in document.headings] == [
        (1, "Riverside Bicycle Co-op"),
        (2, "Opening hours"),
        (2, "What we offer"),
        (3, "Puncture repair in five steps"),
        (3, "Donated parts"),
        (2, "Safety in the workshop"),
        (3, "First aid"),
        (2, "Volunteering"),
    ]
    for heading in document.headings:
        assert document.text[heading.start : heading.start + len(heading.title)] == heading.title
        # Each heading is a block of its own.
        assert document.text[heading.start - 2 : heading.start] == "\n\n"
        assert document.text.startswith(heading.title + "\n\n", heading.start)


def test_page_drops_script_style_noscript_and_template() -> None:
    text = extract_file(CORPUS / "page.html").text
    for hidden in ("MUST_NOT_APPEAR", "trackingSecret", "font-family", "Analytics stub"):
        assert hidden not in text
    # The <title> in <head> is not body text: the page starts with the nav, then the h1.
    assert text.startswith("Home | Hours | Contact\n\nRiverside Bicycle Co-op\n\nWe are")


def test_page_lists_tables_pre_and_entities() -> None:
    text = extract_file(CORPUS / "page.html").text
    assert "\n- Stands, tools and spare parts at cost price\n" in text
    assert "\n  - Children's bikes in spring\n  - Commuter bikes all year\n" in text
    assert "\nDay | Open | Close\nTuesday | 18:00 | 21:00\n" in text
    assert "\n  tyre width   pressure\n  25 mm        80-100 psi\n" in text
    assert "Tea & biscuits" in text
    assert "© Riverside Bicycle Co-op — a community project." in text
    assert "bent\u00a0wheels" not in text and "bent wheels" in text


def test_table_cells_stay_on_one_line() -> None:
    markup = "<table><tr><th>k</th><th>v</th></tr><tr><td><p>a</p><p>b<br>c</p></td><td>d"
    assert _text(markup) == "k | v\na b c | d"


def test_whitespace_collapses_inside_inline_text() -> None:
    assert _text("<p>  one \n\t two   <b>three</b>four </p>") == "one two threefour"


def test_blocks_become_lines_and_blank_lines() -> None:
    markup = "<div>a</div><div>b</div><p>c</p><p>d<br>e</p><h2>T</h2>f"
    assert _text(markup) == "a\nb\n\nc\n\nd\ne\n\nT\n\nf"


def test_pre_keeps_whitespace_and_drops_the_first_newline() -> None:
    assert _text("<p>x</p><pre>\n  a  b\n\n c\n</pre><p>y</p>") == "x\n\n  a  b\n\n c\n\ny"


def test_heading_offset_after_prefix_and_inline_markup() -> None:
    document = extract_bytes(b"<ul><li><h3>Deep <em>title</em></h3></li></ul>", "x.htm")
    (heading,) = document.headings
    assert heading.level == 3
    assert heading.title == "Deep title"
    assert document.text == "- Deep title"
    assert document.text[heading.start :] == "Deep title"


def test_empty_headings_are_not_recorded() -> None:
    document = extract_bytes(b"<h1> </h1><h2><img src=x></h2><p>body</p>", "x.html")
    assert document.headings == []
    assert document.text == "body"


def test_entities_and_comments() -> None:
    markup = "<p>&lt;tag&gt; &amp;&nbsp;&#x41;&#66; &copy</p><!-- hidden --><p>a < b</p>"
    assert _text(markup) == "<tag> & AB ©\n\na < b"


def test_attribute_values_may_hold_angle_brackets() -> None:
    assert _text("<p title=\"a > b\" data-x='<p>'>shown</p>") == "shown"


def test_content_sniffed_as_html_without_an_extension() -> None:
    document = extract_bytes(b"<!DOCTYPE html><html><body><h1>Hi</h1>there</body></html>", "x")
    assert document.kind == "html"
    assert document.text == "Hi\n\nthere"


def test_html_in_a_txt_file_stays_text() -> None:
    data = b"<!DOCTYPE html><p>raw</p>"
    document = extract_bytes(data, "notes.txt")
    assert (document.kind, document.text) == ("text", data.decode())


def test_declared_charset_is_used() -> None:
    markup = '<html><head><meta charset="windows-1252"></head><body>caf\xe9</body></html>'
    document = extract_bytes(markup.encode("cp1252"), "old.html")
    assert document.text == "café"


def test_undecodable_html_is_an_error() -> None:
    with pytest.raises(ExtractionError, match=r"bad\.html: not valid UTF-8 at byte offset 3"):
        extract_bytes(b"<p>\xff</p>", "bad.html")


@pytest.mark.parametrize(
    "unit", ["<a ", "<!--", "</", "<![", "<", "<p>", "&#9", '<a href="', "<<a>", "<td>"]
)
def test_pathological_markup_is_linear(unit: str) -> None:
    assert_linear(lambda n: extract_bytes((unit * (n // len(unit))).encode(), "evil.html"),
                  1_000_000)


def test_huge_numeric_reference_does_not_crash() -> None:
    text = _text("<p>&#" + "9" * 10_000 + "; ok &#0000000065;</p>")
    assert text == "\ufffd ok A"

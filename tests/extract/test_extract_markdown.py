"""Markdown headings: ATX and setext, fences skipped, offsets exact, linear time."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkyard.core.types import Heading
from chunkyard.extract import extract_bytes, extract_file, markdown_headings
from growth import assert_linear

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def _outline(text: str) -> list[tuple[int, str]]:
    return [(heading.level, heading.title) for heading in markdown_headings(text)]


def test_guide_headings_in_order_with_levels() -> None:
    document = extract_file(CORPUS / "guide.md")
    assert document.kind == "markdown"
    assert [(h.level, h.title) for h in document.headings] == [
        (1, "Field Guide to the Tidewater Garden"),
        (2, "Getting started"),
        (3, "What to bring"),
        (3, "Your first visit"),
        (2, "Beds and layout"),
        (3, "Soil notes"),
        (4, "Testing the soil"),
        (2, "Watering rota"),
        (3, "Hose etiquette"),
        (2, "Tools and the shed"),
        (3, "Tool checklist"),
        (3, "Borrowing tools"),
        (2, "Compost and waste"),
        (2, "Seasonal calendar"),
        (3, "Spring"),
        (3, "Summer"),
        (3, "Autumn and winter"),
        (2, "Events"),
        (1, "Frequently asked questions"),
        (2, "Contacts"),
    ]


def test_guide_atx_offsets_point_at_the_hash_and_setext_at_the_title() -> None:
    document = extract_file(CORPUS / "guide.md")
    text = document.text
    for heading in document.headings:
        assert heading.start == 0 or text[heading.start - 1] == "\n"
        if text.startswith("#", heading.start):
            marks = "#" * heading.level + " "
            assert text.startswith(marks + heading.title, heading.start), heading
        else:
            assert text.startswith(heading.title + "\n", heading.start), heading
            underline = text[heading.start + len(heading.title) + 1]
            assert underline == ("=" if heading.level == 1 else "-")


def test_hash_lines_inside_fences_are_not_headings() -> None:
    titles = [heading.title for heading in extract_file(CORPUS / "guide.md").headings]
    for inside_fence in (
        "soil_summary.py -- prints the average pH per row",
        "remind.sh -- one reminder per evening",
        "still a comment, not a heading",
        "So this is not a heading either.",
        "a plain fence with no info string",
        "also not a heading",
        "not a heading, just indented code",
        "Turning the heap",
    ):
        assert inside_fence not in titles


def test_offsets_with_crlf_and_bom() -> None:
    data = b"\xef\xbb\xbf# One\r\n\r\nbody\r\n\r\n## Two ##\r\nTitle\r\n===\r\n"
    document = extract_bytes(data, "crlf.md")
    assert document.text == data[3:].decode()
    assert document.headings == [
        Heading(0, 1, "One"),
        Heading(document.text.index("## Two"), 2, "Two"),
        Heading(document.text.index("Title"), 1, "Title"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "# a\n## b\n### c\n#### d\n##### e\n###### f\n",
            [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (6, "f")],
        ),
        ("####### seven\n", []),
        ("#hashtag\n", []),
        ("#\n", []),
        ("   ## indented three\n", [(2, "indented three")]),
        ("    ## indented four\n", []),
        ("## closed ##   \n", [(2, "closed")]),
        ("## keeps#hash\n", [(2, "keeps#hash")]),
        ("## C# \\#\n", [(2, "C# \\#")]),
        ("#\tTabbed\n", [(1, "Tabbed")]),
        ("Title\n=====\n", [(1, "Title")]),
        ("Sub\n---\n", [(2, "Sub")]),
        ("two line\nheading\n---\n", [(2, "two line heading")]),
        ("para\n\n---\n", []),
        ("- item\n---\n", []),
        ("> quoted\n===\n", []),
        ("=====\n", []),
        ("| a | b |\n|---|---|\n", []),
        ("```\n# in fence\n```\n# after\n", [(1, "after")]),
        ("````md\n```\n# still in\n````\n# out\n", [(1, "out")]),
        ("~~~\n# tilde\n~~~\n", []),
        ("```\n# unclosed fence runs to the end\n", []),
        ("``not a fence``\n# real\n", [(1, "real")]),
        ("  ```\n  # fence in a list item\n  ```\n", []),
        ("---\ntitle: front matter\n---\n# Body\n", [(1, "Body")]),
        ("# One\nText\n---\n", [(1, "One"), (2, "Text")]),
    ],
)
def test_heading_rules(text: str, expected: list[tuple[int, str]]) -> None:
    assert _outline(text) == expected


def test_heading_starts_index_the_text() -> None:
    text = "intro\n\n  # Indented\n\nPara one\nPara two\n=\n"
    headings = markdown_headings(text)
    assert text[headings[0].start :].startswith("# Indented")
    assert text[headings[1].start :].startswith("Para one\nPara two")


@pytest.mark.parametrize(
    "unit", ["#", "`", "*", "[", "\\", "# \n", "#\n", "```\n", "~~~\n", "- ", "> ", "a\n=\n",
             "\n"]
)
def test_pathological_input_is_linear(unit: str) -> None:
    assert_linear(lambda n: markdown_headings(unit * (n // len(unit))), 1_000_000)
    assert_linear(lambda n: extract_bytes((unit * (n // len(unit))).encode(), "evil.md"),
                  1_000_000)

"""One table of file kinds: a text named like a file is the Document its file extracts to."""

from __future__ import annotations

import pytest

from chunkyard import document_from_text
from chunkyard.core.languages import LANGUAGES
from chunkyard.core.types import ChunkingError
from chunkyard.extract import detect_kind, extract_bytes
from chunkyard.extract.filekinds import LANGUAGE_BY_NAME, MARKDOWN_EXTENSIONS

TEXT = "# Title\n\ndef main():\n    return 1\n\nSetext\n------\n\nplain words\n"
NAMES = sorted(
    [f"file.{ext}" for ext in LANGUAGES]
    + [f"file.{ext}" for ext in MARKDOWN_EXTENSIONS]
    + [name.title() for name in LANGUAGE_BY_NAME]
    + ["notes.txt", "README", "data.csv", "x.unknownext"]
)


@pytest.mark.parametrize("name", NAMES)
def test_document_from_text_equals_the_extracted_file(name: str) -> None:
    stored = extract_bytes(TEXT.encode(), name)
    pasted = document_from_text(TEXT, name)
    assert stored.kind in ("markdown", "code", "text")
    assert (pasted.kind, pasted.language, pasted.headings) == (
        stored.kind, stored.language, stored.headings), name


@pytest.mark.parametrize(("name", "kind", "language"), [
    ("d.mts", "code", "typescript"), ("e.cts", "code", "typescript"),
    ("Dockerfile", "code", "dockerfile"), ("q.toml", "code", "toml"),
    ("guide.md", "markdown", None), ("notes.txt", "text", None),
])
def test_the_named_kinds(name: str, kind: str, language: str | None) -> None:
    assert detect_kind(name, TEXT.encode()) == kind
    document = document_from_text(TEXT, name)
    assert (document.kind, document.language) == (kind, language)


def test_markdown_headings_come_from_the_block_parser() -> None:
    document = document_from_text(TEXT, "a.md")
    assert [(h.level, h.title) for h in document.headings] == [(1, "Title"), (2, "Setext")]
    assert [TEXT[h.start] for h in document.headings] == ["#", "S"]


def test_an_explicit_kind_wins_and_a_bad_one_is_named() -> None:
    assert document_from_text(TEXT, "a.txt", kind="markdown").headings
    with pytest.raises(ChunkingError, match="kind: 'pdf'"):
        document_from_text(TEXT, "a.txt", kind="pdf")

"""Stable chunk ids on real text: re-chunking keeps every id, an edit at the start keeps the
ids of the chunks after it (the targets of issue 15, recursive at chunk_size 256)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.stable_ids import stable_chunk_ids
from chunkyard.core.types import Document

CORPUS = Path(__file__).resolve().parents[2] / "bench/evaldata/chroma-chunking/corpora"
DOCUMENT = UUID("0190d1c6-0000-7000-8000-0000000000aa")
CONFIG_HASH = "5" * 64


def _ids(text: str, config_hash: str = CONFIG_HASH) -> list[str]:
    chunks = iter_chunks(Document(text, kind="markdown"), "recursive", {"chunk_size": 256})
    return stable_chunk_ids(DOCUMENT, config_hash, [c.text for c in chunks])


def _kept(before: list[str], after: list[str]) -> float:
    return len(set(before) & set(after)) / len(before)


def test_rechunking_the_same_text_keeps_every_id() -> None:
    text = (CORPUS / "wikitexts.md").read_text(encoding="utf-8")
    first = _ids(text)
    assert len(first) >= 100
    assert _ids(text) == first
    assert not set(_ids(text, "6" * 64)) & set(first)  # another configuration, other ids


def test_a_paragraph_inserted_at_the_start_keeps_at_least_90_percent() -> None:
    # Not state_of_the_union.md: its hundreds of one-line paragraphs are packed greedily, so
    # a paragraph longer than the first chunk's slack moves every later boundary (about 40%
    # of ids kept). That is the splitter's boundaries moving, which no id rule can undo.
    for name in ("wikitexts.md", "chatlogs.md"):
        text = (CORPUS / name).read_text(encoding="utf-8")
        before = _ids(text)
        paragraph = ("An editor's note added at the top of the document, long enough to be a "
                     "paragraph of its own: it says when the text was collected and why. " * 3)
        after = _ids(paragraph + "\n\n" + text)
        assert _kept(before, after) >= 0.9, name
        # Positions all moved by one paragraph: an id by position would keep none of them.
        assert after != before


def test_an_edit_in_the_middle_changes_only_the_chunks_around_it() -> None:
    text = (CORPUS / "wikitexts.md").read_text(encoding="utf-8")
    middle = len(text) // 2
    edited = text[:middle] + " (a few words added in the middle)" + text[middle:]
    before, after = _ids(text), _ids(edited)
    assert len(set(before) - set(after)) <= 3

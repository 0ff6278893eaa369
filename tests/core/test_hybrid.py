"""The `hybrid` strategy and `detect.sniff`: the choice per document and per section, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import chunkyard
from chunkyard import Chunk, Document, document_from_text
from chunkyard.core.detect import SNIFF_CHARS, fence_language, fenced_blocks, scan, sniff
from invariants import check_invariants

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PROSE = (CORPUS / "prose.txt").read_text(encoding="utf-8")
CODE = (CORPUS / "sample.py").read_text(encoding="utf-8")
GUIDE = (CORPUS / "guide.md").read_text(encoding="utf-8")

BIG_PYTHON = "\n\n".join(
    f"def function_{i}(value):\n    '''Return value plus {i}.'''\n    total = value + {i}\n"
    f"    return total\n"
    for i in range(30)
)
MIXED = (
    "# Title\n\nAn intro paragraph about the project. It explains things.\n\n"
    "## Setup\n\nInstall it first:\n\n```python\n" + BIG_PYTHON + "```\n\n"
    "After the code, more prose follows here.\n\n### Details\n\nA small block:\n\n"
    "```sh\npip install x\n```\n\nThe end.\n"
)

PARAMS: list[dict[str, Any]] = [
    {"chunk_size": 64},
    {"chunk_size": 40, "chunk_overlap": 8},
    {"chunk_size": 128, "tokenizer": "words"},
    {"chunk_size": 200, "tokenizer": "chars", "chunk_overlap": 20},
]


def _hybrid(text: str, filename: str | None, **params: Any) -> list[Chunk]:
    return chunkyard.chunk_text(text, "hybrid", filename=filename, **params)


def _spans(chunks: list[Chunk]) -> list[tuple[int, int]]:
    return [(c.start, c.end) for c in chunks]


# -- sniff -----------------------------------------------------------------------------------

def named(text: str, filename: str | None) -> tuple[str, str]:
    """What hybrid sniffs of `text` pasted (or stored) under `filename`: the Document's kind and
    language, judged by the name, outrank content."""
    doc = document_from_text(text, filename)
    return sniff(doc.text, kind=doc.kind, language=doc.language, name=doc.filename)


@pytest.mark.parametrize(("text", "filename", "kind"), [
    (GUIDE, "guide.md", "markdown"),
    (GUIDE, None, "markdown"),  # by content
    (GUIDE, "notes.txt", "markdown"),  # content wins over a plain-text extension
    (CODE, "sample.py", "code"),
    (CODE, None, "code"),  # by content, despite its `# ` comment lines
    (CODE, "sample.txt", "code"),
    (PROSE, "prose.txt", "prose"),
    (PROSE, None, "prose"),
    (PROSE, "prose.md", "markdown"),  # the extension outranks content
    (PROSE, "prose.rs", "code"),
    ("#!/bin/sh\necho hello\n", None, "code"),
    ("function add(a, b) {\n  const c = a + b;\n  return c;\n}\n", "snippet", "code"),
    (MIXED, None, "markdown"),  # its code is fenced: markdown, not code
    ("Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", None, "markdown"),
    ("Dear team:\nThe meeting is at noon; bring notes:\nThanks.\n", None, "prose"),
    ("", None, "prose"),
])
def test_sniff_kind(text: str, filename: str | None, kind: str) -> None:
    got, reason = named(text, filename)
    assert got == kind, reason
    assert reason.startswith(f"{kind}: ")


def test_sniff_reasons_quote_the_evidence() -> None:
    _, reason = named(GUIDE, None)
    signals = scan(GUIDE)
    assert f"{signals.headings} headings" in reason
    assert f"{signals.fences} fenced code blocks" in reason
    assert "table" in reason and "in the text" in reason
    _, reason = named(CODE, "sample.py")
    assert "sample.py is python source" in reason and "definitions" in reason
    _, reason = named(PROSE + "\n" * SNIFF_CHARS + "# a\n# b\n```\n", None)
    assert reason.startswith("prose: ") and "in the first 64 KB" in reason


def test_sniff_doc_kind_outranks_content() -> None:
    assert sniff(PROSE, kind="markdown")[0] == "markdown"
    assert sniff(PROSE, kind="code")[0] == "code"
    kind, reason = sniff(GUIDE, kind="html", name="page.html")
    assert kind == "prose" and "HTML" in reason


def test_sniff_only_reads_the_first_64_kb() -> None:
    text = PROSE + " " * SNIFF_CHARS + GUIDE
    assert sniff(text)[0] == "prose"
    assert scan(text).truncated and not scan(GUIDE).truncated


def test_fenced_blocks_and_their_language() -> None:
    blocks = fenced_blocks(MIXED)
    assert [MIXED[b.start:b.start + 9] for b in blocks] == ["```python", "```sh\npip"]
    assert all(MIXED[b.end - 3:b.end] == "```" for b in blocks)
    assert [fence_language(b.info) for b in blocks] == ["python", "shell"]
    assert fence_language("") is None and fence_language("text") is None
    unclosed = "intro\n~~~~\ncode\n```\nmore"
    (block,) = fenced_blocks(unclosed)
    assert (block.start, block.end) == (6, len(unclosed))


# -- the choice per document -----------------------------------------------------------------

def test_markdown_file_uses_markdown() -> None:
    chunks = _hybrid(GUIDE, "guide.md", chunk_size=128, split_code_blocks=False)
    assert chunks
    for c in chunks:
        assert c.metadata["strategy"] == "hybrid"
        assert c.metadata["chosen_strategy"] == "markdown"
        assert c.metadata["reason"].startswith("markdown: guide.md is a markdown file; ")
        assert "headings" in c.metadata["reason"]
    # Exactly what the markdown strategy makes.
    plain = chunkyard.chunk_text(GUIDE, "markdown", filename="guide.md", chunk_size=128)
    assert _spans(chunks) == _spans(plain)
    assert [c.metadata["headings"] for c in chunks] == [c.metadata["headings"] for c in plain]


def test_markdown_content_without_extension_uses_markdown() -> None:
    chunks = _hybrid(GUIDE, "guide", chunk_size=128)
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"markdown"}
    assert all(c.metadata["reason"].startswith("markdown: 18 headings") for c in chunks)


def test_python_file_uses_recursive_as_code() -> None:
    chunks = _hybrid(CODE, "sample.py", chunk_size=64)
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"recursive"}
    assert all(c.metadata["reason"].startswith("code: sample.py is python source")
               for c in chunks)
    assert all(c.metadata["language"] == "python" for c in chunks)
    plain = chunkyard.chunk_text(CODE, "recursive", filename="sample.py", chunk_size=64)
    assert _spans(chunks) == _spans(plain)


def test_code_recognised_from_content_is_split_at_definitions() -> None:
    chunks = _hybrid(CODE, None, chunk_size=64)
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"recursive"}
    assert all(c.metadata["reason"].startswith("code: ") for c in chunks)
    as_code = list(chunkyard.iter_chunks(Document(CODE, kind="code"), "recursive",
                                         {"chunk_size": 64}))
    as_prose = chunkyard.chunk_text(CODE, "recursive", chunk_size=64)
    assert _spans(chunks) == _spans(as_code)
    assert _spans(chunks) != _spans(as_prose)  # so the test above can tell them apart


def test_text_file_uses_recursive_as_prose() -> None:
    chunks = _hybrid(PROSE, "prose.txt", chunk_size=64)
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"recursive"}
    assert all(c.metadata["reason"].startswith("prose: ") for c in chunks)
    plain = chunkyard.chunk_text(PROSE, "recursive", filename="prose.txt", chunk_size=64)
    assert _spans(chunks) == _spans(plain)


def test_extracted_html_is_prose() -> None:
    doc = Document(GUIDE, kind="html", filename="page.html")
    chunks = list(chunkyard.iter_chunks(doc, "hybrid", {"chunk_size": 64}))
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"recursive"}
    assert all(c.metadata["reason"].startswith("prose: ") for c in chunks)


# -- per section: large code blocks in markdown ----------------------------------------------

def test_large_code_block_in_markdown_is_split_as_code() -> None:
    chunks = _hybrid(MIXED, "mixed.md", chunk_size=64)
    fence = fenced_blocks(MIXED)[0]
    code = [c for c in chunks if c.metadata["chosen_strategy"] == "recursive"]
    prose = [c for c in chunks if c.metadata["chosen_strategy"] == "markdown"]
    assert len(code) >= 5 and len(prose) >= 2
    for c in code:
        assert fence.start <= c.start < c.end <= fence.end
        assert c.metadata["language"] == "python"
        assert c.metadata["headings"] == ["Title", "Setup"]
        assert c.metadata["reason"].startswith("code: a ")
        assert "python block in a markdown document" in c.metadata["reason"]
    # Every cut inside the block falls at a top-level definition.
    assert all(MIXED.startswith("def function_", c.start) for c in code[1:])
    for c in prose:
        assert c.end <= fence.start or c.start >= fence.end
        assert c.metadata["reason"].startswith("markdown: mixed.md is a markdown file")
    # The heading path carries on after the code block.
    last = chunks[-1]
    assert last.metadata["chosen_strategy"] == "markdown"
    assert last.metadata["headings"][:2] == ["Title", "Setup"]
    details = [c for c in chunks if MIXED.find("### Details", c.start, c.end) == c.start]
    for c in details:
        assert c.metadata["headings"] == ["Title", "Setup", "Details"]


def test_small_code_blocks_stay_with_markdown() -> None:
    chunks = _hybrid(MIXED, "mixed.md", chunk_size=1024)
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"markdown"}


def test_split_code_blocks_off_leaves_everything_to_markdown() -> None:
    chunks = _hybrid(MIXED, "mixed.md", chunk_size=64, split_code_blocks=False)
    assert {c.metadata["chosen_strategy"] for c in chunks} == {"markdown"}
    plain = chunkyard.chunk_text(MIXED, "markdown", filename="mixed.md", chunk_size=64)
    assert _spans(chunks) == _spans(plain)


def test_heading_paths_carry_across_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    import chunkyard.core.strategy as strategy_module

    text = "# Top\n\n## Part\n\n" + "\n\n".join(f"Paragraph {i} of the part." for i in range(300))
    monkeypatch.setattr(strategy_module, "SEGMENT_CHARS", 1500)
    chunks = _hybrid(text, "long.md", chunk_size=32)
    assert chunks[-1].start > 1500 * 2  # several segments
    assert all(c.metadata["headings"] == ["Top", "Part"] for c in chunks[1:])


# -- every chunk: reason recorded, invariants held -------------------------------------------

@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize(("text", "filename"), [
    (GUIDE, "guide.md"), (CODE, "sample.py"), (PROSE, "prose.txt"), (MIXED, "mixed.md"),
    (CODE, None), (GUIDE, None),
])
def test_every_chunk_records_the_choice_and_the_cap_holds(
        text: str, filename: str | None, params: dict[str, Any]) -> None:
    chunks = _hybrid(text, filename, **params)
    check_invariants(text, chunks, params["chunk_size"], params.get("chunk_overlap", 0),
                     params.get("tokenizer", "cl100k"))
    for c in chunks:
        assert c.metadata["chosen_strategy"] in ("markdown", "recursive")
        reason = c.metadata["reason"]
        assert isinstance(reason, str) and len(reason.split()) >= 5
        assert reason.split(":", 1)[0] in ("markdown", "code", "prose")


def test_reused_instance_chooses_per_document() -> None:
    strategy = chunkyard.create_strategy("hybrid", {"chunk_size": 64})
    kinds = []
    for doc in (Document(CODE, "code", "sample.py", "python"), Document(PROSE, "text"),
                Document(CODE, "code", "sample.py", "python")):
        chunks = list(strategy.chunks(doc))
        kinds.append({c.metadata["reason"].split(":", 1)[0] for c in chunks})
    assert kinds == [{"code"}, {"prose"}, {"code"}]


def test_bad_parameter_names_the_field() -> None:
    with pytest.raises(chunkyard.ChunkingError, match="split_code_blocks"):
        _hybrid(PROSE, None, split_code_blocks="sometimes")
    with pytest.raises(chunkyard.ChunkingError, match="chunk_overlap"):
        _hybrid(PROSE, None, chunk_size=64, chunk_overlap=40)

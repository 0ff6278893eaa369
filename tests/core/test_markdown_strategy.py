"""The `markdown` strategy and its block parser: structure, heading paths, cuts, invariants."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import chunkyard
from chunkyard import Chunk, ChunkingError
from chunkyard.core.markdown_blocks import parse_blocks
from chunkyard.core.registry import list_strategies
from chunkyard.core.sizing import get_tokenizer
from growth import assert_linear
from invariants import check_invariants

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
TOK = get_tokenizer("cl100k")


def chunk(text: str, **params: Any) -> list[Chunk]:
    return chunkyard.chunk_text(text, "markdown", filename="doc.md", **params)


def prose(n: int, seed: int = 0) -> str:
    """`n` distinct sentences of plain prose."""
    words = ["river", "stone", "lantern", "orchard", "harbour", "meadow", "signal", "copper"]
    return " ".join(
        f"The {words[(i + seed) % 8]} number {i + seed} stood near the {words[(i * 3) % 8]}."
        for i in range(n)
    )


def code_block(lines: int, lang: str = "python") -> str:
    body = "\n".join(f"value_{i} = compute(value_{i - 1}, factor={i})  # step {i}"
                     for i in range(lines))
    return f"```{lang}\n{body}\n```"


def table(rows: int) -> str:
    head = "| Name | Size | Colour | Notes |\n|------|-----:|:------:|-------|\n"
    return head + "\n".join(f"| item {i} | {i * 7} | shade {i % 5} | kept on shelf {i} |"
                            for i in range(rows))


def inside(c: Chunk, start: int, end: int) -> bool:
    return c.start <= start and end <= c.end


OUTLINE = """# Alpha
Intro to alpha.

## Beta
Beta text.

### Gamma
Gamma text.

## Delta ##
Delta text.

Epsilon
=======
Epsilon text.

Zeta
----
Zeta text.
"""

MIXED = "\n\n".join([
    "---\ntitle: Mixed\ntags: [a, b]\n---",
    "# Mixed document",
    prose(6),
    "## Lists",
    "- first item\n  continued on a second line\n- second item\n  - nested item\n- third item",
    "1. one\n2. two\n3. three",
    "> A quoted line\n> and another one.\n>\n> A second quoted paragraph.",
    "## Code",
    code_block(12),
    "    indented code line one\n    indented code line two",
    "<!-- a comment\n\nwith a blank line inside -->",
    "<div>\nsome html\n</div>",
    "## Table",
    table(8),
    "***",
    "Setext title\n------------",
    prose(30, seed=3),
])


# -- the parser -----------------------------------------------------------------------------


def test_parser_finds_every_kind_with_exact_offsets() -> None:
    blocks = parse_blocks(MIXED)
    kinds = [b.kind for b in blocks]
    assert kinds == [
        "front_matter", "heading", "paragraph", "heading", "list", "list", "quote", "heading",
        "code", "code", "html", "html", "heading", "table", "hr", "heading", "paragraph",
    ]
    for b in blocks:
        piece = MIXED[b.start:b.end]
        assert piece == piece.strip() and piece, b
    # Every non-blank line lies inside exactly one block.
    pos = 0
    for line in MIXED.split("\n"):
        if line.strip():
            first = pos + len(line) - len(line.lstrip())
            owners = [b for b in blocks if b.start <= first < b.end]
            assert len(owners) == 1, line
        pos += len(line) + 1
    headings = [(b.level, b.title) for b in blocks if b.kind == "heading"]
    assert headings == [(1, "Mixed document"), (2, "Lists"), (2, "Code"), (2, "Table"),
                        (2, "Setext title")]
    lists = [b for b in blocks if b.kind == "list"]
    top, nested = lists[0].marks
    assert [MIXED[m:MIXED.index("\n", m)] for m in top] == ["- second item", "- third item"]
    assert [MIXED[m:MIXED.index("\n", m)].strip() for m in nested] == ["- nested item"]
    quote = next(b for b in blocks if b.kind == "quote")
    assert MIXED.startswith("> A second quoted paragraph.", quote.marks[0][0])
    code = next(b for b in blocks if b.kind == "code")
    assert code.info == "python" and MIXED[code.start:code.end].endswith("```")


def test_parser_fences_hide_headings_and_unclosed_fence_runs_to_the_end() -> None:
    text = ("# Real\n\n```python\n# not a heading\n```\n\n~~~~\n## also not\n```\n~~~~\n\n"
            "Para.\n\n````\n# unclosed\n\n## still code\n")
    blocks = parse_blocks(text)
    assert [(b.kind, b.title) for b in blocks] == [
        ("heading", "Real"), ("code", ""), ("code", ""), ("paragraph", ""), ("code", ""),
    ]
    assert text[blocks[-1].start:blocks[-1].end] == "````\n# unclosed\n\n## still code"


def test_parser_tables_need_a_delimiter_row() -> None:
    text = "a | b\nnot a delimiter\n\n| x | y |\n| - | :-: |\n| 1 | 2 |\n\nafter"
    assert [b.kind for b in parse_blocks(text)] == ["paragraph", "table", "paragraph"]
    text = "Intro line\n| x | y |\n|---|---|\n| 1 | 2 |"
    assert [b.kind for b in parse_blocks(text)] == ["paragraph", "table"]


def test_parser_respects_the_range() -> None:
    text = "# A\n\ntext\n\n# B\n\nmore"
    lo = text.index("# B")
    blocks = parse_blocks(text, lo, len(text))
    assert [(b.kind, b.start) for b in blocks] == [("heading", lo), ("paragraph", lo + 5)]


# -- headings and sections ------------------------------------------------------------------


def test_heading_paths_follow_the_outline() -> None:
    chunks = chunk(OUTLINE, min_fill=0.0, split_level=6)
    assert [c.metadata["headings"] for c in chunks] == [
        ["Alpha"], ["Alpha", "Beta"], ["Alpha", "Beta", "Gamma"], ["Alpha", "Delta"],
        ["Epsilon"], ["Epsilon", "Zeta"],
    ]
    for c in chunks:
        assert c.text.startswith(("#", "Epsilon", "Zeta"))
        assert c.metadata["block_types"] == ["heading", "paragraph"]
        assert c.metadata["strategy"] == "markdown"


def test_chunks_inside_a_long_section_carry_its_path() -> None:
    text = "# Top\n\nLead.\n\n## Section\n\n" + "\n\n".join(prose(4, k) for k in range(30))
    chunks = chunk(text, chunk_size=64)
    assert len(chunks) > 5
    assert chunks[0].metadata["headings"] == ["Top"]
    assert all(c.metadata["headings"] == ["Top", "Section"] for c in chunks[2:])


def expected_path(text: str, offset: int) -> list[str]:
    """The heading path in force at `offset`, from the headings of the whole text."""
    stack: list[tuple[int, str]] = []
    for b in parse_blocks(text):
        if b.kind != "heading" or b.start > offset:
            continue
        while stack and stack[-1][0] >= b.level:
            stack.pop()
        stack.append((b.level, b.title))
    return [title for _, title in stack]


def test_heading_paths_survive_segmenting_of_long_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Very long texts are chunked in independent segments; a later segment still knows the
    # section it starts in.
    monkeypatch.setattr("chunkyard.core.strategy.SEGMENT_CHARS", 1500)
    text = "\n\n".join(f"# Part {p}\n\n" + "\n\n".join(
        f"## Topic {p}.{t}\n\n{prose(3, p + t)}\n\n### Detail {t}\n\n{prose(6, t)}"
        for t in range(3)) for p in range(4))
    chunks = chunk(text, chunk_size=64)
    check_invariants(text, chunks, 64)
    assert len(text) > 3 * 1500
    for c in chunks:
        assert c.metadata["headings"] == expected_path(text, c.start), c.start


def test_hash_lines_inside_fences_are_not_headings() -> None:
    text = ("# Real\n\nSome text.\n\n```python\n# not a heading\nx = 1\n```\n\n"
            "~~~\n## also not\n~~~\n\nAfter.\n")
    for size in (16, 32, 512):
        chunks = chunk(text, chunk_size=size, min_fill=0.0, split_level=6)
        assert all(c.metadata["headings"] == ["Real"] for c in chunks), size
    fence = chunk(text, chunk_size=16, min_fill=0.0)
    assert any("# not a heading" in c.text and c.metadata["block_types"] == ["code"]
               for c in fence)


def test_small_sections_are_merged() -> None:
    sections = [f"## Part {i}\n\nA short note about part {i}." for i in range(12)]
    text = "\n\n".join(sections)
    assert len(chunk(text)) == 1
    merged = chunk(text, chunk_size=64)
    assert 1 < len(merged) < 12
    assert all(c.tokens >= 64 * 0.25 for c in merged[:-1])
    assert all(c.text.startswith("## Part") for c in merged)
    # With min_fill 0 every section of level <= split_level starts its own chunk.
    separate = chunk(text, chunk_size=64, min_fill=0.0)
    assert len(separate) == 12
    assert [c.metadata["headings"] for c in separate] == [[f"Part {i}"] for i in range(12)]


def test_split_level_decides_which_headings_start_chunks() -> None:
    text = "\n\n".join(f"## H{i}\n\n{prose(3, i)}\n\n### Sub {i}\n\n{prose(3, i + 50)}"
                       for i in range(4))
    level2 = chunk(text, chunk_size=512, min_fill=0.0, split_level=2)
    assert [c.text.split("\n", 1)[0] for c in level2] == ["## H0", "## H1", "## H2", "## H3"]
    level3 = chunk(text, chunk_size=512, min_fill=0.0, split_level=3)
    assert len(level3) == 8


def heading_ends(text: str) -> set[int]:
    return {b.end for b in parse_blocks(text) if b.kind == "heading"}


def only_headings(text: str, c: Chunk) -> bool:
    return all(b.kind == "heading" for b in parse_blocks(text, c.start, c.end))


@pytest.mark.parametrize("size", [16, 24, 40, 64, 128])
def test_a_heading_is_never_left_at_the_end_of_a_chunk(size: int) -> None:
    text = (CORPUS / "guide.md").read_text(encoding="utf-8") + "\n\n" + MIXED
    ends = heading_ends(text)
    chunks = chunk(text, chunk_size=size)
    for c in chunks[:-1]:
        assert c.end not in ends or only_headings(text, c), (size, c.text[-60:])


def test_a_heading_before_a_big_block_goes_with_its_first_piece() -> None:
    text = f"{prose(8)}\n\n## Big code\n\n{code_block(80)}\n\nTail."
    chunks = chunk(text, chunk_size=128)
    first = next(c for c in chunks if "## Big code" in c.text)
    assert "```python" in first.text
    assert first.metadata["headings"] == ["Big code"]


# -- blocks that fit stay whole; blocks that do not are cut at their own boundaries ---------


def whole_in_one(chunks: list[Chunk], start: int, end: int) -> bool:
    return any(inside(c, start, end) for c in chunks)


@pytest.mark.parametrize("make", [lambda: code_block(25), lambda: table(20)],
                         ids=["code", "table"])
def test_a_block_that_fits_is_never_split(make: Any) -> None:
    block = make()
    text = f"# Doc\n\n{prose(14)}\n\n{block}\n\n{prose(14, 7)}\n\n{block}\n\n{prose(5, 2)}"
    tokens = TOK.count(block)
    starts = [text.index(block), text.rindex(block)]
    split_by_windows = 0
    for size in sorted({tokens, tokens + 20, tokens + 100, max(tokens, 512)}):
        chunks = chunk(text, chunk_size=size)
        check_invariants(text, chunks, size)
        for s in starts:
            assert whole_in_one(chunks, s, s + len(block)), size
        plain = chunkyard.chunk_text(text, "character", chunk_size=size)
        split_by_windows += sum(not whole_in_one(plain, s, s + len(block)) for s in starts)
    # The check has teeth: a structure-blind splitter does cut these blocks (recursive no
    # longer does: it never cuts a unit that fits in a chunk to fill the one before).
    assert split_by_windows > 0


def line_starts_and_ends(text: str, c: Chunk) -> bool:
    before = text[text.rfind("\n", 0, c.start) + 1:c.start]
    return not before.strip() and (c.end == len(text) or text[c.end] == "\n")


@pytest.mark.parametrize("overlap", [0, 16])
def test_an_oversized_code_block_is_cut_at_line_boundaries(overlap: int) -> None:
    block = code_block(120)
    text = f"## Code\n\n{block}\n"
    chunks = chunk(text, chunk_size=96, chunk_overlap=overlap)
    check_invariants(text, chunks, 96, overlap)
    assert len(chunks) > 5
    if overlap == 0:
        assert all(line_starts_and_ends(text, c) for c in chunks)
    else:
        assert all(text[c.end] == "\n" for c in chunks[:-1])
        assert any(a.end > b.start for a, b in pairwise(chunks))
    assert all(c.metadata["language"] == "python" for c in chunks[1:])
    assert all(c.metadata["headings"] == ["Code"] for c in chunks)


def test_an_oversized_table_is_cut_at_rows_without_repeating_anything() -> None:
    block = table(120)
    text = f"Before.\n\n{block}\n\nAfter."
    chunks = chunk(text, chunk_size=100)
    check_invariants(text, chunks, 100)
    assert all(line_starts_and_ends(text, c) for c in chunks)
    assert sum("| Name |" in c.text for c in chunks) == 1
    assert "".join(c.text for c in chunks).count("| item ") == 120


def test_an_oversized_list_is_cut_at_items() -> None:
    items = "\n".join(f"- item {i}: {prose(1, i)}\n  with a continuation line {i}"
                      for i in range(80))
    text = f"# List\n\n{items}\n"
    chunks = chunk(text, chunk_size=80)
    check_invariants(text, chunks, 80)
    assert len(chunks) > 10
    assert all(c.text.startswith(("- item", "# List")) for c in chunks)


def test_an_oversized_paragraph_is_cut_at_sentences() -> None:
    text = prose(200)
    chunks = chunk(text, chunk_size=64)
    check_invariants(text, chunks, 64)
    assert all(c.text.endswith(".") for c in chunks)


def test_a_single_row_larger_than_the_cap_is_still_cut() -> None:
    row = "| " + " | ".join(f"cell {i} text" for i in range(200)) + " |"
    text = f"| a |\n|---|\n{row}\n"
    chunks = chunk(text, chunk_size=32)
    check_invariants(text, chunks, 32)


# -- overlap, params, invariants ------------------------------------------------------------


def test_overlap_is_used_and_bounded() -> None:
    text = "\n\n".join(f"## S{i}\n\n{prose(6, i)}" for i in range(20))
    chunks = chunk(text, chunk_size=64, chunk_overlap=24)
    check_invariants(text, chunks, 64, 24)
    overlapping = [(a, b) for a, b in pairwise(chunks) if b.start < a.end]
    assert overlapping
    plain = chunk(text, chunk_size=64)
    assert all(b.start >= a.end for a, b in pairwise(plain))


def test_params_are_validated_and_described() -> None:
    for bad in ({"split_level": 0}, {"split_level": 7}, {"min_fill": -0.1}, {"min_fill": 1.5}):
        with pytest.raises(ChunkingError, match=next(iter(bad))):
            chunk("# x", **bad)
    info = next(s for s in list_strategies() if s.name == "markdown")
    assert "heading" in info.description
    props = info.params_schema["properties"]
    for name in ("split_level", "min_fill", "chunk_size", "chunk_overlap", "tokenizer"):
        assert props[name]["description"]
    assert props["split_level"]["default"] == 2


DOCUMENTS = {
    "outline": OUTLINE,
    "mixed": MIXED,
    "code-heavy": "\n\n".join(f"### f{i}\n\n{prose(2, i)}\n\n{code_block(8 + i * 9, 'js')}"
                              for i in range(8)),
    "crlf-unicode": ("# Überschrift\r\n\r\nText mit Umlauten äöü und 😀 emoji.\r\n\r\n"
                     "## 中文\r\n\r\n" + "中文字符的句子。" * 80
                     + "\r\n\r\n| a | b |\r\n|---|---|\r\n| 😀 | ü |\r\n"),
    "no-structure": prose(150),
}
if (CORPUS / "guide.md").exists():
    DOCUMENTS["guide.md"] = (CORPUS / "guide.md").read_text(encoding="utf-8")

CONFIGS = [
    {"chunk_size": 512},
    {"chunk_size": 64, "chunk_overlap": 16},
    {"chunk_size": 16},
    {"chunk_size": 40, "chunk_overlap": 20, "split_level": 1, "min_fill": 0.0},
    {"chunk_size": 30, "tokenizer": "words", "chunk_overlap": 10},
    {"chunk_size": 200, "tokenizer": "chars", "min_fill": 1.0, "split_level": 6},
]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "-".join(map(str, p.values())))
def test_invariants_on_documents(name: str, params: dict[str, Any]) -> None:
    text = DOCUMENTS[name]
    chunks = chunk(text, **params)
    check_invariants(text, chunks, params["chunk_size"], params.get("chunk_overlap", 0),
                     params.get("tokenizer", "cl100k"))
    assert all(c.metadata["block_types"] == sorted(set(c.metadata["block_types"]))
               for c in chunks)
    assert [c.to_dict() for c in chunk(text, **params)] == [c.to_dict() for c in chunks]


# Found by fuzzing; both are in the shared `split_range` (splitter.py), which cuts oversized
# blocks. They fail for `recursive` too.
SPLITTER_BUGS = [
    pytest.param(
        "\n\né |---|---##     ## =\n\n## \r\n```💥## é_\r\n## 💥<!--💥<!--texté|---| <div>-->"
        "\n~~~- *** |  | # ------|---|<!--\r\n|💥```---## é\n#|1. # # =|---|=        é_1.",
        {"chunk_size": 32, "min_fill": 1.0, "split_level": 1},
        id="text-dropped-when-fit_within-shrinks-below-the-boundary",
    ),
    pytest.param(
        "## T\n\n```\ncode\n \n\n💥xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|---|~~~# ```\n# H\n"
        "|<!-->  | - textword  | word  |  text--> | -->|1.  text\n## T\n\n```\ncode\n",
        {"chunk_size": 20, "chunk_overlap": 8},
        id="overlap-start-on-whitespace-breaks-order",
    ),
]


@pytest.mark.parametrize(("text", "params"), SPLITTER_BUGS)
def test_invariants_where_split_range_used_to_fail(text: str, params: dict[str, Any]) -> None:
    check_invariants(text, chunk(text, **params), params["chunk_size"],
                     params.get("chunk_overlap", 0))


# -- pathological inputs --------------------------------------------------------------------

CHARS = ["*", "_", "#", "`", "[", "\\", " ", "\t"]
# name -> (head, unit, repeats): the text is head + unit * repeats, 0.8-1 MB.
PATHOLOGICAL: dict[str, tuple[str, str, int]] = {
    **{f"lines-{c!r}": ("", c * 9 + "\n", 100_000) for c in CHARS},
    **{f"spaced-{c!r}": ("", c + " ", 500_000) for c in CHARS},
    "mixed": ("", "*_#`[\\ \t", 125_000),
    "mixed-lines": ("", "*_#`[\\ \t\n" + "# ", 100_000),
    "empty-headings": ("", "#\n", 500_000),
    "fences": ("", "```\n", 250_000),
    "quotes": ("", "> ", 500_000),
    "bullets": ("", "- ", 500_000),
    "pipes": ("", "|", 1_000_000),
    "table-rows": ("| a |\n|---|\n", "|\n", 500_000),
    "comments": ("", "<!--", 250_000),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_inputs_chunk_in_linear_time(name: str) -> None:
    head, unit, repeats = PATHOLOGICAL[name]
    text = head + unit * repeats
    assert len(text) >= 800_000
    check_invariants(text, chunk(text), 512)
    # Typically 0.3-3 s (mostly tokenizing); a backtracking regex would take hours.
    assert_linear(lambda n: chunk(head + unit * n), repeats)

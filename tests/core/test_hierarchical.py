"""The `hierarchical` strategy: levels, sizes, parent/child containment and `parent_index`."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chunkyard
from chunkyard import Chunk, ChunkingError, Document
from chunkyard.core.sizing import get_tokenizer
from invariants import check_invariants

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PROSE = (CORPUS / "prose.txt").read_text(encoding="utf-8")
CODE = (CORPUS / "sample.py").read_text(encoding="utf-8")
GUIDE = (CORPUS / "guide.md").read_text(encoding="utf-8")
LONG = "\n\n".join([PROSE, GUIDE, PROSE.replace(". ", ".\n")])

CONFIGS: list[dict[str, Any]] = [
    {"chunk_size": 32},
    {"chunk_size": 48, "parent_sizes": [160], "chunk_overlap": 12},
    {"chunk_size": 24, "levels": 3},
    {"chunk_size": 20, "levels": 3, "parent_sizes": [300, 70], "chunk_overlap": 5},
    {"chunk_size": 40, "tokenizer": "words", "levels": 3, "parent_sizes": [400, 100]},
    {"chunk_size": 64, "tokenizer": "chars", "parent_sizes": [200]},
]


def _sizes(params: dict[str, Any]) -> list[int]:
    """Sizes per level, outermost first, as the strategy resolved them."""
    p = chunkyard.create_strategy("hierarchical", params).params
    return [*p.parent_sizes, p.chunk_size]  # type: ignore[attr-defined]


def _both(text: str, params: dict[str, Any], filename: str = "doc.txt",
          ) -> tuple[list[Chunk], list[Chunk]]:
    leaves = chunkyard.chunk_text(text, "hierarchical", filename=filename, **params)
    full = chunkyard.chunk_text(text, "hierarchical", filename=filename, include_parents=True,
                                **params)
    return leaves, full


# -- parameters ------------------------------------------------------------------------------

def test_defaults_are_two_levels_with_a_four_times_parent() -> None:
    p = chunkyard.create_strategy("hierarchical").params
    assert p.levels == 2  # type: ignore[attr-defined]
    assert p.parent_sizes == [2048]  # type: ignore[attr-defined]
    assert p.include_parents is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("params", "expected"), [
    ({"chunk_size": 512, "levels": 3}, [8192, 2048, 512]),
    ({"chunk_size": 100}, [400, 100]),
    ({"chunk_size": 4096}, [8192, 4096]),
    ({"chunk_size": 4096, "levels": 3}, [8192, 5793, 4096]),
    ({"chunk_size": 64, "levels": 3, "parent_sizes": [1000, 65]}, [1000, 65, 64]),
])
def test_sizes_are_strictly_decreasing_and_bounded(params: dict[str, Any],
                                                   expected: list[int]) -> None:
    sizes = _sizes(params)
    assert sizes == expected
    assert all(a > b for a, b in pairwise(sizes))
    assert max(sizes) <= 8192


@pytest.mark.parametrize(("params", "field"), [
    ({"levels": 1}, "levels"),
    ({"levels": 4}, "levels"),
    ({"parent_sizes": [512]}, "parent_sizes"),  # equal to chunk_size
    ({"parent_sizes": [100]}, "parent_sizes"),  # below chunk_size
    ({"parent_sizes": [9000]}, "parent_sizes"),  # above 8192
    ({"parent_sizes": [2048, 1024]}, "parent_sizes"),  # one too many for 2 levels
    ({"levels": 3, "parent_sizes": [2048]}, "parent_sizes"),  # one too few for 3 levels
    ({"levels": 3, "parent_sizes": [1024, 2048]}, "parent_sizes"),  # increasing
    ({"levels": 3, "parent_sizes": [2048, 2048]}, "parent_sizes"),  # not strictly
    ({"parent_sizes": ["big"]}, "parent_sizes"),
    ({"chunk_size": 8192}, "parent_sizes"),  # no room for a parent
    ({"chunk_size": 8191, "levels": 3}, "parent_sizes"),
    ({"include_parents": "perhaps"}, "include_parents"),
    ({"parent_multiplier": 4}, "parent_multiplier"),  # unknown parameter
])
def test_bad_parameters_raise_naming_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ChunkingError, match=field):
        chunkyard.chunk_text(PROSE, "hierarchical", **params)


def test_schema_documents_every_field() -> None:
    info = {s.name: s for s in chunkyard.list_strategies()}["hierarchical"]
    props = info.params_schema["properties"]
    for name in ("levels", "parent_sizes", "include_parents", "chunk_size"):
        assert props[name]["description"]
    assert info.params_schema["additionalProperties"] is False


# -- structure -------------------------------------------------------------------------------

@pytest.mark.parametrize("params", CONFIGS)
def test_every_chunk_fits_its_level_and_children_cover_their_parent(
        params: dict[str, Any]) -> None:
    sizes = _sizes(params)
    tok = get_tokenizer(params.get("tokenizer", "cl100k"))
    _, full = _both(LONG, params)
    assert {c.metadata["level"] for c in full} == set(range(len(sizes)))
    for c in full:
        level = c.metadata["level"]
        assert c.tokens == tok.count(c.text) <= sizes[level], (c.index, level, c.tokens)
        assert c.metadata["leaf"] is (level == len(sizes) - 1)
        assert c.text == LONG[c.start:c.end]
    for parent in (c for c in full if not c.metadata["leaf"]):
        children = [c for c in full if c.metadata["parent_index"] == parent.index]
        assert children, f"parent {parent.index} has no children"
        assert all(c.metadata["level"] == parent.metadata["level"] + 1 for c in children)
        assert all(parent.start <= c.start < c.end <= parent.end for c in children)
        # The children cover every non-whitespace character of the parent, nothing else.
        covered = [False] * (parent.end - parent.start)
        for c in children:
            for i in range(c.start, c.end):
                covered[i - parent.start] = True
        missed = [LONG[parent.start + i] for i, hit in enumerate(covered)
                  if not hit and not LONG[parent.start + i].isspace()]
        assert not missed, f"parent {parent.index} lost {''.join(missed)[:40]!r}"


@pytest.mark.parametrize("params", CONFIGS)
def test_top_parents_tile_the_text(params: dict[str, Any]) -> None:
    _, full = _both(LONG, params)
    tops = [c for c in full if c.metadata["level"] == 0]
    assert all(c.metadata["parent_index"] is None for c in tops)
    assert all(c.metadata["parent_start"] is None and c.metadata["parent_end"] is None
               for c in tops)
    assert all(a.end <= b.start for a, b in pairwise(tops)), "overlap"
    # Alone, the top parents are a valid chunking at their own size (renumbered 0..n-1).
    renumbered = [replace(c, index=i) for i, c in enumerate(tops)]
    check_invariants(LONG, renumbered, _sizes(params)[0], 0, params.get("tokenizer", "cl100k"))


def test_parents_are_real_parents_not_single_leaves() -> None:
    """On a long text a parent holds several leaves, and the leaves are the small ones."""
    leaves, full = _both(LONG, {"chunk_size": 32})
    parents = [c for c in full if c.metadata["level"] == 0]
    assert len(parents) >= 3
    assert len(leaves) >= 3 * len(parents)
    assert max(c.tokens for c in parents) > 32 * 2


# -- parent_index ----------------------------------------------------------------------------

@pytest.mark.parametrize("params", CONFIGS)
def test_parent_index_points_at_the_parent_in_the_full_output(params: dict[str, Any]) -> None:
    _, full = _both(LONG, params)
    for c in full:
        if c.metadata["level"] == 0:
            continue
        parent = full[c.metadata["parent_index"]]
        assert parent.index == c.metadata["parent_index"]
        assert parent.metadata["level"] == c.metadata["level"] - 1
        assert (parent.start, parent.end) == (c.metadata["parent_start"],
                                              c.metadata["parent_end"])
        assert parent.index < c.index


@pytest.mark.parametrize("params", CONFIGS)
def test_each_parent_comes_right_before_its_children(params: dict[str, Any]) -> None:
    _, full = _both(LONG, params)
    for prev, c in pairwise(full):
        assert c.start >= prev.start
        if c.metadata["level"] > prev.metadata["level"]:
            # Going down a level: the previous chunk is this chunk's parent.
            assert c.metadata["parent_index"] == prev.index
            assert c.start == prev.start


@pytest.mark.parametrize("params", CONFIGS)
def test_leaves_only_output_is_the_full_output_without_parents(params: dict[str, Any]) -> None:
    leaves, full = _both(LONG, params)
    depth = len(_sizes(params)) - 1
    full_leaves = [c for c in full if c.metadata["leaf"]]
    assert all(c.metadata["leaf"] and c.metadata["level"] == depth for c in leaves)
    assert [(c.start, c.end, c.tokens) for c in leaves] == [
        (c.start, c.end, c.tokens) for c in full_leaves]
    # parent_index means the same in both modes: the parent's index in the full output.
    assert [c.metadata for c in leaves] == [c.metadata for c in full_leaves]
    for c in leaves:
        parent = full[c.metadata["parent_index"]]
        assert LONG[c.metadata["parent_start"]:c.metadata["parent_end"]] == parent.text


@pytest.mark.parametrize("params", CONFIGS)
@pytest.mark.parametrize("name", ["prose", "code", "guide"])
def test_leaves_only_output_satisfies_the_spec_invariants(params: dict[str, Any],
                                                          name: str) -> None:
    text, filename = {"prose": (PROSE * 2, "a.txt"), "code": (CODE, "sample.py"),
                      "guide": (GUIDE, "guide.md")}[name]
    leaves = chunkyard.chunk_text(text, "hierarchical", filename=filename, **params)
    check_invariants(text, leaves, params["chunk_size"], params.get("chunk_overlap", 0),
                     params.get("tokenizer", "cl100k"))


def test_overlap_applies_to_leaves_within_a_parent_only() -> None:
    params = {"chunk_size": 40, "chunk_overlap": 10, "parent_sizes": [200]}
    leaves, full = _both(LONG, params)
    tops = {c.index: c for c in full if c.metadata["level"] == 0}
    assert sum(1 for a, b in pairwise(leaves) if b.start < a.end) > 0
    for a, b in pairwise(leaves):
        if a.metadata["parent_index"] != b.metadata["parent_index"]:
            assert a.end <= b.start  # a child never crosses its parent's boundary
    ordered = sorted(tops.values(), key=lambda c: c.start)
    assert all(a.end <= b.start for a, b in pairwise(ordered))


def test_code_documents_split_parents_at_definitions() -> None:
    leaves, full = _both(CODE, {"chunk_size": 48, "parent_sizes": [300]}, "sample.py")
    parents = [c for c in full if c.metadata["level"] == 0]
    assert len(parents) >= 2
    # After the first, parents start at a top-level definition (or its decorator).
    starts = [CODE[c.start:c.start + 6] for c in parents[1:]]
    assert all(s.startswith(("def ", "class ", "@", "if __")) for s in starts), starts
    assert all(c.metadata.get("language") == "python" for c in leaves)


def test_parent_index_keeps_counting_across_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """A very long text is chunked in segments; the numbering must run across them."""
    import chunkyard.core.strategy as strategy_module

    monkeypatch.setattr(strategy_module, "SEGMENT_CHARS", 2000)
    text = LONG * 2
    params = {"chunk_size": 32, "parent_sizes": [120], "levels": 2}
    leaves, full = _both(text, params)
    assert len({c.metadata["parent_index"] for c in leaves}) > 5
    for c in full:
        if c.metadata["level"] > 0:
            parent = full[c.metadata["parent_index"]]
            assert (parent.start, parent.end) == (c.metadata["parent_start"],
                                                  c.metadata["parent_end"])
    assert [c.metadata for c in leaves] == [c.metadata for c in full if c.metadata["leaf"]]


def test_a_strategy_instance_can_be_reused_across_documents() -> None:
    strategy = chunkyard.create_strategy("hierarchical", {"chunk_size": 32,
                                                          "include_parents": True})
    first = list(strategy.chunks(Document(LONG)))
    list(strategy.chunks(Document(PROSE)))
    again = list(strategy.chunks(Document(LONG)))
    assert [c.to_dict() for c in again] == [c.to_dict() for c in first]
    assert first[1].metadata["parent_index"] == 0


def test_iter_chunks_on_a_document_with_headings_keeps_heading_metadata() -> None:
    doc = Document(GUIDE, kind="markdown", filename="guide.md",
                   headings=[chunkyard.Heading(0, 1, "Field Guide to the Tidewater Garden")])
    chunks = list(chunkyard.iter_chunks(doc, "hierarchical", {"chunk_size": 64}))
    assert chunks and all(c.metadata["headings"] == ["Field Guide to the Tidewater Garden"]
                          for c in chunks)
    assert all(c.metadata["strategy"] == "hierarchical" for c in chunks)


def test_short_text_is_one_parent_with_one_leaf() -> None:
    leaves, full = _both("  A short note.\n", {"chunk_size": 32})
    assert [(c.start, c.end, c.metadata["level"]) for c in full] == [(2, 15, 0), (2, 15, 1)]
    assert leaves[0].metadata["parent_index"] == 0
    assert chunkyard.chunk_text(" \n\t ", "hierarchical", include_parents=True) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(st.sampled_from(["word ", "Sentence. ", "\n", "\n\n", "x" * 90, "中文",
                                   "def f():\n    return 1\n", "😀 "]), max_size=120).map("".join),
    levels=st.sampled_from([2, 3]),
    chunk_size=st.sampled_from([16, 24, 40]),
    tokenizer=st.sampled_from(["cl100k", "words", "chars"]),
)
def test_properties_hold_on_generated_text(text: str, levels: int, chunk_size: int,
                                           tokenizer: str) -> None:
    params: dict[str, Any] = {"chunk_size": chunk_size, "levels": levels,
                              "tokenizer": tokenizer, "chunk_overlap": chunk_size // 4}
    leaves, full = _both(text, params)
    check_invariants(text, leaves, chunk_size, chunk_size // 4, tokenizer)
    sizes = _sizes(params)
    for c in full:
        assert c.tokens <= sizes[c.metadata["level"]]
        if c.metadata["level"]:
            parent = full[c.metadata["parent_index"]]
            assert parent.start <= c.start < c.end <= parent.end
    assert [c.metadata for c in leaves] == [c.metadata for c in full if c.metadata["leaf"]]

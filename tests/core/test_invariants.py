"""Property tests: SPEC section 1 invariants for all six strategies and three tokenizers."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chunkyard
from chunkyard.core.registry import strategy_names
from invariants import check_invariants

PIECES = st.sampled_from(
    [
        "word", "Chunk", "yard", "é", "naïve", "中文字符", "日本語の文", "😀", "👩‍💻", "e\u0301",
        "a\u0308\u0301", " ", "  ", "\t", "\n", "\r\n", "\n\n", "\r\n\r\n", ". ", "! ", "? ",
        ", ", "; ", "。", "# ", "## Heading\n", "```\n", "| a | b |\n", "- item\n", "> quote\n",
        "def f(x):\n    return x\n", "*", "_", "`", "[", "\\", "-" * 40, "x" * 200,
        "\u00a0", "\u3000",
    ]
)
TEXTS = st.one_of(
    st.lists(PIECES, max_size=80).map("".join),
    st.text(max_size=300),
    st.sampled_from(["", " ", "\n\n\n", "\t \r\n", "x", "😀" * 500, "中" * 700, "a" * 3000]),
)
FILENAMES = st.sampled_from([None, "doc.txt", "doc.md", "mod.py"])


def _params(data: st.DataObject, strategy: str) -> dict[str, object]:
    tokenizer = data.draw(st.sampled_from(["cl100k", "words", "chars"]), label="tokenizer")
    size = data.draw(st.sampled_from([16, 24, 40, 64]), label="chunk_size")
    overlap = data.draw(st.sampled_from([0, 0, 4, size // 2]), label="overlap")
    params: dict[str, object] = {"chunk_size": size, "chunk_overlap": overlap,
                                 "tokenizer": tokenizer}
    return params


@pytest.mark.parametrize("strategy", strategy_names())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, filename=FILENAMES, data=st.data())
def test_invariants_hold_for_every_strategy(
    strategy: str, text: str, filename: str | None, data: st.DataObject
) -> None:
    params = _params(data, strategy)
    chunks = chunkyard.chunk_text(text, strategy, filename=filename, **params)
    check_invariants(text, chunks, int(params["chunk_size"]),  # type: ignore[call-overload]
                     int(params["chunk_overlap"]), str(params["tokenizer"]))  # type: ignore[call-overload]
    again = chunkyard.chunk_text(text, strategy, filename=filename, **params)
    assert [c.to_dict() for c in again] == [c.to_dict() for c in chunks], "not deterministic"


@pytest.mark.parametrize("strategy", strategy_names())
@pytest.mark.parametrize("char", ["*", "_", "#", "`", "[", "\\", " ", "\t"])
def test_pathological_repeats_chunk_in_linear_time(strategy: str, char: str) -> None:
    """1 MB of a character that makes other splitters' regexes backtrack catastrophically.

    The bound is generous (a backtracking regex takes hours here, not seconds); speed itself
    is measured in bench/, not here.
    """
    text = char * 1_000_000
    started = time.perf_counter()
    chunks = chunkyard.chunk_text(text, strategy, filename="x.md", chunk_size=512)
    elapsed = time.perf_counter() - started
    check_invariants(text, chunks, 512)
    assert elapsed < 30, f"{strategy} took {elapsed:.1f}s on 1 MB of {char!r}"


def test_the_registry_is_the_one_list_and_refuses_a_second_registration() -> None:
    from chunkyard.core.registry import register, strategy_class

    assert strategy_names() == (
        "character", "recursive", "markdown", "semantic", "hierarchical", "hybrid")
    existing = strategy_class("recursive")

    class Impostor(existing):  # type: ignore[valid-type,misc]
        pass

    with pytest.raises(ValueError, match="'recursive' is registered twice"):
        register("recursive", rank=99)(Impostor)
    assert strategy_class("recursive") is existing


@pytest.mark.parametrize("strategy", ["markdown", "hybrid", "hierarchical"])
def test_one_configured_strategy_serves_documents_interleaved(strategy: str) -> None:
    # Strategies with per-document state split each document on an instance of its own.
    from chunkyard.core.registry import create_strategy
    from chunkyard.core.types import Document

    texts = ["# A\n\n" + "alpha words here. " * 400 + "\n\n## B\n\n" + "beta words. " * 300,
             "# C\n\n" + "gamma words there. " * 500 + "\n\n### D\n\n" + "delta. " * 200]
    docs = [Document(t, "markdown", f"{i}.md") for i, t in enumerate(texts)]
    shared = create_strategy(strategy, {"chunk_size": 64})
    alone = [[(c.start, c.end, c.metadata) for c in create_strategy(
        strategy, {"chunk_size": 64}).chunks(d)] for d in docs]
    streams = [shared.chunks(d) for d in docs]
    together: list[list[tuple[int, int, dict[str, object]]]] = [[], []]
    pending = {0, 1}
    while pending:
        for i in sorted(pending):
            chunk = next(streams[i], None)
            if chunk is None:
                pending.discard(i)
            else:
                together[i].append((chunk.start, chunk.end, chunk.metadata))
    assert together == alone and all(len(a) > 5 for a in alone)

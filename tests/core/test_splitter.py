"""The splitter's merge rule (core/splitter.py): chunks follow the units of the text.

- the rest of a unit too big for one chunk is never glued onto the start of the next unit;
- a unit that fits in a chunk is never cut to fill the chunk before it;
- a unit too big for one chunk is cut into pieces of about equal size, not full pieces and a
  small remainder;
and the invariants and linear time hold, for every tokenizer and with overlap.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chunkyard
from chunkyard.core.sizing import get_tokenizer
from growth import assert_linear
from invariants import check_invariants

TOK = get_tokenizer("cl100k")


def sentences(n: int, seed: int = 0) -> str:
    words = ["river", "mill", "meadow", "farmer", "grain", "ledger", "harbour", "lamp",
             "winter", "storm", "boat", "keeper"]
    out = []
    for i in range(n):
        k = (i * 7 + seed) % len(words)
        out.append(f"The {words[k]} and the {words[(k + 3) % len(words)]} met at dawn number "
                   f"{i + seed}.")
    return " ".join(out)


def paragraph_of(tokens: int, seed: int = 0) -> str:
    """A paragraph of whole sentences with about `tokens` cl100k tokens."""
    n = 1
    while TOK.count(sentences(n + 1, seed)) <= tokens:
        n += 1
    return sentences(n, seed)


def chunk(text: str, size: int, **params: object) -> list[chunkyard.Chunk]:
    chunks = chunkyard.chunk_text(text, "recursive", chunk_size=size, **params)
    check_invariants(text, chunks, size, int(params.get("chunk_overlap", 0)),  # type: ignore[call-overload]
                     str(params.get("tokenizer", "cl100k")))
    return chunks


def spans_of(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S(?:.*\S)?", text)]


def test_the_rest_of_a_cut_paragraph_is_not_glued_onto_the_next() -> None:
    size = 100
    big, small = paragraph_of(160, 1), paragraph_of(30, 2)
    text = "\n\n".join([big, small, paragraph_of(40, 3)])
    chunks = chunk(text, size)
    big_end = len(big)
    small_start = text.index(small)
    # The big paragraph is cut; no chunk holds both its last piece and the next paragraph.
    assert sum(c.start < big_end for c in chunks) >= 2
    assert not any(c.start < big_end and c.end > small_start for c in chunks)


def test_a_paragraph_that_fits_is_not_cut_to_fill_the_chunk_before() -> None:
    size = 100
    first, second = paragraph_of(25, 1), paragraph_of(90, 2)
    text = f"{first}\n\n{second}\n\n{paragraph_of(60, 3)}"
    chunks = chunk(text, size)
    s = text.index(second)
    assert any(c.start <= s and c.end >= s + len(second) for c in chunks)


@pytest.mark.parametrize("tokens", [150, 260, 390])
def test_an_oversized_paragraph_is_cut_into_equal_pieces(tokens: int) -> None:
    size = 100
    para = paragraph_of(tokens, 4)
    text = f"{para}\n\n{paragraph_of(50, 5)}"
    chunks = [c for c in chunk(text, size) if c.end <= len(para)]
    total = TOK.count(para)
    assert len(chunks) == -(-total // size)  # the fewest pieces that fit
    share = total / len(chunks)
    # Equal up to a sentence (about 17 tokens here) either side, and no small remainder.
    assert all(abs(c.tokens - share) <= 20 for c in chunks), [c.tokens for c in chunks]


def test_pieces_of_a_long_sentence_stay_inside_it() -> None:
    long_sentence = " ".join(f"word{i}" for i in range(400)) + "."
    text = f"{long_sentence} {sentences(6)}"
    chunks = chunk(text, 64)
    end = len(long_sentence)
    assert not any(c.start < end < c.end for c in chunks)


def test_overlap_still_follows_the_units() -> None:
    big = paragraph_of(230, 6)
    text = f"{big}\n\n{paragraph_of(40, 7)}\n\n{paragraph_of(40, 8)}"
    chunks = chunk(text, 100, chunk_overlap=16)
    # Every chunk adds new text.
    news = [c.end - max(c.start, p.end) for p, c in pairwise(chunks)]
    assert all(n > 0 for n in news)


PARAGRAPHS = st.lists(
    st.tuples(st.integers(1, 60), st.integers(0, 3)), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(PARAGRAPHS, st.sampled_from([16, 40, 100]), st.sampled_from(["cl100k", "chars", "words"]),
       st.sampled_from([0, 8]))
def test_invariants_on_mixed_units(paras: list[tuple[int, int]], size: int, tokenizer: str,
                                   overlap: int) -> None:
    seps = ["\n\n", "\n", " ", "\n \n"]
    text = ""
    for n, sep in paras:
        text += sentences(n, n) + seps[sep]
    chunk(text, size, tokenizer=tokenizer, chunk_overlap=min(overlap, size // 2))


@pytest.mark.parametrize("kind", ["sentences", "lines", "nospace"])
def test_linear_time(kind: str) -> None:
    unit = {
        "sentences": sentences(40) + " ",  # one paragraph, cut many times
        "lines": sentences(3) + "\n",
        "nospace": "x" * 1000,
    }[kind]

    def run(n: int) -> None:
        chunkyard.chunk_text(unit * max(1, n // len(unit)), "recursive", chunk_size=64,
                             tokenizer="chars")

    assert_linear(run, 2_000_000)

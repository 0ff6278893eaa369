"""The sizing protocol every tokenizer implements, and the shared search logic."""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

# Python's str.isspace() set; used to keep chunk edges off whitespace.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class Tokenizer(ABC):
    """Counts tokens of a string; `name` is what users pass as the `tokenizer` parameter."""

    name: str

    @abstractmethod
    def count(self, text: str) -> int:
        """Exact token count of `text`."""

    @abstractmethod
    def measure(self, text: str, lo: int = 0, hi: int | None = None) -> Measure:
        """Index `text[lo:hi]` for span queries with absolute offsets."""


class Measure(ABC):
    """Token counts of spans of one indexed text region `[lo, hi)`; offsets are absolute."""

    def __init__(self, text: str, lo: int, hi: int) -> None:
        self.text = text
        self.lo = lo
        self.hi = hi

    @abstractmethod
    def count(self, a: int, b: int) -> int:
        """Exact token count of `text[a:b]`."""

    @abstractmethod
    def fit(self, a: int, limit: int, cap: int) -> int:
        """The largest `e` in `(a, limit]` with `count(a, e) <= cap` (at least `a + 1`)."""

    def back(self, b: int, floor: int, budget: int) -> int:
        """The smallest `s` in `[floor, b]` with `count(s, b) <= budget`, on a word start.

        Used for overlap: the next chunk starts this far back before the previous end.
        """
        if budget <= 0 or b <= floor:
            return b
        # Snap to a word start before checking: dropping a leading space can re-tokenize
        # into one more token, so the budget is checked on the span actually used.
        s = self._next_word_start(self._back_estimate(b, floor, budget), b)
        while s < b and self.count(s, b) > budget:
            s = self._next_word_start(s + 1, b)
        return s

    def _back_estimate(self, b: int, floor: int, budget: int) -> int:
        # Generic: walk back word by word; subclasses with an index do better.
        s = b
        text = self.text
        while s > floor:
            p = s - 1
            while p > floor and text[p] in WHITESPACE:
                p -= 1
            while p > floor and text[p - 1] not in WHITESPACE:
                p -= 1
            if self.count(p, b) > budget:
                break
            s = p
        return s

    def _next_word_start(self, s: int, b: int) -> int:
        """`s` if it starts a word, else the start of the next word (or `b`)."""
        text = self.text
        if s >= b:
            return b
        if s > self.lo and text[s - 1] not in WHITESPACE:
            while s < b and text[s] not in WHITESPACE:
                s += 1
        while s < b and text[s] in WHITESPACE:
            s += 1
        return s


class IndexedMeasure(Measure):
    """A measure backed by one tokenization of the whole region.

    `pos[k]` are character offsets where a token boundary falls on a character boundary and
    `cnt[k]` the number of tokens before it. They give estimates; `count` stays exact.
    """

    def __init__(self, text: str, lo: int, hi: int, pos: Sequence[int], cnt: Sequence[int]) -> None:
        super().__init__(text, lo, hi)
        self.pos = pos
        self.cnt = cnt

    def tokens_before(self, a: int) -> int:
        """Global tokens before the last indexed boundary at or before `a` (an estimate)."""
        k = bisect_right(self.pos, a) - 1
        return self.cnt[k] if k >= 0 else 0

    def fit(self, a: int, limit: int, cap: int) -> int:
        pos, cnt = self.pos, self.cnt
        if limit <= a + 1:
            return limit
        target = self.tokens_before(a) + cap
        k = bisect_right(cnt, target) - 1
        k = max(k, bisect_right(pos, a))
        k = min(k, len(pos) - 1)
        e = min(pos[k], limit) if k >= 0 else limit
        if e <= a:
            e = min(a + 1, limit)
        if self.count(a, e) <= cap:
            # Step forward while the next boundary still fits (edge effects can allow more).
            while e < limit:
                k = bisect_right(pos, e)
                nxt = min(pos[k], limit) if k < len(pos) else limit
                if nxt <= e or self.count(a, nxt) > cap:
                    break
                e = nxt
            return e
        # Too many: step back boundary by boundary, by the excess when it is large.
        while e > a + 1:
            over = self.count(a, e) - cap
            if over <= 0:
                return e
            k = bisect_left(pos, e) - max(1, over // 2)
            prev = pos[k] if k >= 0 else a
            if prev <= a:
                return self._fit_chars(a, e, cap)
            e = prev
        return max(e, a + 1)

    def _fit_chars(self, a: int, e: int, cap: int) -> int:
        """Binary search on characters, for spans with no usable token boundary."""
        lo_e, hi_e = a + 1, e
        while lo_e < hi_e:
            mid = (lo_e + hi_e + 1) // 2
            if self.count(a, mid) <= cap:
                lo_e = mid
            else:
                hi_e = mid - 1
        return lo_e

    def _back_estimate(self, b: int, floor: int, budget: int) -> int:
        target = self.tokens_before(b) - budget
        k = bisect_left(self.cnt, max(target, 0))
        s = self.pos[k] if k < len(self.pos) else b
        return min(max(s, floor), b)

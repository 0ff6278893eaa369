"""The greedy range splitter every strategy builds on.

From the current start it finds the furthest end that fits the cap (`Measure.fit`), then ends
the chunk at the last boundary of the highest semantic level that keeps the chunk reasonably
full, falling back level by level and finally to a character cut. Each step is linear in the
chunk's length, so the whole pass is linear in the text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from chunkyard.core.levels import PROSE_LEVELS, Level
from chunkyard.core.sizing.base import WHITESPACE, Measure

# A boundary is taken at the highest level only if the chunk then fills at least this share of
# the window that fits; otherwise a lower level is tried. It keeps tiny chunks rare.
MIN_FILL = 0.5


def skip_space(text: str, i: int, hi: int) -> int:
    while i < hi and text[i] in WHITESPACE:
        i += 1
    return i


def strip_end(text: str, lo: int, e: int) -> int:
    while e > lo and text[e - 1] in WHITESPACE:
        e -= 1
    return e


def choose_boundary(text: str, levels: Sequence[Level], lo: int, hi: int) -> int:
    """The last boundary of the highest level within `[lo, hi]`, or -1."""
    for level in levels:
        b = level.last(text, lo, hi)
        if b >= lo:
            return b
    return -1


def fit_within(measure: Measure, s: int, e: int, cap: int) -> int:
    """Shrink `e` until `count(s, e) <= cap` (token counts are not always monotone)."""
    while e > s + 1 and measure.count(s, e) > cap:
        e = measure.fit(s, e - 1, cap)
    return e


# Where to end a chunk that starts at `s`, given the previous chunk's end and the furthest end
# that fits the cap: (s, prev_end, e_max) -> e, with s < e <= e_max.
EndRule = Callable[[int, int, int], int]


def level_end(text: str, levels: Sequence[Level], min_fill: float = MIN_FILL) -> EndRule:
    """End at the last boundary of the highest level that keeps the chunk `min_fill` full,
    else of any level, else at the cap."""

    def choose(s: int, prev_end: int, e_max: int) -> int:
        floor = max(prev_end + 1, s + 1)
        want = max(floor, s + int((e_max - s) * min_fill))
        b = choose_boundary(text, levels, want, e_max) if want <= e_max else -1
        if b < 0:
            b = choose_boundary(text, levels, floor, e_max) if floor <= e_max else -1
        e = strip_end(text, s, b) if b > s else -1
        return e_max if e <= s or e < floor else e

    return choose


def split_range(
    text: str,
    lo: int,
    hi: int,
    measure: Measure,
    cap: int,
    overlap: int = 0,
    levels: Sequence[Level] = PROSE_LEVELS,
    min_fill: float = MIN_FILL,
    *,
    choose_end: EndRule | None = None,
) -> Iterator[tuple[int, int]]:
    """Yield `(start, end)` spans covering the non-space text of `[lo, hi)`, each within `cap`.

    Every strategy's chunks come from this one loop; `choose_end` is the rule for where a
    chunk ends (default: `level_end` over `levels`)."""
    choose = choose_end or level_end(text, levels, min_fill)
    s = skip_space(text, lo, hi)
    end_all = strip_end(text, s, hi)
    prev_end = s
    while s < end_all:
        e_max = measure.fit(s, end_all, cap)
        if e_max >= end_all:
            yield s, end_all
            return
        e = fit_within(measure, s, choose(s, prev_end, e_max), cap)
        yield s, e
        prev_end = e
        # From `e`, not the boundary: when the cap forced `e` below it, nothing is skipped.
        nxt = skip_space(text, e, end_all)
        if overlap > 0:
            back = measure.back(e, s + 1, overlap)
            if s < back < min(nxt, e):
                nxt = back
        s = nxt

"""The range splitter every strategy builds on.

From the current start it finds the furthest end that fits the cap (`Measure.fit`), then ends
the chunk at a boundary of the highest semantic level within reach (paragraph > line >
sentence > clause > word), falling back level by level and finally to a character cut.

Where it cuts follows the structure of the text, as a recursive split would (`level_end`):

- a chunk holds whole units of one level, or one piece of a unit too big for a chunk: the
  rest of a cut unit is never glued onto the start of the next unit;
- a unit too big for a chunk is cut into the fewest pieces that fit, of about equal size, so
  its last piece is not a small remainder (a chunk's embedding then stands for as much text
  as its neighbours', and no piece is mostly context from elsewhere).

Each step looks at most a few chunk lengths ahead and the token estimates are lookups in the
measure's index, so the whole pass stays linear in the text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from chunkyard.core.levels import PROSE_LEVELS, Level
from chunkyard.core.sizing.base import WHITESPACE, IndexedMeasure, Measure

# A boundary is taken at the highest level only if the chunk then fills at least this share of
# the window that fits; otherwise a lower level is tried. It keeps tiny chunks rare.
MIN_FILL = 0.5
# Balancing looks this many windows ahead for the end of the unit being cut: the last pieces of
# a unit (at most this many) share it equally; before them, pieces are nearly full anyway.
BALANCE_WINDOWS = 4


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
    return _last_boundary(text, levels, lo, hi)[0]


def last_boundary(level: Level, text: str, lo: int, hi: int) -> int:
    """The last boundary of `level` within `[lo, hi]`, or -1, looking at the end first.

    A finder walks its window from the start, and a window can hold hundreds of lines or
    sentences: trying tails of doubling length finds the last one after a few of them, and
    costs at most about twice one pass when there is none."""
    step = 256
    while hi - lo > step:
        b = level.last(text, hi - step, hi)
        if b >= hi - step:
            return b
        step *= 4
    return level.last(text, lo, hi)


def _last_boundary(text: str, levels: Sequence[Level], lo: int, hi: int) -> tuple[int, int]:
    """(the last boundary of the highest level within `[lo, hi]`, that level's rank), or
    (-1, len(levels))."""
    for rank, level in enumerate(levels):
        b = last_boundary(level, text, lo, hi)
        if b >= lo:
            return b, rank
    return -1, len(levels)


def first_boundary(level: Level, text: str, lo: int, hi: int) -> int:
    """The first boundary of `level` within `[lo, hi]`, or -1."""
    if level.first is not None:
        return level.first(text, lo, hi)
    if level.last(text, lo, hi) < lo:
        return -1
    # Without a `first` finder: the smallest `m` with a boundary in `[lo, m]`, and that
    # boundary (a finder may need to see past a boundary to report it).
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if level.last(text, lo, m) >= lo:
            b = m
        else:
            a = m + 1
    return level.last(text, lo, a)


def fit_within(measure: Measure, s: int, e: int, cap: int) -> int:
    """Shrink `e` until `count(s, e) <= cap` (token counts are not always monotone)."""
    while e > s + 1 and measure.count(s, e) > cap:
        e = measure.fit(s, e - 1, cap)
    return e


# Where to end a chunk that starts at `s`, given the previous chunk's end and the furthest end
# that fits the cap: (s, prev_end, e_max) -> e, with s < e <= e_max.
EndRule = Callable[[int, int, int], int]


def level_end(
    text: str,
    levels: Sequence[Level],
    min_fill: float = MIN_FILL,
    measure: Measure | None = None,
    end: int | None = None,
    cap: int | None = None,
) -> EndRule:
    """End at the last boundary of the highest level that keeps the chunk `min_fill` full,
    else of any level, else at the cap; a chunk that starts inside a unit ends with it, and
    (given the `measure` and the region's `end`) a unit too big for one chunk is shared
    equally by its last pieces.

    Units: the text between two boundaries of a level is a unit of that level, inside a unit
    of each higher level. The rank of a chunk's start is the highest level it starts at: the
    level the previous chunk was cut at, or higher where the space between them holds a higher
    boundary (a region's first chunk starts at the top).

    - A chunk starting at rank `r` lies inside a unit of every level above `r`, a unit that
      was too big for one chunk (else it would not have been cut below its own level). The
      chunk does not reach past it: when the first boundary of a level above `r` is within the
      cap, the chunk ends there. So the rest of a cut paragraph (or sentence) is a chunk of
      its own, never glued onto the start of the next one.
    - Balance: when the chunk ends at a boundary of level `j` before the end of the unit of
      the level above `j` that holds it (the region, at the top), and that unit ends within
      `BALANCE_WINDOWS` windows, its remaining `T` tokens need `m = ceil(T / window)` chunks;
      the chunk ends at the level-`j` boundary nearest `T / m` tokens instead of the last one
      that fits. The pieces of a cut unit come out about equal instead of full pieces and a
      small remainder, with the same number of chunks.
    """
    top = -1
    last = [-1, top]  # the end this rule returned last, and the rank it was cut at
    region_end = len(text) if end is None else end
    tokens: Callable[[int, int], int] | None = None
    if isinstance(measure, IndexedMeasure):
        before_ = measure.tokens_before

        def tokens(a: int, b: int) -> int:
            return before_(b) - before_(a)
    elif measure is not None:
        tokens = measure.count

    # Per level, the last search for a first boundary: (lo, hi, found or -1). Chunks move
    # forward, so a search that found nothing far ahead is not repeated for the next chunk.
    searched = [(-1, -1, -1)] * len(levels)

    def first_of(i: int, lo: int, hi: int) -> int:
        a, b, f = searched[i]
        if a <= lo:
            if f >= lo:
                return f if f <= hi else -1
            if f < 0 and lo <= b + 1:
                if hi <= b:
                    return -1
                f = first_boundary(levels[i], text, b + 1, hi)
                searched[i] = (a, hi, f)
                return f
        f = first_boundary(levels[i], text, lo, hi)
        searched[i] = (lo, hi, f)
        return f

    def first_above(rank: int, lo: int, hi: int) -> tuple[int, int]:
        """The first boundary in `[lo, hi]` of a level above `rank`, and its rank."""
        f, f_rank = -1, rank
        for i in range(rank):
            b = first_of(i, lo, hi)
            if b >= lo and (f < 0 or b < f):
                f, f_rank = b, i
                hi = b
        return f, f_rank

    def balanced(a: int, e_max: int, b: int, rank: int) -> int:
        """The level-`rank` boundary in `(a, e_max]` nearest an equal share of the rest of
        the unit being cut, or `b`; `a` is where the chunk's new text starts (after any
        overlap)."""
        assert measure is not None and tokens is not None
        reach = e_max + BALANCE_WINDOWS * (e_max - a)
        u = first_above(rank, e_max + 1, min(region_end, reach))[0] if rank > 0 else -1
        if u < 0:
            if region_end > reach:
                return b  # the unit ends too far ahead for balancing to matter
            u = region_end
        window = tokens(a, e_max)
        rest = tokens(a, u)
        if window <= 0 or rest <= window:
            return b
        want = max(1, rest // -(-rest // window))
        target = measure.fit(a, e_max, want)
        level = levels[rank]
        best, gap = b, -1
        for c in (last_boundary(level, text, a + 1, target),
                  first_boundary(level, text, target + 1, e_max) if target < e_max else -1):
            if c > a:
                d = abs(tokens(a, c) - want)
                if gap < 0 or d < gap:
                    best, gap = c, d
        return best

    def next_fits(b: int, rank: int, e_max: int) -> bool:
        """Whether the unit of level `rank` that starts at `b` fits in one chunk (it ends
        after `e_max`, since `b` is the last boundary of its level before it)."""
        if measure is None or cap is None:
            return False
        g = skip_space(text, b, region_end)
        e2 = measure.fit(g, region_end, cap) if g < region_end else region_end
        return e2 >= region_end or first_above(rank + 1, e_max + 1, e2)[0] >= 0

    def choose(s: int, prev_end: int, e_max: int) -> int:
        floor = max(prev_end + 1, s + 1)
        gap_end = skip_space(text, prev_end, e_max)
        rank = top
        if prev_end == last[0]:
            rank = last[1]
            # A higher boundary in the space between the chunks raises the start's rank.
            if rank > 0 and gap_end > prev_end:
                rank = min(rank, _last_boundary(text, levels[:rank], prev_end, gap_end)[1])
        if rank > 0:
            f, f_rank = first_above(rank, max(floor, gap_end + 1), e_max)
            e = strip_end(text, s, f) if f >= 0 else -1
            if e >= floor:
                last[:] = [e, f_rank]
                return e
        # Boundaries where the chunk's new text starts (after the space, or the overlap)
        # would end it before it begins.
        a = max(s, gap_end)
        lo = max(floor, a + 1)
        want = max(lo, s + int((e_max - s) * min_fill))
        b, b_rank = _last_boundary(text, levels, lo, e_max) if lo <= e_max else (-1, 0)
        if lo <= b < want and not next_fits(b, b_rank, e_max):
            # Ending here leaves the chunk small, and the unit after it is cut anyway: fill
            # the chunk with its head instead. (A unit that fits is never cut to fill one.)
            low, low_rank = _last_boundary(text, levels[b_rank + 1:], want, e_max)
            if low >= want:
                b, b_rank = low, b_rank + 1 + low_rank
        if b >= lo and measure is not None:
            b = balanced(a, e_max, b, b_rank)
        e = strip_end(text, s, b) if b > s else -1
        if e <= s or e < floor:
            e, b_rank = e_max, len(levels)
        last[:] = [e, b_rank]
        return e

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
    s = skip_space(text, lo, hi)
    end_all = strip_end(text, s, hi)
    choose = choose_end or level_end(text, levels, min_fill, measure, end_all, cap)
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

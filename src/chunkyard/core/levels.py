"""Ordered semantic levels (paragraph > line > sentence > clause > word) and their boundaries.

A boundary `b` is a place a chunk may end: `text[:b]` ends a unit at that level. Finders scan
one window with simple character-class patterns, so they run in linear time on any input
(no nested quantifiers, nothing that can backtrack catastrophically).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Level:
    """A named level; `last(text, lo, hi)` is its last boundary in `[lo, hi]`, or -1, and
    `first(text, lo, hi)` its first (None: the splitter finds it through `last`)."""

    name: str
    last: Callable[[str, int, int], int]
    first: Callable[[str, int, int], int] | None = None


def _last_match_start(pattern: re.Pattern[str]) -> Callable[[str, int, int], int]:
    def last(text: str, lo: int, hi: int) -> int:
        best = -1
        for m in pattern.finditer(text, lo, min(len(text), hi + 1)):
            if m.start() <= hi:
                best = m.start()
        return best

    return last


def _last_match_end(pattern: re.Pattern[str]) -> Callable[[str, int, int], int]:
    def last(text: str, lo: int, hi: int) -> int:
        best = -1
        # +1 so the lookahead can see the character right after `hi`.
        for m in pattern.finditer(text, max(0, lo - 8), min(len(text), hi + 1)):
            if lo <= m.end() <= hi:
                best = m.end()
        return best

    return last


def _first_match_start(pattern: re.Pattern[str]) -> Callable[[str, int, int], int]:
    def first(text: str, lo: int, hi: int) -> int:
        m = pattern.search(text, lo, min(len(text), hi + 1))
        return m.start() if m is not None and m.start() <= hi else -1

    return first


def _first_match_end(pattern: re.Pattern[str]) -> Callable[[str, int, int], int]:
    def first(text: str, lo: int, hi: int) -> int:
        for m in pattern.finditer(text, max(0, lo - 8), min(len(text), hi + 1)):
            if m.end() > hi:
                return -1
            if m.end() >= lo:
                return m.end()
        return -1

    return first


def _first_space(text: str, lo: int, hi: int) -> int:
    m = _SPACE.search(text, lo, min(len(text), hi + 1))
    return m.start() if m is not None else -1


def _last_space(text: str, lo: int, hi: int) -> int:
    best = max(text.rfind(" ", lo, hi + 1), text.rfind("\n", lo, hi + 1),
               text.rfind("\t", lo, hi + 1))
    if best < 0:
        starts = [m.start() for m in _SPACE.finditer(text, lo, min(len(text), hi + 1))]
        return starts[-1] if starts else -1
    return best


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_SPACE = re.compile(r"\s")
_SENTENCE = re.compile(r"[.!?…]['\"”’»)\]]*(?=\s)|[。！？]['\"”’」』)\]]*")
_CLAUSE = re.compile(r"[,;:，；：、)\]](?=\s)|\s[-–—](?=\s)")

_NEWLINE = re.compile(r"\r?\n")

PARAGRAPH = Level("paragraph", _last_match_start(_BLANK_LINE), _first_match_start(_BLANK_LINE))
LINE = Level("line", _last_match_start(_NEWLINE), _first_match_start(_NEWLINE))
SENTENCE = Level("sentence", _last_match_end(_SENTENCE), _first_match_end(_SENTENCE))
CLAUSE = Level("clause", _last_match_end(_CLAUSE), _first_match_end(_CLAUSE))
WORD = Level("word", _last_space, _first_space)

PROSE_LEVELS: tuple[Level, ...] = (PARAGRAPH, LINE, SENTENCE, CLAUSE, WORD)


def heading_level(starts: Sequence[int]) -> Level:
    """Boundaries right before known headings (HTML, DOCX, PDF outlines), highest of all."""

    def last(text: str, lo: int, hi: int) -> int:
        k = bisect_right(starts, hi) - 1
        return starts[k] if k >= 0 and starts[k] >= lo else -1

    def first(text: str, lo: int, hi: int) -> int:
        k = bisect_left(starts, lo)
        return starts[k] if k < len(starts) and starts[k] <= hi else -1

    return Level("heading", last, first)

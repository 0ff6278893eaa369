"""`character`: fixed windows of `chunk_size` tokens, stepping back to a nearby word boundary."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from chunkyard.core.params import BaseParams
from chunkyard.core.registry import register
from chunkyard.core.splitter import EndRule, split_range, strip_end
from chunkyard.core.strategy import Region, Span, Strategy


class CharacterParams(BaseParams):
    boundary_window: float = Field(
        0.1, ge=0.0, le=0.5,
        description="How far back (share of the window) to look for a word boundary before "
        "cutting mid-word.",
    )


@register("character", rank=0)
class CharacterStrategy(Strategy):
    description = (
        "Fixed windows of chunk_size tokens; each cut steps back to a word boundary when one "
        "is near the end of the window. Fast and predictable, blind to structure."
    )
    Params = CharacterParams

    def split(self, region: Region) -> Iterator[Span]:
        p = self.params
        assert isinstance(p, CharacterParams)
        rule = _word_end(region.text, p.boundary_window)
        for s, e in split_range(region.text, region.lo, region.hi, region.measure,
                                p.chunk_size, p.chunk_overlap, choose_end=rule):
            yield Span(s, e)


def _word_end(text: str, window: float) -> EndRule:
    """The character strategy's rule: the last space within the final `window` share of the
    chunk, else the cap (mid-word)."""

    def choose(s: int, prev_end: int, e_max: int) -> int:
        look_from = max(prev_end + 1, e_max - int((e_max - s) * window))
        b = _last_space(text, look_from, e_max)
        e = strip_end(text, s, b) if b > s else e_max
        return e_max if e <= prev_end or e <= s else e

    return choose


def _last_space(text: str, lo: int, hi: int) -> int:
    for i in range(hi, lo - 1, -1):
        if i < len(text) and text[i].isspace():
            return i
    return -1

"""`character`: fixed windows of `chunk_size` tokens, stepping back to a nearby word boundary."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from chunkyard.core.params import BaseParams
from chunkyard.core.registry import register
from chunkyard.core.splitter import fit_within, skip_space, strip_end
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
        text, measure, cap = region.text, region.measure, p.chunk_size
        s = skip_space(text, region.lo, region.hi)
        end_all = strip_end(text, s, region.hi)
        prev_end = s
        while s < end_all:
            e_max = measure.fit(s, end_all, cap)
            if e_max >= end_all:
                yield Span(s, end_all)
                return
            look_from = max(prev_end + 1, e_max - int((e_max - s) * p.boundary_window))
            b = _last_space(text, look_from, e_max)
            e = strip_end(text, s, b) if b > s else e_max
            if e <= prev_end or e <= s:
                e = b = e_max
            e = fit_within(measure, s, e, cap)
            yield Span(s, e)
            prev_end = e
            nxt = skip_space(text, e, end_all)
            if p.chunk_overlap:
                back = measure.back(e, s + 1, p.chunk_overlap)
                if s < back < min(nxt, e):
                    nxt = back
            s = nxt


def _last_space(text: str, lo: int, hi: int) -> int:
    for i in range(hi, lo - 1, -1):
        if i < len(text) and text[i].isspace():
            return i
    return -1

"""`recursive`: split on the coarsest separator that fits, merging neighbours up to the cap."""

from __future__ import annotations

from collections.abc import Iterator

from chunkyard.core.code import levels_for
from chunkyard.core.params import BaseParams
from chunkyard.core.registry import register
from chunkyard.core.splitter import split_range
from chunkyard.core.strategy import Region, Span, Strategy


@register("recursive", rank=1)
class RecursiveStrategy(Strategy):
    description = (
        "Splits on the coarsest boundary that fits (paragraph, line, sentence, clause, word, "
        "character) and merges neighbours up to the cap. Source code splits at top-level "
        "definitions first."
    )
    Params = BaseParams

    def split(self, region: Region) -> Iterator[Span]:
        p = self.params
        levels = levels_for(region.doc)
        for s, e in split_range(region.text, region.lo, region.hi, region.measure,
                                p.chunk_size, p.chunk_overlap, levels):
            yield Span(s, e)

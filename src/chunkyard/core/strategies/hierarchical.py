"""`hierarchical`: parent chunks split into child chunks, 2 or 3 levels, leaves by default.

Parents come first: the text is split with the recursive splitter at the top parent size;
each parent span is split again at the next size, down to the leaves at `chunk_size`, so a
child never crosses its parent's boundary and the children of a parent together cover every
non-whitespace character of it.

Metadata of every chunk:

- `level`: 0 for the top parents, increasing towards the leaves; leaves have `levels - 1`.
- `leaf`: whether the chunk is a leaf (the chunks to embed).
- `parent_index`: the `index` of the direct parent in the output *with parents included*
  (`include_parents=True`), or None for a top parent. The numbering is the same in both
  modes, so a leaves-only result can be joined to a full result of the same configuration.
  In a leaves-only result it is not an index into that result (parents are absent); the
  parent's text is then `text[parent_start:parent_end]`.
- `parent_start`, `parent_end`: the direct parent's offsets (None for a top parent); they
  are exactly the parent chunk's `start`/`end` when parents are returned.

Parent sizes are absolute token counts (`parent_sizes`), not a multiplier, so every level's
cap is explicit, shown in the form and validated like `chunk_size`.

Leaves hold the hard cap `chunk_size`, and a leaves-only result satisfies every chunk
invariant. With `include_parents=True` each parent comes right before its children (so
`start` stays non-decreasing); parents are bounded by their own level's size, not by
`chunk_size`, and overlap their children by design.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pydantic import Field, ValidationInfo, field_validator

from chunkyard.core.code import levels_for
from chunkyard.core.levels import Level
from chunkyard.core.params import BaseParams
from chunkyard.core.registry import register
from chunkyard.core.sizing import Measure
from chunkyard.core.splitter import skip_space, split_range, strip_end
from chunkyard.core.strategy import Region, Span, Strategy

MAX_SIZE = 8192
# Default parent sizes: each level about this many times the size of the level below it.
LEVEL_FACTOR = 4


class HierarchicalParams(BaseParams):
    levels: int = Field(
        2, ge=2, le=3,
        description="Number of levels: 2 (parents and leaves) or 3 (grandparents, parents, "
        "leaves). chunk_size is the leaf size.",
    )
    parent_sizes: list[int] | None = Field(
        None, validate_default=True,
        description="Token sizes of the parent levels, outermost first: levels - 1 values, "
        "strictly decreasing, each above chunk_size and at most 8192. Default: each level "
        "about 4 times the one below it, the top one at most 8192.",
        json_schema_extra={"examples": [[2048], [4096, 1024]]},
    )
    include_parents: bool = Field(
        False,
        description="Also return the parent chunks, each right before its children. By "
        "default only the leaves are returned.",
    )

    @field_validator("parent_sizes")
    @classmethod
    def _resolve_parent_sizes(cls, value: list[int] | None, info: ValidationInfo) -> list[int]:
        leaf = info.data.get("chunk_size")
        levels = info.data.get("levels")
        if leaf is None or levels is None:
            return value or []  # chunk_size or levels is invalid and already reported
        if value is None:
            value = _default_parent_sizes(leaf, levels)
            if not _strictly_decreasing([*value, leaf]):
                raise ValueError(
                    f"no room for {levels - 1} parent size(s) above chunk_size ({leaf}) and "
                    f"at most {MAX_SIZE}; lower chunk_size or levels"
                )
            return value
        if len(value) != levels - 1:
            raise ValueError(
                f"needs levels - 1 = {levels - 1} value(s), outermost first; got {len(value)}"
            )
        if any(size > MAX_SIZE for size in value):
            raise ValueError(f"each size must be at most {MAX_SIZE}; got {value}")
        if not _strictly_decreasing([*value, leaf]):
            raise ValueError(
                f"sizes must be strictly decreasing, outermost first, and each above "
                f"chunk_size ({leaf}); got {value}"
            )
        return value


def _default_parent_sizes(leaf: int, levels: int) -> list[int]:
    """A geometric progression from the leaf size up to `leaf * 4 ** (levels - 1)`, at most
    8192, outermost first: [2048] for 512 and 2 levels, [8192, 2048] for 3, [8192, 5793]
    for 4096 and 3."""
    top = min(leaf * LEVEL_FACTOR ** (levels - 1), MAX_SIZE)
    ratio = top / leaf
    return [round(leaf * ratio ** (k / (levels - 1))) for k in range(levels - 1, 0, -1)]


def _strictly_decreasing(sizes: Sequence[int]) -> bool:
    return all(a > b for a, b in pairwise(sizes))


@dataclass(frozen=True, slots=True)
class _Parent:
    index: int
    start: int
    end: int


@register("hierarchical", rank=4)
class HierarchicalStrategy(Strategy):
    description = (
        "Parent chunks split into child chunks (2 or 3 levels, sizes strictly decreasing; "
        "chunk_size is the leaf size). Leaves carry level, parent_index and the parent's "
        "offsets; parents are returned too on request."
    )
    Params = HierarchicalParams

    per_document = True

    def __init__(self, params: BaseParams) -> None:
        super().__init__(params)
        # Position in the full (parents included) output; runs across the document's segments.
        self._position = 0

    def split(self, region: Region) -> Iterator[Span]:
        p = self.params
        assert isinstance(p, HierarchicalParams)
        assert p.parent_sizes is not None
        sizes = [*p.parent_sizes, p.chunk_size]
        levels = levels_for(region.doc)
        yield from self._descend(region, region.lo, region.hi, sizes, 0, None, levels)

    def _descend(self, region: Region, lo: int, hi: int, sizes: list[int], level: int,
                 parent: _Parent | None, levels: Sequence[Level]) -> Iterator[Span]:
        p = self.params
        assert isinstance(p, HierarchicalParams)
        leaf = level == len(sizes) - 1
        cap = sizes[level]
        overlap = p.chunk_overlap if leaf else 0
        for s, e in _pieces(region.text, lo, hi, region.measure, cap, overlap, levels):
            position = self._position
            self._position += 1
            if leaf or p.include_parents:
                meta = {
                    "level": level,
                    "leaf": leaf,
                    "parent_index": parent.index if parent else None,
                    "parent_start": parent.start if parent else None,
                    "parent_end": parent.end if parent else None,
                }
                yield Span(s, e, meta, cap=None if leaf else cap)
            if not leaf:
                yield from self._descend(region, s, e, sizes, level + 1,
                                         _Parent(position, s, e), levels)


def _pieces(text: str, lo: int, hi: int, measure: Measure, cap: int, overlap: int,
            levels: Sequence[Level]) -> Iterator[tuple[int, int]]:
    """Trimmed spans within `cap`, exactly as the base class will keep them.

    Positions count chunks, so every span must become exactly one chunk: the base class
    would trim a span or re-split one over its cap, so both are done here first.
    """
    for s, e in split_range(text, lo, hi, measure, cap, overlap, levels):
        s = skip_space(text, s, e)
        e = strip_end(text, s, e)
        if e <= s:
            continue
        if measure.count(s, e) <= cap:
            yield s, e
        else:  # token counts are not always monotone; never seen, but never trusted either
            yield from _pieces(text, s, e, measure, cap, 0, levels)

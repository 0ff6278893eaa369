"""`markdown`: chunks made of whole markdown blocks, cut at headings, each with its heading path.

The text is parsed into blocks (markdown_blocks). From the current start, `Measure.fit` gives
the window that fits the cap; the chunk then ends, in order of preference, before the first
major heading once the chunk is `min_fill` full, before the last heading of any level once it
is half full, or after the last whole block in the window. A heading is never the last thing
in a chunk whose section goes on in the next one. Only a block larger than the cap is cut
inside, at its own boundaries: code at lines, tables at rows, lists at items, prose with the
generic level splitter.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from pydantic import Field

from chunkyard.core import markdown_blocks as mb
from chunkyard.core.languages import language_of_word
from chunkyard.core.levels import LINE, PARAGRAPH, PROSE_LEVELS, WORD, Level
from chunkyard.core.params import BaseParams
from chunkyard.core.registry import register
from chunkyard.core.splitter import MIN_FILL, split_range
from chunkyard.core.strategy import Region, Span, Strategy

# Blocks that are cut inside only when they alone exceed the cap: rather a heading alone in a
# chunk than a code block or table split to keep the heading with it.
_KEEP_WHOLE = frozenset({mb.CODE, mb.TABLE})


class MarkdownParams(BaseParams):
    split_level: int = Field(
        2, ge=1, le=6,
        description="Deepest heading level that starts a new chunk (1: only `#` headings, "
        "2: `#` and `##`, ...), once the current chunk is at least min_fill full.",
    )
    min_fill: float = Field(
        0.25, ge=0.0, le=1.0,
        description="Share of chunk_size a chunk must reach before a heading may end it; "
        "smaller sections are merged with the next ones instead of left as tiny chunks.",
    )


@register("markdown", rank=2)
class MarkdownStrategy(Strategy):
    description = (
        "Structure-aware markdown: chunks are whole blocks (headings, fenced code, lists, "
        "tables, block quotes, paragraphs) merged up to the cap and cut at headings; a code "
        "fence or table row that fits is never split. Each chunk carries its heading path."
    )
    Params = MarkdownParams

    per_document = True

    def __init__(self, params: BaseParams) -> None:
        super().__init__(params)
        # The heading stack where a segment of this instance's one (very long) document
        # ends, keyed by its end offset, so that the next segment still knows its section.
        self._carry: dict[int, list[tuple[int, str]]] = {}

    def split(self, region: Region) -> Iterator[Span]:
        p = self.params
        assert isinstance(p, MarkdownParams)
        text = region.text
        blocks = mb.parse_blocks(text, region.lo, region.hi)
        stack = self._carry.pop(region.lo, []) if region.lo else []
        paths = _heading_paths(blocks, stack)
        if region.hi < len(text):
            self._carry[region.hi] = stack
        if blocks:
            yield from _Chunker(region, blocks, paths, p).run()


def _heading_paths(blocks: Sequence[mb.Block], stack: list[tuple[int, str]]) -> list[list[str]]:
    """The heading path of every block (a heading's own path includes it); updates `stack`."""
    paths: list[list[str]] = []
    path = [title for _, title in stack]
    for block in blocks:
        if block.kind == mb.HEADING:
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.title))
            path = [title for _, title in stack]
        paths.append(path)
    return paths


def _marks_level(name: str, marks: list[int]) -> Level:
    """A level whose boundaries are recorded offsets (sorted), e.g. list item starts."""

    def last(text: str, lo: int, hi: int) -> int:
        k = bisect_right(marks, hi) - 1
        return marks[k] if k >= 0 and marks[k] >= lo else -1

    return Level(name, last)


def _last_pipe(text: str, lo: int, hi: int) -> int:
    return text.rfind("|", lo, hi + 1)


_CELL = Level("cell", _last_pipe)
_CODE_LEVELS = (PARAGRAPH, LINE, WORD)
_TABLE_LEVELS = (LINE, _CELL, WORD)


def _levels(block: mb.Block) -> Sequence[Level]:
    """Where to cut inside a block larger than the cap, best boundary first."""
    if block.kind == mb.CODE:
        return _CODE_LEVELS
    if block.kind == mb.TABLE:
        return _TABLE_LEVELS
    if block.kind == mb.LIST:
        top, nested = block.marks
        return (_marks_level("item", top), _marks_level("nested item", nested), *PROSE_LEVELS)
    if block.kind == mb.QUOTE:
        return (_marks_level("quote paragraph", block.marks[0]), *PROSE_LEVELS)
    return PROSE_LEVELS


def _fence_language(info: str) -> str | None:
    word = info.split(maxsplit=1)[0].strip("{}.").lower() if info else ""
    return language_of_word(word) if word else None


class _Chunker:
    """Greedy merging of whole blocks into chunks; see the module docstring."""

    def __init__(self, region: Region, blocks: list[mb.Block], paths: list[list[str]],
                 params: MarkdownParams) -> None:
        self.text = region.text
        self.measure = region.measure
        self.blocks = blocks
        self.paths = paths
        self.cap = params.chunk_size
        self.overlap = params.chunk_overlap
        self.threshold = int(params.min_fill * params.chunk_size)
        self.starts = [b.start for b in blocks]
        self.ends = [b.end for b in blocks]
        self.kinds = [b.kind for b in blocks]
        self.heading = [b.kind == mb.HEADING for b in blocks]
        # Blocks that start a run of consecutive headings (cutting before a run keeps all of
        # its headings with the content after them); `major` are those runs holding a heading
        # of level <= split_level.
        self.runs: list[int] = []
        self.major: list[int] = []
        for k, b in enumerate(blocks):
            if b.kind != mb.HEADING:
                continue
            if k == 0 or not self.heading[k - 1]:
                self.runs.append(k)
            run = self.runs[-1]
            if b.level <= params.split_level and (not self.major or self.major[-1] != run):
                self.major.append(run)

    def run(self) -> Iterator[Span]:
        measure, starts, ends = self.measure, self.starts, self.ends
        n = len(self.blocks)
        last_end = ends[-1]
        i = 0
        s = starts[0]
        overlapped = False  # s was stepped back into the previous chunk for overlap
        remainder = False  # s is inside block i, after its first pieces were cut off
        while i < n:
            e_max = measure.fit(s, last_end, self.cap)
            if e_max >= last_end:
                # The rest fits: one chunk, unless a major heading comes once it is full enough
                # and what follows that heading is not too small to stand alone.
                k = self.major_cut(i, n - 1, self.fill_end(s, last_end))
                if k < 0 or measure.count(starts[k + 1], last_end) < self.threshold:
                    yield self.span(s, last_end)
                    return
                yield self.span(s, ends[k])
                i, s, overlapped = self.advance(k, s)
                remainder = False
                continue
            j = bisect_right(ends, e_max, i) - 1  # the last block that ends within the window
            if j < i:
                # Block i does not fit from s.
                if overlapped and self.fits_alone(i):
                    s, overlapped = starts[i], False  # rather no overlap than cut a block that fits
                    continue
                if remainder:  # only if counts are not monotone; the base class enforces the cap
                    yield self.span(s, ends[i])
                    i, s, overlapped = self.advance(i, s)
                    remainder = False
                    continue
                s = yield from self.cut_inside(i, s)
                overlapped, remainder = False, True
                continue
            fill_end = self.fill_end(s, e_max)
            k = self.choose(i, j, s, e_max, fill_end)
            nxt = j + 1
            if k < 0 or (ends[k] <= fill_end and not self.fits_alone(nxt)):
                # Only headings (or a short lead-in) before a block that will be cut anyway:
                # keep them together with its first piece.
                if overlapped:
                    s, overlapped = starts[i], False
                    continue
                if k < 0 and self.kinds[nxt] in _KEEP_WHOLE and self.fits_alone(nxt):
                    k = j  # the heading alone, rather than cut a fence or table that fits
                else:
                    s = yield from self.cut_inside(nxt, s)
                    i, remainder = nxt, True
                    continue
            yield self.span(s, ends[k])
            i, s, overlapped = self.advance(k, s)
            remainder = False

    def advance(self, k: int, chunk_start: int) -> tuple[int, int, bool]:
        """Block index and start after a chunk ending with block k, stepping back for overlap."""
        i = k + 1
        if i >= len(self.blocks):
            return i, 0, False
        s = self.starts[i]
        if self.overlap:
            e = self.ends[k]
            back = self.measure.back(e, chunk_start + 1, self.overlap)
            if chunk_start < back < e:  # back == e: no word of the chunk's end fits the budget
                return i, back, True
        return i, s, False

    def fits_alone(self, k: int) -> bool:
        end = self.ends[k]
        return self.measure.fit(self.starts[k], end, self.cap) >= end

    def fill_end(self, s: int, limit: int) -> int:
        """A chunk from s ending after this offset reaches min_fill of the cap."""
        if self.threshold <= 1:
            return s
        return self.measure.fit(s, limit, self.threshold - 1)

    def major_cut(self, i: int, j: int, fill_end: int) -> int:
        """The block before the first major heading run in i+1..j+1 past fill_end, or -1."""
        first = max(i + 1, bisect_right(self.ends, fill_end, i) + 1)
        m = bisect_left(self.major, first)
        if m < len(self.major) and self.major[m] <= j + 1:
            return self.major[m] - 1
        return -1

    def choose(self, i: int, j: int, s: int, e_max: int, fill_end: int) -> int:
        """The last block of the chunk starting at s, among blocks i..j (-1: only headings)."""
        ends = self.ends
        # 1. Before the first major heading run once the chunk reaches min_fill.
        k = self.major_cut(i, j, fill_end)
        if k >= 0:
            return k
        # 2. Before the last heading run of any level once the chunk is half full.
        r = bisect_right(self.runs, j + 1) - 1
        if r >= 0 and self.runs[r] > i:
            half_end = self.measure.fit(s, e_max, int(self.cap * MIN_FILL))
            if ends[self.runs[r] - 1] > half_end:
                return self.runs[r] - 1
        # 3. After the last whole block, but never right after a heading.
        k = j
        while k >= i and self.heading[k]:
            k -= 1
        return k if k >= i else -1

    def cut_inside(self, k: int, s: int) -> Generator[Span, None, int]:
        """Yield all but the last piece of `[s, end of block k)`; return the last piece's start.

        The last piece is left to be merged with the blocks after it.
        """
        block = self.blocks[k]
        pieces = list(split_range(self.text, s, block.end, self.measure, self.cap,
                                  self.overlap, _levels(block)))
        for a, b in pieces[:-1]:
            yield self.span(a, b)
        return pieces[-1][0] if pieces else s

    def span(self, s: int, e: int) -> Span:
        first = max(bisect_right(self.starts, s) - 1, 0)
        last = max(bisect_left(self.starts, e) - 1, first)
        kinds = self.kinds[first:last + 1]
        meta: dict[str, Any] = {
            "headings": list(self.paths[first]),
            "block_types": sorted(set(kinds)),
        }
        if first == last and kinds[0] == mb.CODE:
            language = _fence_language(self.blocks[first].info)
            if language:
                meta["language"] = language
        return Span(s, e, meta)


"""The Strategy base class: strategies yield spans; this turns them into checked chunks.

Every strategy only decides where spans start and end. Trimming, the hard token cap, exact
token counts, heading/page metadata and indexes are applied here, once, for all of them, so
an invariant holds for every strategy or for none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from chunkyard.core.params import BaseParams, parse_params
from chunkyard.core.sizing import Measure, Tokenizer, get_tokenizer
from chunkyard.core.splitter import skip_space, split_range, strip_end
from chunkyard.core.types import Chunk, Document

# Texts longer than this are chunked in independent segments cut at a paragraph break, so
# memory stays bounded for very large files. Deterministic: depends only on the text.
SEGMENT_CHARS = 4_000_000


@dataclass(slots=True)
class Span:
    """What a strategy yields: `[start, end)` plus metadata; `cap` overrides the chunk size."""

    start: int
    end: int
    meta: dict[str, Any] = field(default_factory=dict)
    cap: int | None = None


@dataclass(slots=True)
class Region:
    """One segment of a document to split, with its measure."""

    doc: Document
    lo: int
    hi: int
    measure: Measure
    tokenizer: Tokenizer

    @property
    def text(self) -> str:
        return self.doc.text


class Strategy(ABC):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[BaseParams]] = BaseParams
    # True for a strategy that keeps state from one segment of a document to the next (a
    # heading stack, a position): each document is then split by a fresh instance of its
    # own, so one configured strategy serves many documents, or threads, at once.
    per_document: ClassVar[bool] = False

    def __init__(self, params: BaseParams) -> None:
        self.params = params

    @classmethod
    def from_params(cls, values: dict[str, Any] | None = None) -> Strategy:
        return cls(parse_params(cls.Params, values))

    @abstractmethod
    def split(self, region: Region) -> Iterator[Span]:
        """Spans of `region` in source order (parents before their children, if any)."""

    def prepare(self, doc: Document) -> None:  # noqa: B027 - optional hook
        """Called once per document before splitting (e.g. to check optional dependencies)."""

    def chunks(self, doc: Document) -> Iterator[Chunk]:
        """The document's chunks, streamed in source order."""
        splitter = type(self)(self.params) if self.per_document else self
        splitter.prepare(doc)
        tokenizer = get_tokenizer(self.params.tokenizer)
        annotate = _Annotator(doc, self.name)
        index = 0
        for lo, hi in segments(doc.text):
            measure = tokenizer.measure(doc.text, lo, hi)
            region = Region(doc, lo, hi, measure, tokenizer)
            for span in splitter.split(region):
                cap = span.cap or self.params.chunk_size
                for s, e in _enforce(doc.text, span.start, span.end, measure, cap):
                    meta = annotate(s, span.meta)
                    yield Chunk(index, doc.text[s:e], s, e, measure.count(s, e), meta)
                    index += 1


def _enforce(text: str, s: int, e: int, measure: Measure, cap: int) -> Iterator[tuple[int, int]]:
    """Trim a span and, should a strategy have overshot, re-split it so the cap always holds."""
    s = skip_space(text, s, e)
    e = strip_end(text, s, e)
    if e <= s:
        return
    if measure.count(s, e) <= cap:
        yield s, e
    else:
        yield from split_range(text, s, e, measure, cap)


def segments(text: str) -> Iterator[tuple[int, int]]:
    """Cut very long texts at a blank line (else a line break, else a space) near each mark."""
    n = len(text)
    lo = 0
    while n - lo > SEGMENT_CHARS:
        mark = lo + SEGMENT_CHARS
        window = lo + SEGMENT_CHARS * 3 // 4
        cut = -1
        for sep in ("\n\n", "\n", " "):
            p = text.rfind(sep, window, mark)
            if p > lo:
                cut = p + len(sep)
                break
        if cut < 0:
            cut = mark
        yield lo, cut
        lo = cut
    yield lo, n


class _Annotator:
    """Adds `strategy`, `headings` (outermost first), `page` and `language` to chunk metadata."""

    def __init__(self, doc: Document, strategy: str) -> None:
        self.strategy = strategy
        self.language = doc.language
        self.heading_starts = [h.start for h in doc.headings]
        self.heading_paths: list[list[str]] = []
        stack: list[tuple[int, str]] = []
        for h in doc.headings:
            while stack and stack[-1][0] >= h.level:
                stack.pop()
            stack.append((h.level, h.title))
            self.heading_paths.append([t for _, t in stack])
        self.page_starts = [p.start for p in doc.pages]
        self.page_numbers = [p.page for p in doc.pages]

    def __call__(self, start: int, extra: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {"strategy": self.strategy}
        if "headings" not in extra and self.heading_starts:
            k = bisect_right(self.heading_starts, start) - 1
            meta["headings"] = list(self.heading_paths[k]) if k >= 0 else []
        if self.page_starts:
            k = bisect_right(self.page_starts, start) - 1
            meta["page"] = self.page_numbers[max(k, 0)]
        if self.language:
            meta["language"] = self.language
        meta.update(extra)
        return meta

"""`hybrid`: picks a strategy per document, and per section of markdown, from its content.

The document's kind comes from `detect.sniff`: the extractor's kind or the file extension
first, else the content of the first 64 KB (markdown headings, fences and tables; code lines
and definitions). Then:

- markdown -> the `markdown` strategy. With `split_code_blocks` (the default), a code block
  too large for one chunk becomes its own section, split as code by `recursive` (at top-level
  definitions of the fence's language, then blank lines, then lines), while the markdown
  around it goes to `markdown`. Heading paths are computed here from the same block parse as
  the `markdown` strategy's, so they carry on across code sections and long-text segments.
- code -> `recursive` on the document as code, so it cuts at top-level definitions first;
- prose -> `recursive` (paragraphs, then lines, sentences, clauses, words).

Every chunk's metadata records `chosen_strategy` (the strategy that made it) and `reason`
(a sentence with the evidence). The common parameters (cap, overlap, tokenizer) are passed
unchanged to the strategy chosen, so the hard cap holds as for any strategy.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pydantic import Field

from chunkyard.core import markdown_blocks as mb
from chunkyard.core.detect import fence_language, sniff
from chunkyard.core.params import BaseParams
from chunkyard.core.registry import create_strategy, register
from chunkyard.core.strategy import Region, Span, Strategy
from chunkyard.core.types import Document


class HybridParams(BaseParams):
    split_code_blocks: bool = Field(
        True,
        description="In markdown, split a code block too large for one chunk as code (at "
        "top-level definitions, blank lines, then lines) rather than by the markdown rules.",
    )


@register("hybrid", rank=5)
class HybridStrategy(Strategy):
    description = (
        "Chooses from the file type and content: markdown for markdown (large code blocks "
        "split as code), recursive at top-level definitions for code, recursive for prose. "
        "Records chosen_strategy and reason in every chunk."
    )
    Params = HybridParams

    per_document = True

    def __init__(self, params: BaseParams) -> None:
        super().__init__(params)
        # Of this instance's one document: the sniffed choice, the strategies delegated to,
        # and the heading stack where the last region ended (its end offset, the stack).
        self._choice: tuple[str, str] | None = None
        self._delegates: dict[str, Strategy] = {}
        self._carry: tuple[int, list[tuple[int, str]]] | None = None

    def split(self, region: Region) -> Iterator[Span]:
        doc = region.doc
        if self._choice is None:
            # The first 64 KB of the document, not of the region, so every segment agrees.
            self._choice = sniff(doc.text, kind=doc.kind, language=doc.language,
                                 name=doc.filename)
        kind, reason = self._choice
        if kind == "markdown":
            yield from self._markdown(region, reason)
        elif kind == "code":
            code_doc = doc
            if doc.kind != "code":
                code_doc = replace(doc, kind="code")
            yield from self._delegate("recursive", _sub(region, code_doc), reason)
        else:
            yield from self._delegate("recursive", region, reason)

    def _delegate(self, name: str, region: Region, reason: str,
                  extra: dict[str, Any] | None = None) -> Iterator[Span]:
        strategy = self._delegates.get(name)
        if strategy is None:
            p = self.params
            strategy = create_strategy(name, {"chunk_size": p.chunk_size,
                                              "chunk_overlap": p.chunk_overlap,
                                              "tokenizer": p.tokenizer})
            strategy.prepare(region.doc)
            self._delegates[name] = strategy
        for span in strategy.split(region):
            span.meta = {**span.meta, **(extra or {}), "chosen_strategy": name,
                         "reason": reason}
            yield span

    def _markdown(self, region: Region, reason: str) -> Iterator[Span]:
        p = self.params
        assert isinstance(p, HybridParams)
        if not p.split_code_blocks:
            yield from self._delegate("markdown", region, reason)
            return
        blocks = mb.parse_blocks(region.text, region.lo, region.hi)
        stack: list[tuple[int, str]] = []
        carry = self._carry
        if carry is not None and carry[0] == region.lo:
            stack = list(carry[1])
        headings = _Headings(blocks, stack)
        self._carry = (region.hi, headings.final)

        big = [b for b in blocks if b.kind == mb.CODE
               and region.measure.count(b.start, b.end) > p.chunk_size]
        doc = region.doc
        cur = region.lo
        for block in big:
            if cur < block.start:
                for span in self._delegate("markdown", _sub(region, doc, cur, block.start),
                                           reason):
                    yield headings.annotate(span)
            language = fence_language(block.info)
            tokens = region.measure.count(block.start, block.end)
            why = (f"code: a {tokens:,}-token {language or 'code'} block in a markdown "
                   "document, too large for one chunk, so split at definitions, blank lines "
                   "and lines")
            extra: dict[str, Any] = {"block_types": [mb.CODE]}
            if language:
                extra["language"] = language
            code_doc = replace(doc, kind="code", language=language)
            for span in self._delegate("recursive", _sub(region, code_doc, block.start,
                                                         block.end), why, extra):
                yield headings.annotate(span)
            cur = block.end
        if cur < region.hi:
            for span in self._delegate("markdown", _sub(region, doc, cur, region.hi), reason):
                yield headings.annotate(span)


class _Headings:
    """Heading path (outermost first) at any offset of a region, from its parsed blocks."""

    def __init__(self, blocks: list[mb.Block], stack: list[tuple[int, str]]) -> None:
        self.starts: list[int] = []
        self.paths: list[list[str]] = []
        self.initial = [title for _, title in stack]
        for block in blocks:
            if block.kind == mb.HEADING:
                while stack and stack[-1][0] >= block.level:
                    stack.pop()
                stack.append((block.level, block.title))
                self.starts.append(block.start)
                self.paths.append([title for _, title in stack])
        self.final = stack

    def annotate(self, span: Span) -> Span:
        k = bisect_right(self.starts, span.start) - 1
        span.meta["headings"] = list(self.paths[k] if k >= 0 else self.initial)
        return span


def _sub(region: Region, doc: Document, lo: int | None = None, hi: int | None = None) -> Region:
    """Part of `region` (sharing its measure, whose offsets are absolute), maybe as `doc`."""
    return Region(doc, region.lo if lo is None else lo, region.hi if hi is None else hi,
                  region.measure, region.tokenizer)

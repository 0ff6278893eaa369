"""`semantic`: a new chunk starts where sentence embeddings say the topic changes.

The region is cut into sentences (`split_sentences`). Each sentence is embedded once, in blocks,
by a real model: the bundled static model distilled from all-MiniLM-L6-v2 (numpy, no torch;
the default), all-MiniLM-L6-v2 itself, another local folder, or an OpenAI-compatible endpoint.
A sentence longer than EMBED_CHARS is embedded as the mean of pieces of at most that size
(MiniLM reads only 256 word pieces); of a very long one only the head and tail pieces, which
face its two gaps, so the model's work per sentence is bounded. `gap_distances` gives the
cosine distance between the `window` sentences before and after each gap; a gap above
`threshold`, or else above the `percentile` of this text's gaps, starts a new group.

The planner works on units: sentences, and cap-sized pieces (`split_range`) of the sentences
that alone exceed the cap. A cut inside a sentence is never a topic break, the last place to
cut and the first place to merge. Then:

- a group over the cap is cut at its most dissimilar gaps, each part filling at least half of
  what fits (greedy, linear; the highest distance wins, ties to the fuller part);
- a group under `min_fill` of the cap is merged into the neighbour it is most similar to (the
  lower distance across the shared gap), when the merge fits the cap; smallest groups first;
- `chunk_overlap` prepends up to that many tokens of the previous chunk. Groups are planned
  with `chunk_size - chunk_overlap` so the overlap always has room, as `split_range` does.

Every chunk records `embedding_model` (the embedder's name, never a key), `break_distance` (the
cosine distance at the gap it starts at; null for a region's first chunk, inside a sentence, or
when no embedding was needed: with one sentence, or two and no threshold, embeddings could not
change the result and the model is not called) and `break_reason` (`topic`, `size`, or null).
"""

from __future__ import annotations

import heapq
import math
import urllib.parse
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

# The core's embeddings module is only the seam (no model, no client): the embedders are
# `chunkyard.embedding`'s, installed by `import chunkyard`; torch loads on the first local
# `embed` call, so registering this strategy keeps `chunkyard strategies` fast.
from chunkyard.core.breakpoints import gap_distances
from chunkyard.core.embeddings import API_KEY_ENV, Embedder, embedder_for, is_http_url
from chunkyard.core.params import BaseParams
from chunkyard.core.registry import register
from chunkyard.core.sentences import split_sentences
from chunkyard.core.sizing.base import WHITESPACE, Measure
from chunkyard.core.splitter import split_range
from chunkyard.core.strategy import Region, Span, Strategy
from chunkyard.core.types import ChunkingError, Document

# Longest text handed to the embedder in one piece. all-MiniLM-L6-v2 reads 256 word pieces,
# about 1,100 characters of English; 1,000 keeps typical prose whole within that window, and is
# far below any hosted model's input limit.
EMBED_CHARS = 1_000
# Sentences embedded per `embed` call. Bounds memory (a block of 384-wide rows is ~1.5 MB) on very
# long texts while keeping calls large enough for the embedder's own batching and sorting.
EMBED_BLOCK = 1_024
# At most this many EMBED_CHARS pieces of one sentence are embedded: its head and its tail.
MAX_PIECES = 8


class SemanticParams(BaseParams):
    threshold: float | None = Field(
        None, ge=0.0, le=2.0,
        description="Start a new chunk where the cosine distance (1 - similarity) between the "
        "windows before and after a sentence gap is above this value, 0..2. Overrides "
        "percentile; unset: use percentile.",
    )
    percentile: float = Field(
        90.0, ge=50.0, le=99.9,
        description="Without a threshold: start a new chunk at gaps whose distance is above "
        "this percentile of all the gaps of the text (higher = fewer, larger chunks).",
    )
    window: int = Field(
        1, ge=1, le=5,
        description="Sentences averaged on each side of a gap before comparing (larger = "
        "smoother, fewer spurious breaks).",
    )
    min_fill: float = Field(
        0.1, ge=0.0, le=0.5,
        description="A group smaller than this share of chunk_size is merged into its most "
        "similar neighbour when the merge fits the cap (0 = never merge).",
    )
    embedding_model: str = Field(
        "static", min_length=1, max_length=1000,
        description="Embedding model run in this process: 'static' for the bundled static model "
        "distilled from all-MiniLM-L6-v2 (numpy only, fast), 'local' for all-MiniLM-L6-v2 "
        "itself (contextual; needs torch), or 'static:/path' / 'local:/path' for a model2vec "
        "/ sentence-transformers folder on the server.",
        json_schema_extra={"examples": ["static", "local"]},
    )
    embedding_url: str | None = Field(
        None, max_length=2000,
        description="Base URL of an OpenAI-compatible embeddings server (POST /v1/embeddings), "
        "instead of the local model; needs embedding_api_model. The API key is read from the "
        f"{API_KEY_ENV} environment variable, never from parameters.",
        json_schema_extra={"examples": ["http://localhost:8080/v1"]},
    )
    embedding_api_model: str | None = Field(
        None, min_length=1, max_length=200,
        description="Model name sent to embedding_url, e.g. text-embedding-3-small.",
    )

    @field_validator("embedding_model")
    @classmethod
    def _local_model(cls, value: str) -> str:
        value = value.strip()
        kind, sep, path = value.partition(":")
        if kind not in ("static", "local") or (sep and not path.strip()):
            raise ValueError("use 'static', 'local', 'static:/path/to/model' or "
                             "'local:/path/to/model'")
        return value

    @field_validator("embedding_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not is_http_url(value):
            raise ValueError("must be an http(s) URL")
        parts = urllib.parse.urlsplit(value)
        # Parameters are stored and echoed back; a secret in them would leak.
        if "@" in parts.netloc:
            raise ValueError(f"must not contain credentials; set {API_KEY_ENV} instead")
        return value

    @model_validator(mode="after")
    def _endpoint_complete(self) -> Self:
        if self.embedding_url and not self.embedding_api_model:
            raise ValueError("embedding_api_model is required when embedding_url is set")
        if self.embedding_api_model and not self.embedding_url:
            raise ValueError("embedding_url is required when embedding_api_model is set")
        # "local" was the default before "static": configurations stored then still validate.
        if self.embedding_url and self.embedding_model not in ("static", "local"):
            raise ValueError("set embedding_model or embedding_url, not both")
        return self


@register("semantic", rank=3)
class SemanticStrategy(Strategy):
    description = (
        "Embeds each sentence with a real embedding model (by default a static model distilled "
        "from all-MiniLM-L6-v2, bundled; or all-MiniLM-L6-v2 itself, or an OpenAI-compatible "
        "endpoint) and starts a new chunk where similarity between neighbouring sentence "
        "windows drops (threshold or percentile); the cap still holds."
    )
    Params = SemanticParams

    def prepare(self, doc: Document) -> None:
        # Fails before any splitting when the extra, the model folder or the URL is wrong.
        self._embedder()

    def _embedder(self) -> Embedder:
        p = self.params
        assert isinstance(p, SemanticParams)
        if p.embedding_url:  # the key comes from the environment, read by the factory
            return embedder_for({"url": p.embedding_url, "model": p.embedding_api_model})
        return embedder_for(p.embedding_model)

    def split(self, region: Region) -> Iterator[Span]:
        p = self.params
        assert isinstance(p, SemanticParams)
        embedder = self._embedder()
        text, measure = region.text, region.measure
        overlap = p.chunk_overlap
        plan_cap = p.chunk_size - overlap  # room for the overlap prefix in every chunk

        sentences = split_sentences(text, region.lo, region.hi)
        starts, ends, first_unit = _units(text, sentences, measure, plan_cap)
        n = len(starts)
        if n == 0:
            return
        # score[g] for unit gap g (between units g - 1 and g): the cosine distance when g is
        # a sentence gap, -1 inside a sentence (the worst place to cut, the best to merge).
        score = [-1.0] * n
        for i in range(1, len(sentences)):
            score[first_unit[i]] = 0.0
        known = [False] * n  # gaps whose distance was measured
        breaks: list[int] = []
        # With one gap a percentile cut can never fire (no gap is above itself), so the
        # embeddings could not change the result: skip the model.
        if len(sentences) >= 3 or (len(sentences) == 2 and p.threshold is not None):
            dist = _distances(embedder, text, sentences, p.window)
            cut = p.threshold
            if cut is None:
                cut = float(np.percentile(dist, p.percentile))
            for i, d in enumerate(dist.tolist(), start=1):
                g = first_unit[i]
                score[g] = d
                known[g] = True
                if d > cut:
                    breaks.append(g)

        planner = _Planner(measure, starts, ends, score, plan_cap)
        group_starts, reasons = planner.groups(breaks)
        min_tokens = math.ceil(p.min_fill * p.chunk_size)
        group_starts = planner.merge_small(group_starts, min_tokens)

        prev: tuple[int, int, int] | None = None  # previous chunk: emitted start, unit start, end
        for k, first in enumerate(group_starts):
            last = (group_starts[k + 1] if k + 1 < len(group_starts) else n) - 1
            s, e = starts[first], ends[last]
            begin = s
            if prev is not None and overlap > 0:
                begin = _overlap_start(measure, prev, s, e, overlap, p.chunk_size)
            meta: dict[str, Any] = {
                "embedding_model": embedder.name,
                "break_distance": round(score[first], 4) if first and known[first] else None,
                "break_reason": reasons.get(first),
            }
            yield Span(begin, e, meta)
            prev = (begin, s, e)


def _units(text: str, sentences: Sequence[tuple[int, int]], measure: Measure,
           cap: int) -> tuple[list[int], list[int], list[int]]:
    """Unit starts and ends, and each sentence's first unit.

    A unit is a sentence, or a piece of a sentence over `cap` (cut by `split_range` at clauses,
    then words), so that every unit fits one chunk.
    """
    starts: list[int] = []
    ends: list[int] = []
    first_unit: list[int] = []
    for s, e in sentences:
        first_unit.append(len(starts))
        if measure.fit(s, e, cap) >= e:
            starts.append(s)
            ends.append(e)
            continue
        for a, b in split_range(text, s, e, measure, cap):
            starts.append(a)
            ends.append(b)
    return starts, ends, first_unit


def _pieces(text: str, s: int, e: int) -> Iterator[str]:
    """`text[s:e]` in pieces of at most EMBED_CHARS, cut at whitespace where there is some."""
    while e - s > EMBED_CHARS:
        limit = s + EMBED_CHARS
        cut = limit
        # The last whitespace in the second half of the window, else a hard cut.
        for i in range(limit, s + EMBED_CHARS // 2, -1):
            if text[i] in WHITESPACE:
                cut = i
                break
        piece = text[s:cut].strip()
        if piece:
            yield piece
        s = cut
        while s < e and text[s] in WHITESPACE:
            s += 1
    piece = text[s:e].strip()
    if piece:
        yield piece


def _sentence_pieces(text: str, s: int, e: int) -> list[str]:
    """What is embedded for sentence `[s, e)`: all of it, or its head and tail if very long.

    The head faces the gap before the sentence and the tail the gap after it; the middle of a
    sentence longer than the cap never decides a break, and skipping it bounds the model's
    work per sentence (1 MB without a full stop costs 8 pieces, not 1,000).
    """
    half = EMBED_CHARS * MAX_PIECES // 2
    if e - s <= 2 * half:
        return list(_pieces(text, s, e))
    k = MAX_PIECES // 2
    return [*list(_pieces(text, s, s + half))[:k], *list(_pieces(text, e - half, e))[-k:]]


def _embed_sentences(embedder: Embedder, text: str,
                     sentences: Sequence[tuple[int, int]]) -> npt.NDArray[np.float32]:
    """One row per sentence: its embedding, or the sum of its pieces' unit-length embeddings."""
    pieces: list[str] = []
    offsets: list[int] = []
    for s, e in sentences:
        offsets.append(len(pieces))
        pieces.extend(_sentence_pieces(text, s, e))
    rows = embedder.embed(pieces)
    if rows.ndim != 2 or rows.shape[0] != len(pieces):
        raise ChunkingError(
            f"embedder {embedder.name} returned {rows.shape[0]} vectors for {len(pieces)} texts"
        )
    if len(pieces) == len(offsets):
        return rows
    # Cosine ignores scale, so the sum stands for the mean; gap_distances normalises rows.
    summed: npt.NDArray[np.float32] = np.add.reduceat(rows, offsets, axis=0)
    return summed


def _distances(embedder: Embedder, text: str, sentences: Sequence[tuple[int, int]],
               window: int) -> npt.NDArray[np.float64]:
    """`gap_distances` over all sentences, embedding EMBED_BLOCK sentences at a time.

    Entry `g - 1` is gap `g`. Only the rows still inside some gap's window are kept between
    blocks, so memory stays bounded on long texts; each gap's windows are never cut short by
    a block edge, so the result equals one `gap_distances` call over every row.
    """
    n = len(sentences)
    dist = np.empty(n - 1, dtype=np.float64)
    buf: npt.NDArray[np.float32] | None = None
    base = 0  # sentence index of buf[0]
    done = 1  # next gap to compute
    for b0 in range(0, n, EMBED_BLOCK):
        top = min(n, b0 + EMBED_BLOCK)
        rows = _embed_sentences(embedder, text, sentences[b0:top])
        buf = rows if buf is None else np.concatenate((buf, rows), axis=0)
        # Gap g needs rows up to g + window; at the end of the text, every gap is ready.
        last = n - 1 if top == n else top - window
        if last >= done:
            local = gap_distances(buf, window)  # gaps base+1 .. top-1
            dist[done - 1 : last] = local[done - base - 1 : last - base]
            done = last + 1
        new_base = max(0, done - window)
        buf = buf[new_base - base :]
        base = new_base
    return dist


class _Planner:
    """Turns units, gap distances and break gaps into groups of units that fit the cap."""

    def __init__(self, measure: Measure, starts: list[int], ends: list[int],
                 score: list[float], cap: int) -> None:
        self.measure = measure
        self.starts = starts
        self.ends = ends
        self.score = score
        self.cap = cap

    def tokens(self, first: int, stop: int) -> int:
        """Tokens of units `[first, stop)` as one span."""
        return self.measure.count(self.starts[first], self.ends[stop - 1])

    def groups(self, breaks: Sequence[int]) -> tuple[list[int], dict[int, str]]:
        """First unit of each group, and why each group after the first starts there."""
        n = len(self.starts)
        firsts: list[int] = []
        reasons: dict[int, str] = {}
        bounds = [0, *breaks, n]
        for a, b in pairwise(bounds):
            parts = self.fit_parts(a, b)
            if a > 0:
                reasons[a] = "topic"
            for j in parts[1:]:
                reasons[j] = "size"
            firsts.extend(parts)
        return firsts, reasons

    def fit_parts(self, a: int, b: int) -> list[int]:
        """Cut units `[a, b)` into parts within the cap; the first unit of each part.

        From each part's start, the furthest unit end that fits bounds the part; the cut goes
        at the most dissimilar gap among those leaving the part at least half of that span
        (in characters, as `split_range` does), so parts stay full and topical.
        """
        starts, ends, measure = self.starts, self.ends, self.measure
        firsts = [a]
        i = a
        while i < b - 1:
            # `fit` rather than counting the rest: the rest may be far longer than the cap.
            e_max = measure.fit(starts[i], ends[b - 1], self.cap)
            if e_max >= ends[b - 1]:
                break
            r = max(i + 1, min(b - 1, bisect_right(ends, e_max, i + 1, b)))
            # Token counts are not quite monotone in the end offset; verify.
            while r > i + 1 and self.tokens(i, r) > self.cap:
                r -= 1
            want = starts[i] + (ends[r - 1] - starts[i]) // 2
            j_lo = max(i + 1, bisect_left(ends, want, i, r) + 1)
            best, best_d = r, -math.inf
            for j in range(j_lo, min(r, b - 1) + 1):
                if self.score[j] >= best_d:
                    best, best_d = j, self.score[j]
            firsts.append(best)
            i = best
        return firsts

    def merge_small(self, firsts: list[int], min_tokens: int) -> list[int]:
        """Merge each group under `min_tokens` into its most similar neighbour that fits.

        Smallest groups first (ties: leftmost), so a stray sentence joins a real group
        before two strays join each other. Each merge removes a group: at most n merges.
        """
        m = len(firsts)
        if m < 2 or min_tokens <= 0:
            return firsts
        n = len(self.starts)
        stop = [*firsts[1:], n]
        size = [self.tokens(firsts[k], stop[k]) for k in range(m)]
        prev = list(range(-1, m - 1))
        nxt = [*range(1, m), -1]
        alive = [True] * m
        heap = [(size[k], k) for k in range(m) if size[k] < min_tokens]
        heapq.heapify(heap)
        while heap:
            t, k = heapq.heappop(heap)
            if not alive[k] or size[k] != t:
                continue
            options: list[tuple[float, int, int]] = []  # (distance, left group, right group)
            if prev[k] >= 0:
                options.append((self.score[firsts[k]], prev[k], k))
            if nxt[k] >= 0:
                options.append((self.score[firsts[nxt[k]]], k, nxt[k]))
            for _, left, right in sorted(options, key=lambda o: o[0]):
                merged = self.tokens(firsts[left], stop[right])
                if merged > self.cap:
                    continue
                stop[left] = stop[right]
                size[left] = merged
                alive[right] = False
                nxt[left] = nxt[right]
                if nxt[right] >= 0:
                    prev[nxt[right]] = left
                if merged < min_tokens:
                    heapq.heappush(heap, (merged, left))
                break
        return [firsts[k] for k in range(m) if alive[k]]


def _overlap_start(measure: Measure, prev: tuple[int, int, int], s: int, e: int,
                   overlap: int, cap: int) -> int:
    """Where a chunk `[s, e)` starts with up to `overlap` tokens of the previous chunk.

    The overlap comes from the previous chunk's own text (not its overlap) and shrinks if the
    chunk would otherwise exceed `cap`, so both the cap and the overlap bound always hold.
    """
    prev_begin, prev_s, prev_e = prev
    floor = max(prev_begin + 1, prev_s)
    budget = overlap
    while budget > 0:
        begin = measure.back(prev_e, floor, budget)
        if begin >= prev_e:
            return s
        over = measure.count(begin, e) - cap
        if over <= 0:
            return begin
        budget -= over
    return s

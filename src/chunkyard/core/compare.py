"""Run several chunking configurations on one text and measure how their chunks differ.

Metrics, per configuration (all computed over every chunk, even when `max_chunks` limits the
chunks returned):

- `chunk_count`; `tokens_mean`, `tokens_min`, `tokens_max`, `tokens_p95` (nearest-rank 95th
  percentile: the smallest count with at least 95% of chunks at or below it); all 0 when there
  are no chunks.
- `small_share`: share of chunks with `tokens < chunk_size / 4` (under 25% of the cap).
- `mid_sentence_share`: share of chunks whose end is a *mid-sentence cut*; see `clean_end`.
- `time_ms`: wall time to produce all the chunks; building the strategy and loading its
  tokenizer are excluded (one-time costs per process).

Shares are fractions in [0, 1], 0 when there are no chunks.

With `keep_going=True`, a configuration that fails while chunking (a tokenizer file that cannot
be loaded, an embedding endpoint that cannot be reached) is reported as a `ComparisonFailure`
carrying the error's message instead of failing the whole comparison; `pick_recommendation`
ranks the successes only. A bad configuration still fails before anything runs, and when every
configuration fails the first one's error is raised, as without `keep_going`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from chunkyard.core.registry import create_strategy
from chunkyard.core.sizing import get_tokenizer
from chunkyard.core.strategy import Strategy
from chunkyard.core.types import Chunk, ChunkingError, Document

MIN_CONFIGS = 2
MAX_CONFIGS = 6
SMALL_FRACTION = 0.25

# A sentence ends after one of these when whitespace or the end of the text follows.
_TERMINATORS = frozenset(".!?…")
# Full-width terminators end a sentence whatever follows (CJK text has no spaces).
_FULL_WIDTH_TERMINATORS = frozenset("。！？")
# Closing quotes and brackets that may follow a terminator and still belong to the sentence.
_CLOSERS = frozenset("\"'”’»›)]}」』）】")
_LINE_BREAKS = "\n\r\u2028\u2029\x0b\x0c\x85"

# Weights of pick_recommendation's score (lower is better); see its docstring.
WEIGHT_MID_SENTENCE = 0.5
WEIGHT_SMALL = 0.3
WEIGHT_UNDERFILL = 0.2
# An average chunk at half the cap or more is not penalised: structure-aware strategies end
# chunks at sections and paragraphs and rarely fill the cap, which is no fault.
FULL_ENOUGH = 0.5


@dataclass(frozen=True, slots=True)
class ComparisonMetrics:
    chunk_count: int
    tokens_mean: float
    tokens_min: int
    tokens_max: int
    tokens_p95: int
    small_share: float
    mid_sentence_share: float
    time_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_count": self.chunk_count,
            "tokens_mean": self.tokens_mean,
            "tokens_min": self.tokens_min,
            "tokens_max": self.tokens_max,
            "tokens_p95": self.tokens_p95,
            "small_share": self.small_share,
            "mid_sentence_share": self.mid_sentence_share,
            "time_ms": self.time_ms,
        }


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What every configuration's outcome has: its strategy and validated parameters."""

    strategy: str
    params: dict[str, Any]

    @property
    def chunk_size(self) -> int:
        return int(self.params["chunk_size"])

    def _head(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class ComparisonResult(_Outcome):
    """One configuration's outcome; `params` are the validated parameters, defaults filled in."""

    metrics: ComparisonMetrics
    chunks: list[Chunk] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._head(),
            "metrics": self.metrics.to_dict(),
            "chunks": [c.to_dict() for c in self.chunks],
        }


@dataclass(frozen=True, slots=True)
class ComparisonFailure(_Outcome):
    """One configuration that failed while chunking (compare's `keep_going` mode): `params`
    are the validated parameters, `error` the ChunkingError's message on one line."""

    error: str

    def to_dict(self) -> dict[str, Any]:
        return {**self._head(), "metrics": None, "chunks": None, "error": self.error}


def result_dict(result: ComparisonResult | ComparisonFailure) -> dict[str, Any]:
    """One configuration's entry in a keep-going compare's answer (the API's and
    `chunkyard compare --json`'s): the same keys either way, `error` null on a success."""
    if isinstance(result, ComparisonFailure):
        return result.to_dict()
    return {**result.to_dict(), "error": None}


@dataclass(frozen=True, slots=True)
class Pick:
    """Which configuration looks best: `index` into the results, with a human `reason`."""

    index: int
    strategy: str
    params: dict[str, Any]
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "strategy": self.strategy,
            "params": dict(self.params),
            "score": self.score,
            "reason": self.reason,
        }


def clean_end(text: str, end: int) -> bool:
    """Whether a chunk ending at `end` (exclusive) ends cleanly; otherwise it is a mid-sentence cut.

    A chunk end is clean when at least one of these holds:

    1. end of text: `text[end:]` is empty or only whitespace;
    2. paragraph end: the whitespace run starting at `end` holds two or more line breaks
       (`\\r\\n` counts as one);
    3. sentence end: the last character of the chunk, after skipping closing quotes and
       brackets (`" ' ” ’ » › ) ] }` ...), is `.`, `!`, `?` or `…` and `text[end]` is whitespace,
       or it is a full-width `。`, `！` or `？` (followed by anything).

    Anything else (a cut inside a sentence, after a clause, at a single line break with no
    terminator, inside a word) counts as mid-sentence. Abbreviations are not special-cased:
    a chunk ending right after "e.g." followed by a space counts as a sentence end.
    """
    n = len(text)
    if end >= n:
        return True
    j = end
    breaks = 0
    while j < n and text[j].isspace():
        c = text[j]
        if c == "\u2029":
            breaks += 2
        elif c in _LINE_BREAKS and not (c == "\r" and j + 1 < n and text[j + 1] == "\n"):
            breaks += 1
        j += 1
    if j >= n or breaks >= 2:
        return True
    k = end - 1
    while k >= 0 and text[k] in _CLOSERS:
        k -= 1
    if k < 0:
        return False
    last = text[k]
    if last in _FULL_WIDTH_TERMINATORS:
        return True
    return last in _TERMINATORS and text[end].isspace()


def _p95(sorted_counts: Sequence[int]) -> int:
    if not sorted_counts:
        return 0
    rank = math.ceil(0.95 * len(sorted_counts))
    return sorted_counts[max(rank, 1) - 1]


class Tally:
    """The metrics of one configuration, counted chunk by chunk (so a compare need not keep
    every chunk to measure them)."""

    __slots__ = ("cap", "counts", "mid", "small", "text")

    def __init__(self, text: str, cap: int) -> None:
        self.text = text
        self.cap = cap
        self.counts: list[int] = []
        self.small = 0
        self.mid = 0

    def add(self, chunk: Chunk) -> None:
        self.counts.append(chunk.tokens)
        if chunk.tokens < self.cap * SMALL_FRACTION:
            self.small += 1
        if not clean_end(self.text, chunk.end):
            self.mid += 1

    def metrics(self, elapsed_ms: float) -> ComparisonMetrics:
        counts = sorted(self.counts)
        n = len(counts)
        return ComparisonMetrics(
            chunk_count=n,
            tokens_mean=round(sum(counts) / n, 2) if n else 0.0,
            tokens_min=counts[0] if n else 0,
            tokens_max=counts[-1] if n else 0,
            tokens_p95=_p95(counts),
            small_share=round(self.small / n, 4) if n else 0.0,
            mid_sentence_share=round(self.mid / n, 4) if n else 0.0,
            time_ms=round(elapsed_ms, 3),
        )


def measure(text: str, chunks: Sequence[Chunk], cap: int, elapsed_ms: float) -> ComparisonMetrics:
    """The metrics of `chunks` of `text` under a cap of `cap` tokens, produced in `elapsed_ms`."""
    tally = Tally(text, cap)
    for chunk in chunks:
        tally.add(chunk)
    return tally.metrics(elapsed_ms)


def _validate_configs(configs: Sequence[Mapping[str, Any]]) -> list[tuple[str, Strategy]]:
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Sequence):
        raise ChunkingError("configs must be a list of {strategy, params} objects")
    if not MIN_CONFIGS <= len(configs) <= MAX_CONFIGS:
        raise ChunkingError(
            f"compare needs {MIN_CONFIGS} to {MAX_CONFIGS} configurations, got {len(configs)}"
        )
    built: list[tuple[str, Strategy]] = []
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping):
            raise ChunkingError(f"configs[{i}] must be an object with strategy and params")
        name = config.get("strategy")
        if not isinstance(name, str):
            raise ChunkingError(f"configs[{i}].strategy: a strategy name is required")
        params = config.get("params") or {}
        if not isinstance(params, Mapping):
            raise ChunkingError(f"configs[{i}].params must be an object")
        try:
            strategy = create_strategy(name, dict(params))
        except ChunkingError as exc:
            raise ChunkingError(f"configs[{i}] ({name}): {exc}") from None
        built.append((name, strategy))
    return built


@overload
def compare(
    doc_or_text: Document | str,
    configs: Sequence[Mapping[str, Any]],
    *,
    max_chunks: int | None = None,
    keep_going: Literal[False] = False,
) -> list[ComparisonResult]: ...


@overload
def compare(
    doc_or_text: Document | str,
    configs: Sequence[Mapping[str, Any]],
    *,
    max_chunks: int | None = None,
    keep_going: bool,
) -> list[ComparisonResult | ComparisonFailure]: ...


def compare(
    doc_or_text: Document | str,
    configs: Sequence[Mapping[str, Any]],
    *,
    max_chunks: int | None = None,
    keep_going: bool = False,
) -> list[ComparisonResult] | list[ComparisonResult | ComparisonFailure]:
    """Chunk one document with each of 2..6 configurations (`{strategy, params}`) and measure.

    Every configuration is validated before any runs, so a bad one raises ChunkingError
    naming it (`configs[1] (markdown): invalid parameters: ...`). `max_chunks` limits the
    chunks kept in each result (None keeps all, 0 keeps none); metrics always cover all chunks.

    A ChunkingError while a configuration chunks is raised at once, unless `keep_going`: then
    that configuration's entry is a ComparisonFailure with the message, the others run as
    usual, and only when every configuration fails is the first one's error raised.
    """
    if max_chunks is not None and max_chunks < 0:
        raise ChunkingError(f"max_chunks must be at least 0, got {max_chunks}")
    doc = Document(doc_or_text) if isinstance(doc_or_text, str) else doc_or_text
    built = _validate_configs(configs)
    results: list[ComparisonResult | ComparisonFailure] = []
    first_error: ChunkingError | None = None
    for name, strategy in built:
        params = strategy.params.model_dump(mode="json")
        try:
            results.append(_run_one(doc, name, strategy, params, max_chunks))
        except ChunkingError as exc:
            if not keep_going:
                raise
            first_error = first_error or exc
            results.append(ComparisonFailure(name, params, _one_line(exc)))
    if first_error is not None and not any(isinstance(r, ComparisonResult) for r in results):
        raise first_error
    return results


def _run_one(
    doc: Document, name: str, strategy: Strategy, params: dict[str, Any],
    max_chunks: int | None,
) -> ComparisonResult:
    tally = Tally(doc.text, strategy.params.chunk_size)
    kept: list[Chunk] = []
    # Loading a tokenizer is a one-time cost per process; the first config must not pay it.
    get_tokenizer(strategy.params.tokenizer)
    started = time.perf_counter()
    for chunk in strategy.chunks(doc):
        tally.add(chunk)
        if max_chunks is None or len(kept) < max_chunks:
            kept.append(chunk)
    metrics = tally.metrics((time.perf_counter() - started) * 1000.0)
    return ComparisonResult(name, params, metrics, kept)


def _one_line(exc: ChunkingError) -> str:
    return " ".join(str(exc).split()) or f"{type(exc).__name__} while chunking"


def score(result: ComparisonResult) -> float:
    """The score pick_recommendation minimises; see there."""
    m = result.metrics
    if m.chunk_count == 0:  # no chunks at all: wholly underfilled, as documented there
        return WEIGHT_UNDERFILL
    underfill = max(0.0, 1.0 - m.tokens_mean / (result.chunk_size * FULL_ENOUGH))
    return round(
        WEIGHT_MID_SENTENCE * m.mid_sentence_share
        + WEIGHT_SMALL * m.small_share
        + WEIGHT_UNDERFILL * underfill,
        6,
    )


def _describe(result: ComparisonResult | ComparisonFailure) -> str:
    return f"{result.strategy} (chunk_size {result.chunk_size})"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def pick_recommendation(results: Sequence[ComparisonResult | ComparisonFailure]) -> Pick:
    """The configuration that looks best, deterministically, with the reason in a sentence.

    Each result gets a score, lower is better:

        0.5 * mid_sentence_share + 0.3 * small_share + 0.2 * underfill

    where `underfill = max(0, 1 - tokens_mean / (chunk_size / 2))`: how far the average chunk
    stays below half of its own cap (0 at half the cap or more, 1 for empty chunks). Cuts
    inside sentences hurt retrieval most, tiny fragments next, and mostly-empty chunks waste
    the context budget least. Time is left out because it is not deterministic. Ties go to
    fewer chunks, then to the earlier configuration.

    Failures (compare's `keep_going` mode) are not ranked; `index` still points into
    `results`, and the reason names the configurations that failed.
    """
    ranked = {i: r for i, r in enumerate(results) if isinstance(r, ComparisonResult)}
    if not ranked:
        raise ChunkingError("no comparison results to pick from")
    scores = {i: score(r) for i, r in ranked.items()}
    order = sorted(ranked, key=lambda i: (scores[i], ranked[i].metrics.chunk_count, i))
    best = order[0]
    winner = ranked[best]
    m = winner.metrics
    reason = (
        f"{_describe(winner)} scores best ({scores[best]:.3f}, lower is better): "
        f"{_pct(m.mid_sentence_share)} of its {m.chunk_count} chunks end mid-sentence, "
        f"{_pct(m.small_share)} are under a quarter of the cap and the average chunk fills "
        f"{_pct(min(1.0, m.tokens_mean / winner.chunk_size) if m.chunk_count else 0.0)} "
        "of it"
    )
    if len(order) > 1:
        runner = ranked[order[1]]
        rm = runner.metrics
        reason += (
            f"; next is {_describe(runner)} ({scores[order[1]]:.3f}) with "
            f"{_pct(rm.mid_sentence_share)} mid-sentence cuts and {_pct(rm.small_share)} "
            "small chunks"
        )
    reason += "."
    failed = [_describe(r) for r in results if isinstance(r, ComparisonFailure)]
    if failed:
        verb = "failed and is" if len(failed) == 1 else "failed and are"
        reason += f" {', '.join(failed)} {verb} not ranked."
    return Pick(best, winner.strategy, dict(winner.params), scores[best], reason)

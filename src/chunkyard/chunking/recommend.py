"""Recommend a strategy and parameters for a file from its name and (optionally) its text.

The decision, in order:

1. The content kind comes from `detect.sniff` (a markdown or code extension wins over content).
2. A text is *mixed* when it is markdown whose fenced code blocks hold at least
   `MIXED_FENCE_SHARE` of the sniffed text, or when a name without a telling extension
   carries both markdown structure and code lines: `hybrid` (which picks per section).
3. markdown -> `markdown`; code with a known language -> `recursive` (it splits at top-level
   definitions first); code recognised from content only -> `hybrid` (the file name gives
   `recursive` no language to be code-aware with); prose -> `recursive`: on the retrieval
   bench `semantic` at the same chunk size recalls less (see `EVIDENCE`).
4. A strategy that is not registered, or whose dependencies are missing, is never returned:
   the choice falls back to `recursive` and the reason says so.
5. `chunk_size` is what retrieval needs, bounded by what the target embedding model reads,
   never the document's length: `RETRIEVAL_CHUNK_TOKENS` (the size that retrieved best on
   `bench/retrieval.py`, inside the 200-400 band Chroma's report recommends), capped at the
   model's input limit (`EMBEDDING_INPUT_LIMITS`, or `embedding_max_tokens` given by the
   caller) less a margin for tokenizers that cut text finer than cl100k. No model named: the
   limit of all-MiniLM-L6-v2 (256 word pieces, about 200 tokens), the model Chunkyard bundles
   and the most common small open model; a chunk beyond it is mostly never embedded. No
   overlap: on the bench it added chunks to embed and lowered IoU and recall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chunkyard.core.detect import fenced_blocks, scan, sniff
from chunkyard.core.registry import create_strategy, list_strategies
from chunkyard.core.types import ChunkingError
from chunkyard.extract.filekinds import MARKDOWN_EXTENSIONS, language_for, text_kind_for

# The size retrieval needs, from bench/retrieval.py (Chroma's three corpora, 276 questions,
# all-MiniLM-L6-v2, top 5, recursive, no overlap): IoU / recall 0.063 / 0.88 at 200 tokens,
# 0.048 / 0.88 at 256, 0.031 / 0.89 at 400; semantic at 200 and 256 recalled 0.85 and 0.87.
# Smaller chunks score higher IoU at about the same recall; 256 keeps a sentence or two of
# context for models that read more, and caps well below what they read.
RETRIEVAL_CHUNK_TOKENS = 256
EVIDENCE = ("on the retrieval benchmark (bench/retrieval.py: Chroma's chunking evaluation, "
            "top 5) chunks of about 200-256 tokens retrieved best, and longer ones lost "
            "precision at no gain in recall")
# Input limits of embedding models, in each model's own tokens, and whether those are cl100k
# (OpenAI) tokens; names are matched case-insensitively, with or without an owner prefix.
EMBEDDING_INPUT_LIMITS: dict[str, tuple[int, bool]] = {
    "all-minilm-l6-v2": (256, False),
    "local": (256, False),  # Chunkyard's `local` embedding model is all-MiniLM-L6-v2
    "all-mpnet-base-v2": (384, False),
    "text-embedding-3-small": (8191, True),
    "text-embedding-3-large": (8191, True),
    "text-embedding-ada-002": (8191, True),
}
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# Another tokenizer's tokens -> cl100k tokens, conservatively: WordPiece cuts English into
# 0.95-1.3 pieces per cl100k token (measured on Chroma's corpora and the bench's prose and
# markdown), and a model's limit includes its two special tokens.
FOREIGN_TOKENS_PER_CL100K = 1.25
SPECIAL_TOKENS = 2
MIN_CHUNK_SIZE = 16  # the smallest chunk_size a configuration accepts
# Tokens are counted exactly on this much of the text and extrapolated to the rest.
COUNT_SAMPLE_CHARS = 64 * 1024
MIXED_FENCE_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A strategy, its parameters and a sentence giving the evidence for the choice."""

    strategy: str
    params: dict[str, Any]
    reason: str
    kind: str = field(default="prose", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": dict(self.params), "reason": self.reason}


def _registered(name: str) -> bool:
    return any(info.name == name for info in list_strategies())


@dataclass(frozen=True, slots=True)
class SizeChoice:
    """A chunk size and the sentence that gives its evidence."""

    chunk_size: int
    reason: str


def _model_key(name: str) -> str:
    return name.strip().lower().rsplit("/", 1)[-1]


def model_input_limit(model: str) -> tuple[int, bool] | None:
    """(input limit in the model's tokens, whether those are cl100k tokens), None: unknown."""
    return EMBEDDING_INPUT_LIMITS.get(_model_key(model))


def readable_tokens(limit: int, cl100k: bool) -> int:
    """The cl100k tokens a model with this input limit reads whole, to a multiple of 8."""
    if cl100k:
        return limit
    usable = (limit - SPECIAL_TOKENS) / FOREIGN_TOKENS_PER_CL100K
    return max(MIN_CHUNK_SIZE, int(usable) // 8 * 8)


def chunk_size_for(embedding_model: str | None = None,
                   embedding_max_tokens: int | None = None) -> SizeChoice:
    """The chunk size for retrieval with `embedding_model` (or a model reading
    `embedding_max_tokens` of its own tokens): what retrieval needs, capped by what the
    model reads. Neither given: all-MiniLM-L6-v2."""
    model = embedding_model.strip() if embedding_model and embedding_model.strip() else None
    known = model_input_limit(model) if model else None
    if embedding_max_tokens is not None:
        limit = (embedding_max_tokens, bool(known and known[1]))
        who = (f"The target model{f', {model},' if model else ''} reads "
               f"{embedding_max_tokens:,} of its tokens")
    elif model is not None and known is None:
        return SizeChoice(RETRIEVAL_CHUNK_TOKENS, (
            f"Chunks of up to {RETRIEVAL_CHUNK_TOKENS} tokens: {EVIDENCE}. The input limit "
            f"of {model} is not known here; give embedding_max_tokens to cap the size by it"))
    else:
        limit = known or EMBEDDING_INPUT_LIMITS[_model_key(DEFAULT_EMBEDDING_MODEL)]
        unit = "tokens" if limit[1] else "word pieces"
        who = (f"The target model, {model}, reads {limit[0]:,} {unit}" if model else
               f"No embedding model was named, and {DEFAULT_EMBEDDING_MODEL} (the model "
               f"Chunkyard bundles) reads {limit[0]:,} {unit}")
    readable = readable_tokens(*limit)
    size = max(MIN_CHUNK_SIZE, min(RETRIEVAL_CHUNK_TOKENS, readable))
    if not limit[1]:
        who += f", about {readable} tokens"
    if readable < RETRIEVAL_CHUNK_TOKENS:
        tail = f"{who}: a longer chunk would not be embedded whole"
    else:
        tail = f"{who}, so chunks of this size are embedded whole"
    return SizeChoice(size, f"Chunks of up to {size} tokens: {EVIDENCE}. {tail}")


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


def recommend(filename: str, text: str | None = None, *, embedding_model: str | None = None,
              embedding_max_tokens: int | None = None) -> Recommendation:
    """The strategy, parameters and reason for chunking `filename` (content optional) for
    retrieval with `embedding_model`, or a model that reads `embedding_max_tokens` tokens."""
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
    else:
        kind, evidence = sniff(text, kind=text_kind_for(filename) if filename else None,
                               language=language_for(filename), name=filename)
        # sniff's reason starts with the kind ("markdown: ..."); the evidence follows it.
        evidence = evidence.split(": ", 1)[1] if ": " in evidence else evidence

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

    size = chunk_size_for(embedding_model, embedding_max_tokens)
    strategy, why = _choose(kind, filename)
    if strategy != "recursive" and not _registered(strategy):
        why = (f"{strategy} would fit but is not available in this installation, so "
               "recursive splits at the coarsest boundary that fits")
        strategy = "recursive"
    params: dict[str, Any] = {"chunk_size": size.chunk_size}

    try:
        create_strategy(strategy, params)
    except ChunkingError as exc:  # never recommend a configuration that cannot run
        why = f"{strategy} cannot run here ({exc}), so recursive is the safe choice"
        strategy = "recursive"

    reason = f"Chose {strategy}: {evidence}. {_capital(why)}. {size.reason}."
    return Recommendation(strategy, params, reason, kind)


def _choose(kind: str, filename: str) -> tuple[str, str]:
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
    return "recursive", ("recursive splits prose at paragraphs, then lines and sentences, and "
                         "keeps each paragraph that fits whole (semantic, at the same size, "
                         "recalled less on the retrieval benchmark)")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


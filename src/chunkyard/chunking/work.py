"""The chunking work of previews and compares: plain module-level functions of picklable
arguments and results, so that the app's chunking processes (`pool.py`) can run them. They
raise the same errors in a worker process as in this one (domain errors keep their status and
code through pickling).

A preview of a stored document is read and extracted by `documents.stored.load_document` and
chunked by `documents.chunking`, the code a chunking job runs, so it is exactly what a job
would store for the document. Metrics are `core.compare`'s, computed by the same function.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from chunkyard.core.compare import compare, measure, pick_recommendation, result_dict
from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk
from chunkyard.documents.chunking import chunk_document
from chunkyard.documents.stored import StoredFile, load_document
from chunkyard.extract.pasted import pasted_document

_FORMAT = 1  # bumped when the serialised form of a result changes


@dataclass(frozen=True, slots=True)
class PreviewResult:
    chunks: list[Chunk]
    metrics: dict[str, Any]

    @property
    def weight(self) -> int:
        return sum(len(c.text) for c in self.chunks) + 1

    def to_json(self) -> bytes:
        data = {"v": _FORMAT, "chunks": [c.to_dict() for c in self.chunks],
                "metrics": self.metrics}
        # A JSON text may hold lone surrogates; they round-trip through "surrogatepass".
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )

    @classmethod
    def from_json(cls, raw: bytes) -> PreviewResult:
        data = json.loads(raw.decode("utf-8", "surrogatepass"))
        if not isinstance(data, dict) or data.get("v") != _FORMAT:
            raise ValueError("not a preview result of this version")
        chunks = [
            Chunk(index=c["index"], text=c["text"], start=c["start"], end=c["end"],
                  tokens=c["tokens"], metadata=c["metadata"])
            for c in data["chunks"]
        ]
        return cls(chunks, dict(data["metrics"]))


def run_preview(
    text: str, filename: str | None, strategy: str, params: dict[str, Any]
) -> PreviewResult:
    """Chunk `text` (blocking, CPU-bound) and measure the chunks."""
    built = create_strategy(strategy, params)
    doc = pasted_document(text, filename)
    started = time.perf_counter()
    chunks = list(built.chunks(doc))
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    # Measured against the safe text the chunks index (the same length as `text`).
    return PreviewResult(chunks, measure(doc.text, chunks, built.params.chunk_size,
                                         elapsed_ms).to_dict())


def run_document_preview(
    source: StoredFile, strategy: str, params: dict[str, Any]
) -> PreviewResult:
    """Read, extract and chunk a stored document exactly as a job would (blocking), and
    measure the chunks."""
    document = load_document(source)
    # Built once up front so that loading the tokenizer is not timed, as for a text.
    cap = create_strategy(strategy, params).params.chunk_size
    started = time.perf_counter()
    chunks = chunk_document(document, {"strategy": strategy, "params": params})
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return PreviewResult(chunks, measure(document.text, chunks, cap, elapsed_ms).to_dict())


def run_compare(
    source: str | StoredFile,
    filename: str | None,
    configs: list[dict[str, Any]],
    max_chunks: int | None,
) -> dict[str, Any]:
    """Chunk a text (named `filename`) or a stored document with each configuration and
    measure (blocking, CPU-bound): the body of a compare response.

    A configuration that fails while chunking has `error` (and null metrics and chunks) and is
    left out of the recommendation; only when every one fails is the first error raised."""
    if isinstance(source, StoredFile):
        document = load_document(source)
    else:
        document = pasted_document(source, filename)
    results = compare(document, configs, max_chunks=max_chunks, keep_going=True)
    return {
        "results": [result_dict(r) for r in results],
        "recommendation": pick_recommendation(results).to_dict(),
    }

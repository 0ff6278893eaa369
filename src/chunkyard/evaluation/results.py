"""An evaluation's scores, from what its job gathered: per configuration, the chunks of every
evaluated document (their spans and embeddings); per question, its references and embedding.
Pure: no I/O. The job (`worker/evaluation_job.py`) gathers, this scores, the service stores
and serves what comes out.

Retrieval is exact, over all the chunks of one configuration together (every document the
questions refer to, as `bench/retrieval.py` indexes every corpus): the `k` chunks of highest
cosine similarity per question, ties to the earlier chunk; scores by `scoring.score`.

What is stored (JSON):

- `summary`, one entry per configuration, in the order asked: `strategy`, `params`,
  `recall`, `precision`, `iou` (means over the questions), `chunks` (how many the documents
  gave), `tokens` (their tokens by the configuration's tokenizer: the cost of embedding them),
  `documents_failed`, `error` (a sentence when a document failed, else null);
- `questions`, one entry per question scored: `question_id`, `question`, `references`, and
  `configs`: per configuration its `recall`, `precision`, `iou`, `found` (reference characters
  covered), `reference` (reference characters) and `retrieved` (the chunks, best first, as
  `document_id`, `start`, `end`, `similarity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from chunkyard.evaluation.scoring import mean_scores, score, top_k

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ScoredQuestion:
    """A question as the job scores it: references as (document id, start, end)."""

    id: str
    text: str
    references: tuple[tuple[str, int, int], ...]


@dataclass(slots=True)
class Gathered:
    """One configuration's chunks over every evaluated document, as the job gathered them."""

    config: dict[str, Any]
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    vectors: list[Matrix] = field(default_factory=list)
    tokens: int = 0
    failures: list[str] = field(default_factory=list)  # "<file name>: <reason>"

    def add(self, spans: Sequence[tuple[str, int, int]], tokens: int, vectors: Matrix) -> None:
        self.spans.extend(spans)
        self.tokens += tokens
        if len(spans):
            self.vectors.append(np.asarray(vectors, dtype=np.float32))


def normalised(vectors: Matrix) -> Matrix:
    """Rows scaled to length 1 (a zero row stays zero), so a dot product is the cosine."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Matrix = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return out


# Questions scored against all of a configuration's chunks at a time: the similarities of
# one block (block x chunks floats) are all that is held, however large the set.
QUESTION_BLOCK = 64


def score_configuration(
    one: Gathered, questions: Sequence[ScoredQuestion], queries: Matrix, k: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One configuration's summary and, per question, its scores and retrieved chunks.
    `queries` are the questions' embeddings, normalised."""
    chunks = normalised(np.concatenate(one.vectors)) if one.spans else None
    scores = []
    per_question: list[dict[str, Any]] = []
    for first in range(0, len(questions), QUESTION_BLOCK):
        block = questions[first:first + QUESTION_BLOCK]
        if chunks is not None:
            similarity = queries[first:first + len(block)] @ chunks.T
            top = top_k(queries[first:first + len(block)], chunks, k)
        for row, question in enumerate(block):
            picked = [int(j) for j in top[row]] if chunks is not None else []
            retrieved = [one.spans[j] for j in picked]
            result = score(question.references, retrieved)
            scores.append(result)
            per_question.append({
                "recall": result.recall, "precision": result.precision, "iou": result.iou,
                "found": result.found, "reference": result.reference,
                "retrieved": [
                    {"document_id": d, "start": s, "end": e,
                     "similarity": float(similarity[row, j])}
                    for (d, s, e), j in zip(retrieved, picked, strict=True)
                ],
            })
    recall, precision, iou = mean_scores(scores)
    failed = len(one.failures)
    summary = {
        "strategy": one.config.get("strategy"), "params": one.config.get("params", {}),
        "recall": recall, "precision": precision, "iou": iou, "chunks": len(one.spans),
        "tokens": one.tokens, "documents_failed": failed,
        "error": (f"{failed} document{'s' if failed != 1 else ''} could not be chunked: "
                  + "; ".join(one.failures[:3])) if failed else None,
    }
    return summary, per_question


def question_entries(questions: Sequence[ScoredQuestion]) -> list[dict[str, Any]]:
    """The per-question records, each configuration's scores to be appended to `configs`."""
    return [
        {"question_id": q.id, "question": q.text,
         "references": [{"document_id": d, "start": s, "end": e} for d, s, e in q.references],
         "configs": []}
        for q in questions
    ]


def best(summary: Sequence[dict[str, Any]]) -> dict[str, int | None]:
    """The index of the configuration with the highest IoU, and of the one with the highest
    recall (the first on a tie); None for a measure where no configuration made chunks."""
    def top(measure: str) -> int | None:
        candidates = [(i, row) for i, row in enumerate(summary) if row.get("chunks")]
        if not candidates:
            return None
        return max(candidates, key=lambda pair: (pair[1][measure], -pair[0]))[0]

    return {"iou": top("iou"), "recall": top("recall")}

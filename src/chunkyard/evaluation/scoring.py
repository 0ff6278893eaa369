"""Retrieval scores of a chunking, by Chroma's chunking evaluation (the method of
`bench/retrieval.py`, whose numbers the service's evaluations must equal): pure arithmetic on
character ranges and similarity matrices, no I/O.

A span is (document, start, end): characters [start, end) of a document's text. Per question,
with R its reference spans and C the k retrieved chunks: I is the union of every retrieved
chunk's intersection with every reference in the same document;
recall = |I| / sum |r|, precision = |I| / sum |c| (every retrieved chunk's length, overlaps
counted each time), IoU = |I| / (sum |c| + sum |r - I|): the retrieved characters plus the
reference characters left uncovered.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Span = tuple[Hashable, int, int]
Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Score:
    recall: float
    precision: float
    iou: float
    found: int  # |I|: reference characters the retrieved chunks cover
    reference: int  # sum |r|


def merged(ranges: Iterable[Range]) -> list[Range]:
    """The ranges' union as sorted, disjoint ranges."""
    out: list[Range] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def covered(r: Range, ranges: Sequence[Range]) -> int:
    """Characters of `r` inside the (disjoint, sorted) `ranges`."""
    return sum(max(0, min(r[1], e) - max(r[0], s)) for s, e in ranges)


def score(references: Sequence[Span], retrieved: Sequence[Span]) -> Score:
    """One question's scores, by the rule in the module docstring."""
    pieces: dict[Hashable, list[Range]] = {}
    for document, s, e in retrieved:
        for ref_document, rs, re_ in references:
            if ref_document != document:
                continue
            lo, hi = max(s, rs), min(e, re_)
            if lo < hi:
                pieces.setdefault(document, []).append((lo, hi))
    inter = {document: merged(ranges) for document, ranges in pieces.items()}
    found = sum(e - s for ranges in inter.values() for s, e in ranges)
    reference = sum(e - s for _, s, e in references)
    retrieved_chars = sum(e - s for _, s, e in retrieved)
    uncovered = sum((e - s) - covered((s, e), inter.get(document, []))
                    for document, s, e in references)
    recall = found / reference if reference else 0.0
    precision = found / retrieved_chars if retrieved_chars else 0.0
    denominator = retrieved_chars + uncovered
    return Score(recall, precision, found / denominator if denominator else 0.0, found,
                 reference)


def top_k(question_vectors: npt.NDArray[Any], chunk_vectors: npt.NDArray[Any],
          k: int) -> npt.NDArray[np.intp]:
    """Per question, the indices of the `k` chunks of highest similarity (dot product of
    normalised vectors: cosine), highest first, ties to the earlier chunk."""
    similarities = question_vectors @ chunk_vectors.T
    # A stable sort of the negated scores keeps equal scores in chunk order.
    return np.argsort(-similarities, axis=1, kind="stable")[:, :k]


def mean_scores(scores: Sequence[Score]) -> tuple[float, float, float]:
    """(recall, precision, IoU) averaged over the questions (zeros for none)."""
    if not scores:
        return 0.0, 0.0, 0.0
    n = len(scores)
    return (sum(s.recall for s in scores) / n, sum(s.precision for s in scores) / n,
            sum(s.iou for s in scores) / n)

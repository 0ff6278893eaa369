"""Topic-change detection: where neighbouring sentence embeddings drift apart."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from chunkyard.core.types import ChunkingError

__all__ = ["gap_distances", "similarity_breaks"]


def gap_distances(embeddings: npt.ArrayLike, window: int = 1) -> npt.NDArray[np.float64]:
    """Cosine distance across each gap between consecutive sentences.

    Entry `i - 1` of the result belongs to gap `i` (between sentences `i - 1` and `i`), for
    `i` in `1..n-1`. Each row is first scaled to unit length; for each gap the `window` rows
    before it and the `window` rows after it (fewer at either end of the text) are averaged, and
    the distance is `1 - cos(mean_before, mean_after)`, in `[0, 2]`. A zero mean counts as
    orthogonal (distance 1). Sums run in float64 over prefix sums, so the cost is O(n * dim)
    whatever the window.
    """
    matrix = _check_matrix(embeddings)
    if window < 1:
        raise ChunkingError(f"window must be at least 1, got {window}")
    n = matrix.shape[0]
    if n < 2:
        return np.zeros(0, dtype=np.float64)
    prefix = np.zeros((n + 1, matrix.shape[1]), dtype=np.float64)
    np.cumsum(matrix, axis=0, out=prefix[1:])
    gaps = np.arange(1, n)
    lo = np.maximum(gaps - window, 0)
    hi = np.minimum(gaps + window, n)
    # Averaging is unnecessary: cosine ignores scale, so window sums give the same angle.
    before = prefix[gaps] - prefix[lo]
    after = prefix[hi] - prefix[gaps]
    norms = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
    dots = np.einsum("ij,ij->i", before, after)
    cosine = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    distances: npt.NDArray[np.float64] = 1.0 - np.clip(cosine, -1.0, 1.0)
    return distances


def similarity_breaks(
    embeddings: npt.ArrayLike,
    window: int = 1,
    threshold: float | None = None,
    percentile: float = 90.0,
) -> list[int]:
    """Gap indices where the text changes topic, in increasing order.

    `embeddings` has one row per sentence. A returned `i` means "break between sentence `i - 1`
    and sentence `i`", so `1 <= i <= n - 1`.

    Method: `gap_distances` gives each gap the cosine distance between the mean embedding of the
    `window` sentences before it and of the `window` sentences after it. A gap is a break when
    its distance is strictly above `threshold`, if one is given (an absolute cosine distance in
    `[0, 2]`), or else strictly above the `percentile`-th percentile (linear interpolation) of
    all the gap distances of this text. The relative cut adapts to each text and each model, but
    always finds at most about `100 - percentile` percent of the gaps, and none when every
    distance is equal (a single gap included). Pure arithmetic on the input, so deterministic.
    """
    if threshold is not None and not (math.isfinite(threshold) and 0.0 <= threshold <= 2.0):
        raise ChunkingError(f"threshold must be a cosine distance in [0, 2], got {threshold}")
    if not (math.isfinite(percentile) and 0.0 <= percentile <= 100.0):
        raise ChunkingError(f"percentile must be in [0, 100], got {percentile}")
    distances = gap_distances(embeddings, window)
    if distances.size == 0:
        return []
    cut = threshold if threshold is not None else float(np.percentile(distances, percentile))
    return [int(i) + 1 for i in np.flatnonzero(distances > cut)]


def _check_matrix(embeddings: npt.ArrayLike) -> npt.NDArray[np.float64]:
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2:
        raise ChunkingError(f"embeddings must be a 2-D matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ChunkingError("embeddings contain NaN or infinite values")
    # Unit rows so each sentence weighs the same in a window mean, whatever the embedder returns.
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: npt.NDArray[np.float64] = np.divide(
        matrix, norms, out=np.zeros_like(matrix), where=norms > 0
    )
    return unit

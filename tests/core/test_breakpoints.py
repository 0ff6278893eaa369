"""Breakpoints from sentence embeddings: distances across gaps and the break rules."""

from __future__ import annotations

import numpy as np
import pytest

from chunkyard.core.breakpoints import gap_distances, similarity_breaks
from chunkyard.core.types import ChunkingError


def topics(*sizes: int, dim: int = 16, noise: float = 0.05, seed: int = 7) -> np.ndarray:
    """Unit rows in blocks: block k lies near basis vector k, with a little seeded noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, size in enumerate(sizes):
        base = np.zeros(dim)
        base[k] = 1.0
        rows.append(base + noise * rng.standard_normal((size, dim)))
    matrix = np.vstack(rows)
    unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


def test_obvious_topic_change_is_the_only_break() -> None:
    embeddings = topics(6, 6)
    assert similarity_breaks(embeddings) == [6]


@pytest.mark.parametrize("window", [1, 2, 3, 50])
def test_window_keeps_the_break_at_the_topic_change(window: int) -> None:
    assert similarity_breaks(topics(6, 6), window=window) == [6]


def test_absolute_threshold_finds_every_change() -> None:
    embeddings = topics(4, 4, 4)
    assert similarity_breaks(embeddings, threshold=0.5) == [4, 8]
    assert similarity_breaks(embeddings, threshold=1.9) == []


def test_lower_percentile_finds_more_changes() -> None:
    embeddings = topics(4, 4, 4)
    assert similarity_breaks(embeddings, percentile=80) == [4, 8]
    # At the 90th percentile of 11 gaps only the single largest distance is above the cut.
    assert len(similarity_breaks(embeddings, percentile=90)) == 1


def test_gap_distances_are_cosine_distances_of_window_means() -> None:
    e1, e2 = np.eye(2)
    embeddings = np.array([e1, e1, e2, e2])
    np.testing.assert_allclose(gap_distances(embeddings), [0.0, 1.0, 0.0])
    # Window 2 at gap 1: mean(e1) vs mean(e1, e2) -> cos 45 degrees.
    expected = [1 - np.sqrt(0.5), 1.0, 1 - np.sqrt(0.5)]
    np.testing.assert_allclose(gap_distances(embeddings, window=2), expected)


def test_scale_of_rows_does_not_matter() -> None:
    embeddings = topics(5, 5)
    scaled = embeddings * np.arange(1, 11)[:, None]
    np.testing.assert_allclose(gap_distances(scaled, 2), gap_distances(embeddings, 2), atol=1e-12)


def test_no_change_no_break() -> None:
    same = np.tile([0.6, 0.8], (10, 1))
    assert similarity_breaks(same) == []
    assert similarity_breaks(same, threshold=0.0) == []


@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_sentences_have_no_gap(rows: int) -> None:
    assert similarity_breaks(np.ones((rows, 4))) == []
    assert gap_distances(np.ones((rows, 4))).shape == (0,)


def test_deterministic() -> None:
    embeddings = topics(3, 7, 5, noise=0.4, seed=1)
    first = similarity_breaks(embeddings, window=2)
    assert first
    assert all(similarity_breaks(embeddings, window=2) == first for _ in range(5))
    assert all(isinstance(i, int) for i in first)


def test_zero_rows_count_as_orthogonal() -> None:
    embeddings = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(gap_distances(embeddings), [1.0, 1.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"percentile": 101.0},
        {"percentile": float("nan")},
        {"threshold": 2.5},
        {"threshold": -0.1},
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ChunkingError):
        similarity_breaks(topics(3, 3), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.ones(4), np.ones((2, 2, 2)), np.array([[1.0, np.nan]] * 2)])
def test_bad_matrices_raise(bad: np.ndarray) -> None:
    with pytest.raises(ChunkingError):
        similarity_breaks(bad)

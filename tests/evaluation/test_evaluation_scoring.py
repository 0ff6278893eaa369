"""The retrieval scores (Chroma's method) on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from chunkyard.evaluation.scoring import mean_scores, merged, score, top_k


def test_a_chunk_covering_half_of_the_reference() -> None:
    # Reference 10-30 (20 chars); chunk 20-60 covers 20-30 (10 chars).
    s = score([("a", 10, 30)], [("a", 20, 60)])
    assert (s.found, s.reference) == (10, 20)
    assert s.recall == pytest.approx(0.5)
    assert s.precision == pytest.approx(10 / 40)
    # Retrieved 40 + uncovered reference 10.
    assert s.iou == pytest.approx(10 / 50)


def test_chunks_of_another_document_intersect_nothing_but_count_as_retrieved() -> None:
    s = score([("a", 0, 10)], [("b", 0, 10), ("a", 0, 10)])
    assert s.recall == pytest.approx(1.0)
    assert s.precision == pytest.approx(10 / 20)
    assert s.iou == pytest.approx(10 / 20)


def test_overlapping_chunks_count_each_time_in_precision_but_once_in_found() -> None:
    # Two chunks 0-20 and 10-30 both inside reference 0-40: I = 0-30.
    s = score([("a", 0, 40)], [("a", 0, 20), ("a", 10, 30)])
    assert s.found == 30
    assert s.recall == pytest.approx(30 / 40)
    assert s.precision == pytest.approx(30 / 40)  # 30 found of 20 + 20 retrieved
    assert s.iou == pytest.approx(30 / (40 + 10))


def test_references_in_two_documents() -> None:
    s = score([("a", 0, 10), ("b", 0, 10)], [("b", 5, 15)])
    assert (s.found, s.reference) == (5, 20)
    assert s.iou == pytest.approx(5 / (10 + 10 + 5))


def test_nothing_retrieved_and_no_reference() -> None:
    assert score([("a", 0, 10)], []).iou == 0.0
    assert score([], [("a", 0, 10)]).recall == 0.0
    assert mean_scores([]) == (0.0, 0.0, 0.0)


def test_merged_and_top_k_ties_go_to_the_earlier_chunk() -> None:
    assert merged([(5, 9), (0, 3), (2, 4), (9, 10)]) == [(0, 4), (5, 10)]
    questions = np.array([[1.0, 0.0], [0.0, 1.0]])
    chunks = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    assert top_k(questions, chunks, 2).tolist() == [[1, 2], [0, 3]]

"""The compare recommendation recomputed from a response's own metrics by the documented rule
(`core.compare.pick_recommendation`): lower `0.5 * mid_sentence_share + 0.3 * small_share +
0.2 * underfill` wins, underfill being how far the mean chunk stays below half its cap; ties
go to fewer chunks, then to the earlier configuration; a configuration that failed is not
ranked. Tests compare the service's pick with this, rather than accepting any of the
configurations sent."""

from __future__ import annotations

from typing import Any


def expected_pick(results: list[dict[str, Any]]) -> int:
    def score(result: dict[str, Any]) -> float:
        m = result["metrics"]
        half_cap = result["params"]["chunk_size"] / 2
        underfill = max(0.0, 1.0 - m["tokens_mean"] / half_cap) if m["chunk_count"] else 1.0
        return 0.5 * m["mid_sentence_share"] + 0.3 * m["small_share"] + 0.2 * underfill

    # A configuration that failed while chunking (metrics null, error set) is not ranked.
    ranked = [i for i, r in enumerate(results) if r.get("metrics") is not None]
    return min(ranked,
               key=lambda i: (round(score(results[i]), 9), results[i]["metrics"]["chunk_count"],
                              i))


def assert_recommends_the_best(body: dict[str, Any]) -> None:
    best = expected_pick(body["results"])
    recommendation = body["recommendation"]
    assert recommendation["index"] == best, (recommendation, body["results"][best]["metrics"])
    assert recommendation["strategy"] == body["results"][best]["strategy"]
    assert recommendation["params"] == body["results"][best]["params"]

"""compare() metrics, the mid-sentence rule, pick_recommendation()'s scoring, and compare's
keep-going mode (a configuration that fails while chunking is reported, not raised)."""

from __future__ import annotations

import math
import time

import pytest

import chunkyard
from chunkyard.core.compare import (
    ComparisonFailure,
    ComparisonMetrics,
    ComparisonResult,
    clean_end,
    compare,
    pick_recommendation,
    result_dict,
    score,
)
from chunkyard.core.types import ChunkingError

SENTENCE = "The miller keeps a ledger of every sack that comes in from the farms. "
TEXT = "\n\n".join(SENTENCE * (2 + i % 4) + "That is all." for i in range(12))


def configs(*pairs: tuple[str, dict[str, object]]) -> list[dict[str, object]]:
    return [{"strategy": s, "params": p} for s, p in pairs]


def test_metrics_match_the_chunks() -> None:
    started = time.perf_counter()
    results = compare(TEXT, configs(("character", {"chunk_size": 40}),
                                    ("recursive", {"chunk_size": 40})))
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert [r.strategy for r in results] == ["character", "recursive"]
    for r in results:
        chunks = chunkyard.chunk_text(TEXT, r.strategy, chunk_size=40)
        tokens = sorted(c.tokens for c in chunks)
        m = r.metrics
        assert m.chunk_count == len(chunks)
        assert m.tokens_min == tokens[0] and m.tokens_max == tokens[-1]
        assert m.tokens_mean == round(sum(tokens) / len(tokens), 2)
        assert m.tokens_p95 == tokens[math.ceil(0.95 * len(tokens)) - 1]
        assert m.small_share == round(sum(t < 10 for t in tokens) / len(tokens), 4)
        mid = sum(not clean_end(TEXT, c.end) for c in chunks)
        assert m.mid_sentence_share == round(mid / len(chunks), 4)
        # Each configuration's own chunking time: some, and within the whole call's.
        assert 0 < m.time_ms <= elapsed_ms
        assert [c.to_dict() for c in r.chunks] == [c.to_dict() for c in chunks]
        assert r.params["chunk_size"] == 40 and r.params["tokenizer"] == "cl100k"


def test_structure_aware_splitting_cuts_fewer_sentences_than_windows() -> None:
    character, recursive = compare(TEXT, configs(("character", {"chunk_size": 40}),
                                                 ("recursive", {"chunk_size": 40})))
    assert recursive.metrics.mid_sentence_share < character.metrics.mid_sentence_share
    assert character.metrics.mid_sentence_share > 0.5


def test_clean_end_rule() -> None:
    text = "One two. Three four\nfive six\n\nSeven (eight.) Nine 「十。」x “Q?” end"
    assert clean_end(text, len(text))  # end of text
    assert clean_end(text, text.index("Three") - 1)  # after "two."
    assert not clean_end(text, text.index(" four"))  # inside a sentence
    assert not clean_end(text, text.index("\nfive"))  # a single line break is not enough
    assert clean_end(text, text.index("\n\nSeven"))  # paragraph end
    assert clean_end(text, text.index(" Nine"))  # "." then a closing bracket
    assert clean_end(text, text.index("x “Q"))  # full-width stop then a closer, no space
    assert clean_end(text, text.index(" end"))  # "?" then a closing quote
    assert not clean_end("3.14 is pi", 2)  # a dot not followed by whitespace
    assert clean_end("Ends here.   \n ", 10)  # only whitespace follows


def test_max_chunks_limits_chunks_but_not_metrics() -> None:
    full = compare(TEXT, configs(("recursive", {"chunk_size": 32}),
                                 ("character", {"chunk_size": 32})))
    limited = compare(TEXT, configs(("recursive", {"chunk_size": 32}),
                                    ("character", {"chunk_size": 32})), max_chunks=2)
    none = compare(TEXT, configs(("recursive", {"chunk_size": 32}),
                                 ("character", {"chunk_size": 32})), max_chunks=0)
    for f, lim, n in zip(full, limited, none, strict=True):
        assert len(lim.chunks) == 2 and lim.chunks == f.chunks[:2]
        assert n.chunks == []
        assert lim.metrics.chunk_count == f.metrics.chunk_count > 2
    with pytest.raises(ChunkingError, match="max_chunks"):
        compare(TEXT, configs(("recursive", {}), ("character", {})), max_chunks=-1)


@pytest.mark.parametrize("count", [0, 1, 7])
def test_two_to_six_configs(count: int) -> None:
    with pytest.raises(ChunkingError, match="2 to 6"):
        compare(TEXT, configs(*[("recursive", {})] * count))


def test_six_configs_are_fine() -> None:
    sizes = [16, 32, 64, 128, 256, 512]
    results = compare(TEXT, [{"strategy": "recursive", "params": {"chunk_size": s}}
                             for s in sizes])
    assert [r.chunk_size for r in results] == sizes
    counts = [r.metrics.chunk_count for r in results]
    assert counts == sorted(counts, reverse=True)


def test_a_bad_config_is_named_before_anything_runs() -> None:
    with pytest.raises(ChunkingError, match=r"configs\[1\] \(recursive\).*chunk_size"):
        compare(TEXT, configs(("character", {}), ("recursive", {"chunk_size": 1})))
    with pytest.raises(ChunkingError, match="unknown strategy"):
        compare(TEXT, configs(("character", {}), ("nope", {})))
    with pytest.raises(ChunkingError, match=r"configs\[0\]"):
        compare(TEXT, ["recursive", "character"])  # type: ignore[list-item]
    with pytest.raises(ChunkingError, match="configs must be a list"):
        compare(TEXT, "recursive")  # type: ignore[arg-type]


def test_empty_text_has_zero_metrics() -> None:
    results = compare("   ", configs(("recursive", {}), ("character", {})))
    for r in results:
        assert r.metrics.chunk_count == 0
        assert r.metrics.tokens_mean == 0 and r.metrics.tokens_p95 == 0
        assert r.metrics.mid_sentence_share == 0
    assert pick_recommendation(results).index == 0


def test_documents_keep_their_kind() -> None:
    code = "def a():\n    return 1\n\n\ndef b():\n    return 2\n" * 30
    doc = chunkyard.document_from_text(code, "m.py")
    results = compare(doc, configs(("recursive", {"chunk_size": 32}),
                                   ("character", {"chunk_size": 32})))
    assert results[0].chunks[0].metadata.get("language") == "python"


def _result(strategy: str, mid: float, small: float, mean: float, count: int = 10,
            size: int = 100) -> ComparisonResult:
    metrics = ComparisonMetrics(count, mean, 1, size, size, small, mid, 1.0)
    return ComparisonResult(strategy, {"chunk_size": size}, metrics, [])


def test_score_formula() -> None:
    r = _result("x", mid=0.2, small=0.1, mean=20)
    assert score(r) == pytest.approx(0.5 * 0.2 + 0.3 * 0.1 + 0.2 * (1 - 20 / 50))
    assert score(_result("y", mid=0, small=0, mean=50)) == 0  # half the cap is full enough
    assert score(_result("z", mid=0, small=0, mean=150)) == 0
    # No chunks at all is wholly underfilled (underfill 1), not a perfect score.
    assert score(_result("e", mid=0, small=0, mean=0, count=0)) == pytest.approx(0.2)


def test_pick_prefers_fewer_mid_sentence_cuts_and_explains() -> None:
    results = [
        _result("character", mid=0.9, small=0.0, mean=95),
        _result("recursive", mid=0.1, small=0.1, mean=70),
        _result("markdown", mid=0.2, small=0.3, mean=60),
    ]
    pick = pick_recommendation(results)
    assert (pick.index, pick.strategy) == (1, "recursive")
    assert "recursive (chunk_size 100)" in pick.reason
    assert "10% of its 10 chunks end mid-sentence" in pick.reason
    assert "next is markdown" in pick.reason
    assert pick.to_dict()["strategy"] == "recursive"


def test_pick_ties_go_to_fewer_chunks_then_to_the_earlier_config() -> None:
    a = _result("a", mid=0.1, small=0.1, mean=50, count=20)
    b = _result("b", mid=0.1, small=0.1, mean=50, count=10)
    c = _result("c", mid=0.1, small=0.1, mean=50, count=10)
    assert pick_recommendation([a, b, c]).strategy == "b"
    assert pick_recommendation([a, c, b]).strategy == "c"
    with pytest.raises(ChunkingError):
        pick_recommendation([])


def test_pick_on_real_results_is_deterministic() -> None:
    cfg = configs(("character", {"chunk_size": 40}), ("recursive", {"chunk_size": 40}))
    first = pick_recommendation(compare(TEXT, cfg))
    again = pick_recommendation(compare(TEXT, cfg))
    assert first == again
    assert first.strategy == "recursive"


def test_to_dict_shape() -> None:
    r = compare(TEXT, configs(("recursive", {}), ("character", {})), max_chunks=1)[0]
    d = r.to_dict()
    assert set(d) == {"strategy", "params", "metrics", "chunks"}
    assert set(d["metrics"]) == {
        "chunk_count", "tokens_mean", "tokens_min", "tokens_max", "tokens_p95",
        "small_share", "mid_sentence_share", "time_ms",
    }
    assert d["chunks"][0]["text"] == TEXT[d["chunks"][0]["start"]:d["chunks"][0]["end"]]


# Valid as configurations; each fails only once it runs (the tokenizer file is loaded, or the
# embedding endpoint is asked).
MISSING_TOKENIZER = {"chunk_size": 40, "tokenizer": "hf:/nonexistent/compare/t.json"}
CLOSED_ENDPOINT = {"chunk_size": 40, "embedding_url": "http://127.0.0.1:9/v1",
                   "embedding_api_model": "some-model"}


def _without_time(result: ComparisonResult) -> dict[str, object]:
    d = result.to_dict()
    d["metrics"].pop("time_ms")
    return d


def test_keep_going_reports_a_configuration_that_fails_while_chunking() -> None:
    cfg = configs(("recursive", {"chunk_size": 40}), ("semantic", CLOSED_ENDPOINT),
                  ("character", {"chunk_size": 40}), ("recursive", MISSING_TOKENIZER))
    results = compare(TEXT, cfg, keep_going=True, max_chunks=3)
    assert [r.strategy for r in results] == ["recursive", "semantic", "character", "recursive"]
    good = [r for r in results if isinstance(r, ComparisonResult)]
    alone = compare(TEXT, [cfg[0], cfg[2]], max_chunks=3)
    assert [_without_time(r) for r in good] == [_without_time(r) for r in alone]
    semantic, tokenizer = results[1], results[3]
    assert isinstance(semantic, ComparisonFailure) and isinstance(tokenizer, ComparisonFailure)
    assert "cannot reach embedding endpoint http://127.0.0.1:9/v1" in semantic.error
    assert "/nonexistent/compare/t.json" in tokenizer.error
    for failure in (semantic, tokenizer):
        assert "\n" not in failure.error and failure.error == failure.error.strip()
        assert failure.params["chunk_size"] == 40  # validated, defaults filled in
        assert failure.to_dict() == {"strategy": failure.strategy, "params": failure.params,
                                     "metrics": None, "chunks": None, "error": failure.error}
    assert semantic.params["embedding_url"] == "http://127.0.0.1:9/v1"
    # Without keep_going the first failure still raises, as it always did.
    with pytest.raises(ChunkingError, match="cannot reach embedding endpoint"):
        compare(TEXT, cfg)


def test_a_success_and_a_failure_answer_with_the_same_keys() -> None:
    """One mapping for the API's and `chunkyard compare --json`'s entries: a success has
    `error` null, a failure null `metrics` and `chunks`; both share the head."""
    ok = _result("recursive", mid=0.1, small=0.1, mean=70)
    failed = ComparisonFailure("semantic", {"chunk_size": 100}, "cannot reach it")
    assert result_dict(ok) == {"strategy": "recursive", "params": {"chunk_size": 100},
                               "metrics": ok.metrics.to_dict(), "chunks": [], "error": None}
    assert result_dict(failed) == failed.to_dict()
    assert list(result_dict(ok)) == list(result_dict(failed))
    assert ok.chunk_size == failed.chunk_size == 100
    # The params are copied: changing an answer changes no result.
    result_dict(ok)["params"]["chunk_size"] = 1
    assert ok.params == {"chunk_size": 100}


def test_the_pick_is_made_over_the_successes_only() -> None:
    failed = ComparisonFailure("semantic", {"chunk_size": 100}, "cannot reach it")
    best = _result("recursive", mid=0.1, small=0.1, mean=70)
    worse = _result("character", mid=0.9, small=0.0, mean=95)
    pick = pick_recommendation([failed, worse, best])
    assert (pick.index, pick.strategy) == (2, "recursive")
    assert "next is character" in pick.reason
    assert "semantic (chunk_size 100) failed and is not ranked" in pick.reason
    alone = pick_recommendation([failed, best])
    assert alone.index == 1 and "next is" not in alone.reason
    # Real results: the pick among the successes is the pick without the failure.
    cfg = configs(("character", {"chunk_size": 40}), ("recursive", MISSING_TOKENIZER),
                  ("recursive", {"chunk_size": 40}))
    mixed = pick_recommendation(compare(TEXT, cfg, keep_going=True))
    clean = pick_recommendation(compare(TEXT, [cfg[0], cfg[2]]))
    assert (mixed.strategy, mixed.params, mixed.score) == (clean.strategy, clean.params,
                                                           clean.score)
    assert mixed.index == (2 if clean.index == 1 else 0)
    with pytest.raises(ChunkingError, match="no comparison results"):
        pick_recommendation([failed])


def test_keep_going_with_every_configuration_failing_raises_the_first_error() -> None:
    cfg = configs(("recursive", MISSING_TOKENIZER), ("semantic", CLOSED_ENDPOINT))
    with pytest.raises(ChunkingError) as kept:
        compare(TEXT, cfg, keep_going=True)
    with pytest.raises(ChunkingError) as plain:
        compare(TEXT, cfg)
    assert str(kept.value) == str(plain.value)
    assert "/nonexistent/compare/t.json" in str(kept.value)


def test_keep_going_still_validates_every_configuration_first() -> None:
    with pytest.raises(ChunkingError, match=r"configs\[1\] \(recursive\).*chunk_size"):
        compare(TEXT, configs(("character", {}), ("recursive", {"chunk_size": 1})),
                keep_going=True)
    with pytest.raises(ChunkingError, match="2 to 6"):
        compare(TEXT, configs(("character", {})), keep_going=True)

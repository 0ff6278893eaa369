"""Strategies, preview (chunks, cap, metrics, per-user cache, off the event loop), recommend
and compare."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, user_headers

from chunkyard.chunking import router as chunking_routes
from chunkyard.chunking.pool import ChunkingPool
from chunkyard.chunking.work import PreviewResult
from chunkyard.kit.deps import app_service
from recommendation import assert_recommends_the_best

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GUIDE = (CORPUS / "guide.md").read_text(encoding="utf-8")
UNICODE = (CORPUS / "unicode.txt").read_text(encoding="utf-8")


def test_strategies_lists_the_six_with_params_schemas(api: Api) -> None:
    response = api.client.get(f"{API}/strategies", headers=user_headers(api))
    assert response.status_code == 200
    items = response.json()
    assert [s["name"] for s in items] == [
        "character", "recursive", "markdown", "semantic", "hierarchical", "hybrid"
    ]
    for item in items:
        assert set(item) == {"name", "description", "params_schema", "available",
                             "unavailable_reason", "unavailable_detail", "options"}
        assert item["description"]
        assert "chunk_size" in item["params_schema"]["properties"]


@pytest.mark.parametrize("strategy", ["character", "recursive", "markdown", "hierarchical",
                                      "hybrid"])
@pytest.mark.parametrize("source", ["guide", "unicode"])
def test_preview_chunks_index_the_source_and_respect_the_cap(
    api: Api, strategy: str, source: str
) -> None:
    text = GUIDE if source == "guide" else UNICODE
    response = api.client.post(
        f"{API}/preview",
        json={"text": text, "strategy": strategy, "params": {"chunk_size": 64},
              "filename": "guide.md" if source == "guide" else None},
        headers=user_headers(api),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cached"] is False
    chunks = body["chunks"]
    assert chunks and body["total_chunks"] == len(chunks) == body["metrics"]["chunk_count"]
    for i, chunk in enumerate(chunks):
        assert chunk["index"] == i
        assert 0 <= chunk["start"] < chunk["end"] <= len(text)
        assert chunk["text"] == text[chunk["start"]:chunk["end"]]
        assert 0 < chunk["tokens"] <= 64
        assert chunk["metadata"]["strategy"] == strategy
        if strategy == "hybrid":  # which strategy it chose for the text, and why
            assert chunk["metadata"]["chosen_strategy"] in ("markdown", "recursive")
            assert chunk["metadata"]["reason"]
    assert body["metrics"]["tokens_max"] <= 64


def test_max_chunks_caps_the_chunks_but_not_the_count(api: Api) -> None:
    headers = user_headers(api)
    payload: dict[str, Any] = {"text": GUIDE, "params": {"chunk_size": 32}}
    full = api.client.post(f"{API}/preview", json=payload, headers=headers).json()
    assert full["total_chunks"] > 3
    capped = api.client.post(
        f"{API}/preview", json={**payload, "max_chunks": 3}, headers=headers
    ).json()
    assert len(capped["chunks"]) == 3
    assert capped["chunks"] == full["chunks"][:3]
    assert capped["total_chunks"] == full["total_chunks"]
    none = api.client.post(
        f"{API}/preview", json={**payload, "max_chunks": 0}, headers=headers
    ).json()
    assert none["chunks"] == [] and none["total_chunks"] == full["total_chunks"]


def test_the_preview_cache_is_per_user_and_keyed_by_canonical_params(api: Api) -> None:
    alice, bob = user_headers(api), user_headers(api)
    text = "A sentence about caches. " * 200 + api.backend

    def preview(headers: dict[str, str], **body: Any) -> dict[str, Any]:
        response = api.client.post(f"{API}/preview", json={"text": text, **body}, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    first = preview(alice, params={})
    assert first["cached"] is False
    again = preview(alice, params={})
    assert again["cached"] is True
    assert again["chunks"] == first["chunks"] and again["metrics"] == first["metrics"]
    # The same configuration spelled out is the same entry.
    assert preview(alice, strategy="recursive", params={"chunk_size": 512})["cached"] is True
    assert preview(alice, params={"chunk_size": 100})["cached"] is False
    assert preview(alice, strategy="character", params={})["cached"] is False
    # Another user's previews are not shared (nor revealed).
    assert preview(bob, params={})["cached"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "params": {"chunk_size": 10}}, "chunk_size"),
        ({"text": "x", "strategy": "nope"}, "strategy"),
        ({"text": "x", "params": {"chunk_size": 32, "chunk_overlap": 20}}, "chunk_overlap"),
        ({"text": "x", "params": {"tokenizer": "hf:/etc/passwd"}}, "tokenizer"),
        ({"text": "x", "max_chunks": -1}, "max_chunks"),
        ({"strategy": "recursive"}, "text"),
    ],
)
def test_bad_previews_are_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.client.post(f"{API}/preview", json=body, headers=user_headers(api))
    assert field in assert_error(response, 422)["detail"]


def test_preview_chunking_runs_off_the_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()

    def slow_preview(*args: Any) -> PreviewResult:
        started.set()
        time.sleep(1.5)  # blocking: would stall every request if run on the loop
        return PreviewResult([], {
            "chunk_count": 0, "tokens_mean": 0.0, "tokens_min": 0, "tokens_max": 0,
            "tokens_p95": 0, "small_share": 0.0, "mid_sentence_share": 0.0, "time_ms": 0.0,
        })

    monkeypatch.setattr(chunking_routes, "run_preview", slow_preview)
    # The stand-in lives in this process, so the pool runs in threads here (worker processes
    # are off the loop by construction: tests/api/test_api_preview_pool.py).
    app: Any = api.client.app
    monkeypatch.setitem(app.dependency_overrides, app_service("chunking_pool"),
                        lambda: ChunkingPool(app.state.services.chunking_limiter,
                                             processes=False))
    headers = user_headers(api)
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(api.client.post(
        f"{API}/preview", json={"text": f"slow {time.time()}"}, headers=headers
    ).status_code))
    worker.start()
    assert started.wait(5)
    before = time.perf_counter()
    assert api.client.get("/healthz").status_code == 200
    assert time.perf_counter() - before < 1.0
    worker.join(10)
    assert results == [200]


def test_recommend(api: Api) -> None:
    headers = user_headers(api)
    response = api.client.post(
        f"{API}/recommend", json={"filename": "guide.md", "text": GUIDE}, headers=headers
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"strategy", "params", "reason"}
    assert body["strategy"] in ("markdown", "hybrid")
    assert body["params"]["chunk_size"] > 0 and body["reason"]
    by_name = api.client.post(f"{API}/recommend", json={"filename": "x.py"}, headers=headers)
    assert by_name.status_code == 200 and by_name.json()["strategy"]
    assert_error(api.client.post(f"{API}/recommend", json={"text": "x"}, headers=headers), 422)


def test_compare(api: Api) -> None:
    headers = user_headers(api)
    configs = [{"strategy": "recursive", "params": {"chunk_size": 64}},
               {"strategy": "markdown", "params": {"chunk_size": 64}}]
    response = api.client.post(
        f"{API}/compare", json={"text": GUIDE, "configs": configs, "max_chunks": 2},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["strategy"] for r in body["results"]] == ["recursive", "markdown"]
    for result in body["results"]:
        assert len(result["chunks"]) <= 2
        assert result["metrics"]["chunk_count"] >= len(result["chunks"])
        for chunk in result["chunks"]:
            assert chunk["text"] == GUIDE[chunk["start"]:chunk["end"]]
    assert_recommends_the_best(body)
    one = api.client.post(f"{API}/compare", json={"text": GUIDE, "configs": configs[:1]},
                          headers=headers)
    assert "configs" in assert_error(one, 422)["detail"]
    bad = api.client.post(
        f"{API}/compare",
        json={"text": GUIDE, "configs": [configs[0], {"strategy": "markdown",
                                                     "params": {"chunk_size": 1}}]},
        headers=headers,
    )
    detail = assert_error(bad, 422, "invalid_config")["detail"]
    assert "configs[1]" in detail and "chunk_size" in detail


def test_compare_reports_a_configuration_failing_while_chunking_in_its_result(api: Api) -> None:
    # A semantic configuration that validates (admins may name an endpoint) but whose endpoint
    # is a closed local port: it fails only when chunking asks it for embeddings.
    headers = user_headers(api, admin=True)
    good = {"strategy": "recursive", "params": {"chunk_size": 64}}
    unreachable = {"strategy": "semantic",
                   "params": {"chunk_size": 64, "embedding_url": "http://127.0.0.1:9/v1",
                              "embedding_api_model": "some-model"}}
    response = api.client.post(
        f"{API}/compare", json={"text": GUIDE, "configs": [unreachable, good], "max_chunks": 3},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    failed, kept = body["results"]
    assert failed["strategy"] == "semantic"
    assert failed["params"]["embedding_url"] == "http://127.0.0.1:9/v1"
    assert failed["metrics"] is None and failed["chunks"] is None
    assert "cannot reach embedding endpoint http://127.0.0.1:9/v1" in failed["error"]
    assert "\n" not in failed["error"]
    # The good configuration is exactly what it is compared with another good one.
    assert kept["error"] is None
    alone = api.client.post(
        f"{API}/compare", json={"text": GUIDE, "configs": [good, good], "max_chunks": 3},
        headers=headers,
    ).json()["results"][0]
    assert kept["chunks"] == alone["chunks"] and len(kept["chunks"]) == 3
    assert {k: v for k, v in kept["metrics"].items() if k != "time_ms"} == {
        k: v for k, v in alone["metrics"].items() if k != "time_ms"}
    recommendation = body["recommendation"]
    assert (recommendation["index"], recommendation["strategy"]) == (1, "recursive")
    assert recommendation["params"] == kept["params"]
    assert "semantic (chunk_size 64) failed and is not ranked" in recommendation["reason"]
    assert_recommends_the_best(body)
    # Every configuration failing is the error body, as before.
    both = api.client.post(
        f"{API}/compare", json={"text": GUIDE, "configs": [unreachable, unreachable]},
        headers=headers,
    )
    assert "cannot reach embedding endpoint" in assert_error(both, 422, "invalid_config")[
        "detail"]

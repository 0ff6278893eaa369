"""Availability, said by the server: each strategy says whether it can run on this
installation and why not (a sentence for anyone; the missing packages for admins only), with the
tokenizers and embedding models it has; choosing something unavailable is a 422 naming it,
wherever a configuration is given (preview, compare, a collection, an operation)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers

TEXT = "One sentence about chunking. Another one follows it. " * 20


def strategies(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    response = api.client.get(f"{API}/strategies", headers=headers)
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()}


@pytest.fixture
def without_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process cannot import sentence-transformers (as on an install without the extra)."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)


@pytest.fixture
def without_tokenizers(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process cannot import `tokenizers`, which the default static model runs on."""
    monkeypatch.setitem(sys.modules, "tokenizers", None)


def test_everything_installed_here_is_available(api: Api) -> None:
    items = strategies(api, user_headers(api))
    assert all(i["available"] and i["unavailable_reason"] is None for i in items.values())
    for item in items.values():
        tokenizers = {c["value"]: c for c in item["options"]["tokenizer"]}
        assert {"chars", "words", "cl100k", "hf:PATH"} <= set(tokenizers)
        assert all(c["available"] for c in tokenizers.values())
    models = {c["value"]: c for c in items["semantic"]["options"]["embedding_model"]}
    assert {"static", "local", "static:PATH", "local:PATH", "embedding_url"} == set(models)
    assert all(c["available"] for c in models.values())
    assert "embedding_model" not in items["recursive"]["options"]


def test_without_the_semantic_extra_semantic_runs_on_its_static_model(
    api: Api, without_local_model: None
) -> None:
    user, admin = strategies(api, user_headers(api)), strategies(api, user_headers(api, admin=True))
    for items in (user, admin):
        semantic = items["semantic"]
        assert semantic["available"] is True
        models = {c["value"]: c for c in semantic["options"]["embedding_model"]}
        assert models["static"]["available"] is True
        assert models["local"]["available"] is False
        assert models["local"]["unavailable_reason"] == (
            "the local embedding model is not installed on this server")
    # The missing packages and the install command are for administrators only.
    local = {c["value"]: c for c in user["semantic"]["options"]["embedding_model"]}["local"]
    assert local["unavailable_detail"] is None
    admin_local = {c["value"]: c
                   for c in admin["semantic"]["options"]["embedding_model"]}["local"]
    assert "sentence_transformers" in admin_local["unavailable_detail"]
    assert "chunkyard[semantic]" in admin_local["unavailable_detail"]
    # The default runs; the missing model is a 422 naming its field.
    headers = user_headers(api)
    ok = api.client.post(f"{API}/preview", json={"text": TEXT, "strategy": "semantic"},
                         headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["chunks"][0]["metadata"]["embedding_model"] == "static"
    refused = api.client.post(f"{API}/preview", json={
        "text": TEXT, "strategy": "semantic", "params": {"embedding_model": "local"}},
        headers=headers)
    detail = assert_error(refused, 422, "unavailable")["detail"]
    assert detail.startswith("params.embedding_model: semantic cannot run here: the local")
    assert "pip" not in detail


def test_a_missing_model_is_said_to_users_and_explained_to_admins(
    api: Api, without_tokenizers: None
) -> None:
    user, admin = strategies(api, user_headers(api)), strategies(api, user_headers(api, admin=True))
    for items in (user, admin):
        semantic = items["semantic"]
        assert semantic["available"] is False
        assert semantic["unavailable_reason"] == (
            "the static embedding model cannot run on this server")
        static = {c["value"]: c for c in semantic["options"]["embedding_model"]}["static"]
        assert static["available"] is False
        assert items["recursive"]["available"] is True
    # The missing packages and the install command are for administrators only.
    assert user["semantic"]["unavailable_detail"] is None
    assert "tokenizers" in admin["semantic"]["unavailable_detail"]
    assert "pip install" in admin["semantic"]["unavailable_detail"]
    assert "pip" not in user["semantic"]["unavailable_reason"]


def test_choosing_an_unavailable_strategy_is_a_422_naming_it(
    api: Api, without_tokenizers: None
) -> None:
    headers = user_headers(api)
    preview = api.client.post(f"{API}/preview", json={"text": TEXT, "strategy": "semantic"},
                              headers=headers)
    detail = assert_error(preview, 422, "unavailable")["detail"]
    assert detail.startswith("strategy: semantic cannot run here: the static embedding model")
    assert "pip" not in detail
    compare = api.client.post(f"{API}/compare", json={
        "text": TEXT, "configs": [{"strategy": "recursive"}, {"strategy": "semantic"}]},
        headers=headers)
    assert assert_error(compare, 422, "unavailable")["detail"].startswith(
        "configs[1].strategy: semantic cannot run here")
    collection = api.client.post(f"{API}/collections", json={
        "name": "semantic here", "config": {"strategy": "semantic"}}, headers=headers)
    assert "semantic cannot run here" in assert_error(collection, 422, "unavailable")["detail"]
    kept = create_collection(api, headers)
    operation = api.client.post(f"{API}/collections/{kept['id']}/operations",
                                json={"config": {"strategy": "semantic"}}, headers=headers)
    assert "semantic cannot run here" in assert_error(operation, 422, "unavailable")["detail"]
    # Admins are told what is missing, in the same error.
    admin = api.client.post(f"{API}/preview", json={"text": TEXT, "strategy": "semantic"},
                            headers=user_headers(api, admin=True))
    assert "pip install tokenizers" in assert_error(admin, 422, "unavailable")["detail"]
    # What is available still runs.
    ok = api.client.post(f"{API}/preview", json={"text": TEXT, "strategy": "recursive"},
                         headers=headers)
    assert ok.status_code == 200, ok.text

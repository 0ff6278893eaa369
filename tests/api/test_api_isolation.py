"""Isolation: every route that takes an id answers another user's id with 404 and nothing else.

The test walks the app's route table, so a new route with a path id fails here until it is
listed in `REQUESTS` (with a body that would be valid for its owner, so that the 404 comes
from the ownership check and not from validation). Ids carried in bodies (preview, compare,
an operation's `document_ids`) are checked too. Afterwards the owner's things are all there,
unchanged: nothing the intruder sent was applied.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from fastapi.routing import APIRoute, APIWebSocketRoute
from operation_helpers import finished_evaluation, start, text_file, upload, wait_finished
from starlette.testclient import WebSocketDenialResponse

from chunkyard.auth.service import cli_create_api_key

QUESTIONS_CSV = (b'question,references,corpus_id\n'
                 b'"Whose?","[{""start_index"": 0, ""end_index"": 5}]",mine\n')

# (method, path template) -> keyword arguments of the request, valid for the owner.
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/collections/{collection_id}"): {},
    ("PATCH", "/collections/{collection_id}"): {"json": {"name": "taken over"}},
    ("DELETE", "/collections/{collection_id}"): {},
    ("POST", "/collections/{collection_id}/documents"): {
        "files": [("files", ("intruder.txt", b"intruder text " * 50, "text/plain"))]
    },
    ("GET", "/collections/{collection_id}/documents"): {},
    ("GET", "/documents/{document_id}"): {},
    ("DELETE", "/documents/{document_id}"): {},
    ("POST", "/collections/{collection_id}/operations"): {"json": {}},
    ("GET", "/collections/{collection_id}/operations"): {},
    ("GET", "/operations/{operation_id}"): {},
    ("POST", "/operations/{operation_id}/cancel"): {},
    ("GET", "/collections/{collection_id}/chunks"): {},
    ("GET", "/documents/{document_id}/chunks"): {},
    ("GET", "/documents/{document_id}/text"): {},
    ("GET", "/collections/{collection_id}/export"): {},
    ("WS", "/operations/{operation_id}/ws"): {},
    ("DELETE", "/api-keys/{key_id}"): {},
    ("POST", "/collections/{collection_id}/diff"): {"json": {}},
    ("PUT", "/documents/{document_id}/file"): {
        "files": [("file", ("intruder.txt", b"intruder text " * 50, "text/plain"))]
    },
    ("GET", "/collections/{collection_id}/questions"): {},
    ("POST", "/collections/{collection_id}/questions"): {"json": {
        "question": "Whose?", "references": [
            {"document_id": "00000000-0000-7000-8000-000000000000", "start": 0, "end": 5}]}},
    ("POST", "/collections/{collection_id}/questions/import"): {
        "files": {"file": ("q.csv", QUESTIONS_CSV, "text/csv")}
    },
    ("GET", "/collections/{collection_id}/questions/export"): {},
    ("GET", "/questions/{question_id}"): {},
    ("PATCH", "/questions/{question_id}"): {"json": {"question": "Taken over?"}},
    ("DELETE", "/questions/{question_id}"): {},
    ("POST", "/collections/{collection_id}/evaluations"): {"json": {
        "configs": [{"strategy": "recursive", "params": {}}]}},
    ("GET", "/collections/{collection_id}/evaluations"): {},
    ("GET", "/evaluations/{evaluation_id}"): {},
    ("GET", "/evaluations/{evaluation_id}/questions"): {},
}


def all_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(full path, route) of every endpoint, through included routers. A router's own prefix
    is already in its routes' paths; an including router's prefix is not."""
    found: list[tuple[str, Any]] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is None:
            found.append((prefix + route.path, route))
            continue
        for child in inner.routes:
            if getattr(child, "original_router", None) is not None:
                found.extend(all_routes([child], prefix + inner.prefix))
            else:
                found.append((prefix + child.path, child))
    return found


def id_routes(api: Api) -> list[tuple[str, str]]:
    """(method, path under the API prefix) of every route with an id in its path."""
    app: Any = api.client.app
    # Routes kept out of the schema are the API documentation's page and its static files
    # (api/docs.py), which hold no one's data.
    routes = [(path, route) for path, route in all_routes(app.routes)
              if getattr(route, "include_in_schema", True)]
    # The walk sees what OpenAPI documents (and the WebSocket, which OpenAPI cannot show).
    http_paths = {path for path, route in routes if isinstance(route, APIRoute)}
    assert http_paths == set(app.openapi()["paths"]), http_paths ^ set(app.openapi()["paths"])
    found: list[tuple[str, str]] = []
    for path, route in routes:
        if not isinstance(route, APIRoute | APIWebSocketRoute) or "{" not in path:
            continue
        assert path.startswith(API), path
        methods = ["WS"] if isinstance(route, APIWebSocketRoute) else sorted(route.methods)
        found.extend((method, path.removeprefix(API)) for method in methods if method != "HEAD")
    return found


def test_every_route_with_an_id_is_covered(api: Api) -> None:
    routes = id_routes(api)
    missing = sorted(set(routes) - set(REQUESTS))
    assert not missing, f"routes with ids that the isolation walk does not call: {missing}"
    stale = sorted(set(REQUESTS) - set(routes))
    assert not stale, f"listed routes that no longer exist: {stale}"


def owned_things(api: Api, headers: dict[str, str]) -> dict[str, str]:
    collection = create_collection(api, headers)
    document = upload(api, headers, collection["id"], [("mine.md", text_file("mine"))])[0]
    operation = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert operation["status"] == "completed"
    username = api.client.get(f"{API}/auth/me", headers=headers).json()["username"]
    cli_create_api_key(api.settings, username, "owned")
    [key] = api.client.get(f"{API}/api-keys", headers=headers).json()["items"]
    question = api.client.post(
        f"{API}/collections/{collection['id']}/questions", headers=headers,
        json={"question": "Mine?",
              "references": [{"document_id": document["id"], "start": 0, "end": 5}]})
    assert question.status_code == 201, question.text
    evaluation = finished_evaluation(api, headers, collection["id"])
    return {
        "collection_id": collection["id"],
        "document_id": document["id"],
        "operation_id": operation["id"],
        "key_id": key["id"],
        "question_id": question.json()["id"],
        "evaluation_id": evaluation,
    }


def snapshot(api: Api, headers: dict[str, str], ids: dict[str, str]) -> list[Any]:
    """What the owner sees of their things (compared before and after the intrusion)."""
    urls = [
        f"/collections/{ids['collection_id']}",
        f"/collections/{ids['collection_id']}/documents",
        f"/documents/{ids['document_id']}",
        f"/documents/{ids['document_id']}/chunks",
        f"/collections/{ids['collection_id']}/operations",
        f"/operations/{ids['operation_id']}",
        "/api-keys",
        f"/collections/{ids['collection_id']}/questions",
        f"/questions/{ids['question_id']}",
        f"/evaluations/{ids['evaluation_id']}",
        f"/evaluations/{ids['evaluation_id']}/questions",
        f"/collections/{ids['collection_id']}/evaluations",
    ]
    seen = []
    for url in urls:
        response = api.client.get(f"{API}{url}", headers=headers)
        assert response.status_code == 200, (url, response.text)
        seen.append(response.json())
    return seen


def test_another_users_ids_answer_404_on_every_route(api: Api) -> None:
    owner = user_headers(api)
    intruder = user_headers(api)
    ids = owned_things(api, owner)
    before = snapshot(api, owner, ids)

    for method, template in id_routes(api):
        url = API + template.format(**ids)
        if method == "WS":
            with pytest.raises(WebSocketDenialResponse) as denial:
                api.client.websocket_connect(url, headers=intruder).__enter__()
            assert denial.value.status_code == 404, (method, template)
            body = denial.value.json()
            assert set(body) == {"error", "detail"}
            continue
        response = api.client.request(
            method, url, headers=intruder, **REQUESTS[(method, template)]
        )
        body = assert_error(response, 404)
        # The answer names nothing of the owner's beyond the id the intruder sent.
        for value in re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", body["detail"]):
            assert value in url, (method, template, body)

    assert snapshot(api, owner, ids) == before


def test_ids_in_bodies_are_owner_scoped(api: Api) -> None:
    owner = user_headers(api)
    intruder = user_headers(api)
    ids = owned_things(api, owner)
    theirs = create_collection(api, intruder)
    config = {"strategy": "recursive", "params": {"chunk_size": 64}}

    assert_error(api.client.post(
        f"{API}/preview", json={"document_id": ids["document_id"], **config}, headers=intruder
    ), 404)
    assert_error(api.client.post(
        f"{API}/compare",
        json={"document_id": ids["document_id"], "configs": [config, config]},
        headers=intruder,
    ), 404)
    assert_error(api.client.post(
        f"{API}/collections/{theirs['id']}/operations",
        json={"document_ids": [ids["document_id"]]}, headers=intruder,
    ), 404)
    assert_error(api.client.post(
        f"{API}/collections/{theirs['id']}/diff",
        json={"document_ids": [ids["document_id"]]}, headers=intruder,
    ), 404)
    # The owner, with the same bodies, is served.
    assert api.client.post(
        f"{API}/preview", json={"document_id": ids["document_id"], **config}, headers=owner
    ).status_code == 200

"""`WS /operations/{id}/ws`: progress as documents land, the final event, a finished operation's
final event at once, cancel, auth by header or cookie, and 404 for anyone else (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import API, PASSWORD, Api, create_collection, make_user, user_headers
from operation_helpers import (
    CORRUPT_PDF,
    FINISHED,
    OPERATION_FIELDS,
    start,
    text_file,
    upload,
    wait_finished,
)
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect


def ws_url(operation_id: str) -> str:
    return f"{API}/operations/{operation_id}/ws"


def receive_all(api: Api, operation_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every event until the server closes the socket (after the final one)."""
    events: list[dict[str, Any]] = []
    with api.client.websocket_connect(ws_url(operation_id), headers=headers) as ws:
        while True:
            try:
                events.append(ws.receive_json())
            except WebSocketDisconnect as closed:
                assert closed.code == 1000
                break
    return events


def refused(api: Api, operation_id: str, headers: dict[str, str]) -> WebSocketDenialResponse:
    """The HTTP answer to a handshake the server refuses."""
    with pytest.raises(WebSocketDenialResponse) as denial:
        api.client.websocket_connect(ws_url(operation_id), headers=headers).__enter__()
    return denial.value


def collection_with_documents(
    api: Api, headers: dict[str, str], count: int, paragraphs: int = 12
) -> dict[str, Any]:
    collection = create_collection(
        api, headers, config={"strategy": "recursive", "params": {"chunk_size": 64}}
    )
    upload(api, headers, collection["id"],
           [(f"d{i}.md", text_file(f"doc{i}", paragraphs)) for i in range(count)])
    return collection


def test_progress_events_then_completed(api: Api) -> None:
    headers = user_headers(api)
    collection = collection_with_documents(api, headers, count=6, paragraphs=400)
    created = start(api, headers, collection["id"])

    events = receive_all(api, created["id"], headers)

    assert all(set(e) == {"type", "operation"} for e in events)
    assert all(set(e["operation"]) == OPERATION_FIELDS for e in events)
    assert all(e["operation"]["id"] == created["id"] for e in events)
    *progress, final = events
    assert final["type"] == "completed"
    assert all(e["type"] == "progress" for e in progress)
    # Documents land one by one, and the client sees them land.
    done = [e["operation"]["documents_done"] for e in progress]
    assert done == sorted(done)
    assert len({d for d in done}) >= 2, done
    assert final["operation"] == wait_finished(api, headers, created["id"])
    assert final["operation"]["documents_done"] == 6


def test_finished_operation_sends_its_final_event_at_once(api: Api) -> None:
    headers = user_headers(api)
    collection = collection_with_documents(api, headers, count=1)
    created = start(api, headers, collection["id"])
    finished = wait_finished(api, headers, created["id"])

    events = receive_all(api, created["id"], headers)

    assert events == [{"type": "completed", "operation": finished}]


def test_cancel_is_pushed_to_listeners(api: Api) -> None:
    headers = user_headers(api)
    collection = collection_with_documents(api, headers, count=10, paragraphs=3000)
    created = start(api, headers, collection["id"])
    with api.client.websocket_connect(ws_url(created["id"]), headers=headers) as ws:
        first = ws.receive_json()
        assert first["type"] in {"progress", "cancelled"}
        cancelled = api.client.post(f"{API}/operations/{created['id']}/cancel", headers=headers)
        assert cancelled.status_code == 200, cancelled.text
        event = first
        while event["type"] not in FINISHED:
            event = ws.receive_json()
        assert event["type"] == "cancelled"
        assert event["operation"]["status"] == "cancelled"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    assert wait_finished(api, headers, created["id"])["status"] == "cancelled"


def test_session_cookie_authenticates_from_the_same_origin_only(api: Api) -> None:
    username = make_user(api)
    headers = user_headers(api)
    login = api.client.post(f"{API}/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    collection = collection_with_documents(api, owner, count=1)
    created = start(api, owner, collection["id"])
    wait_finished(api, owner, created["id"])

    # The cookie jar holds the session cookie: no header needed from the same origin.
    same = {"Origin": "http://testserver"}
    with api.client.websocket_connect(ws_url(created["id"]), headers=same) as ws:
        assert ws.receive_json()["type"] == "completed"
    # A page of another site cannot ride on the cookie.
    cross_site = refused(api, created["id"], {"Origin": "https://evil.example"})
    assert cross_site.status_code == 401
    assert cross_site.json()["error"] == "cross_site"
    # The same host under another scheme (an https page on this http server) is another origin.
    for other in ("https://testserver", "http://testserver:8443", "null"):
        refusal = refused(api, created["id"], {"Origin": other})
        assert (refusal.status_code, refusal.json()["error"]) == (401, "cross_site"), other
    api.client.cookies.clear()
    # Another user's credentials see nothing.
    assert refused(api, created["id"], headers).status_code == 404


@pytest.mark.parametrize(
    ("operation_id", "auth", "status", "code"),
    [
        ("00000000-0000-0000-0000-000000000000", True, 404, "operation_not_found"),
        ("not-a-uuid", True, 404, "operation_not_found"),
        ("00000000-0000-0000-0000-000000000000", False, 401, "unauthorized"),
    ],
)
def test_refused_handshakes_answer_like_http(
    api: Api, operation_id: str, auth: bool, status: int, code: str
) -> None:
    headers = user_headers(api) if auth else {}
    denial = refused(api, operation_id, headers)
    assert denial.status_code == status
    assert denial.json() == {"error": code, "detail": denial.json()["detail"]}
    # The refusal is an HTTP response like any other: it carries the security headers.
    assert "script-src 'self'" in denial.headers["content-security-policy"]
    assert denial.headers["x-content-type-options"] == "nosniff"
    assert denial.headers["x-frame-options"] == "DENY"
    assert refused(api, operation_id, {"Authorization": "Token abc"}).status_code == 401


def test_the_final_event_says_how_many_documents_failed(api: Api) -> None:
    headers = user_headers(api)
    collection = collection_with_documents(api, headers, count=2)
    upload(api, headers, collection["id"], [("broken.pdf", CORRUPT_PDF + b"ws")])
    created = start(api, headers, collection["id"])

    *_, final = receive_all(api, created["id"], headers)

    assert final["type"] == "completed"
    operation = final["operation"]
    assert (operation["documents_done"], operation["documents_failed"]) == (2, 1)
    assert operation["error"] == "1 of 3 documents failed; each failed document's error says why"

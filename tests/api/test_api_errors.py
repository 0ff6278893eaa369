"""The error body on every kind of bad request, and request ids on every response."""

from __future__ import annotations

import logging

import pytest
from api_helpers import API, Api, assert_error, user_headers
from fastapi.testclient import TestClient

from chunkyard.api.app import create_app
from chunkyard.settings import Settings


def test_unknown_routes_are_404_with_the_error_body(api: Api) -> None:
    # (Other paths outside the API without a dot, like /nope, are the web UI's client routes:
    # they answer the app's page, see tests/web/test_web_serving.py.)
    for path in ("/nope.txt", "/healthz/nope", f"{API}/nope", f"{API}/collections/x/y/z"):
        body = assert_error(api.client.get(path), 404, "not_found")
        assert path in body["detail"]


def test_a_wrong_method_is_405_with_the_error_body(api: Api) -> None:
    response = api.client.delete("/healthz")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert_error(api.client.put(f"{API}/collections", headers=user_headers(api)), 405)


def test_bad_json_is_400(api: Api) -> None:
    response = api.client.post(
        f"{API}/collections",
        content=b'{"name": ',
        headers={**user_headers(api), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": 5}, "name"), ({"name": "a", "colour": "red"}, "colour")],
)
def test_validation_errors_are_422_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    response = api.client.post(f"{API}/collections", json=body, headers=user_headers(api))
    assert field in assert_error(response, 422, "validation_error")["detail"]


def test_a_missing_body_is_422(api: Api) -> None:
    response = api.client.post(f"{API}/preview", headers=user_headers(api))
    assert "body" in assert_error(response, 422)["detail"]


def test_request_ids_are_echoed_when_sane_and_made_otherwise(api: Api) -> None:
    sent = api.client.get("/healthz", headers={"X-Request-ID": "abc-123.XYZ:9_z"})
    assert sent.headers["x-request-id"] == "abc-123.XYZ:9_z"
    for insane in ("x" * 129, "has space", "semi;colon", ""):
        made = api.client.get("/healthz", headers={"X-Request-ID": insane})
        assert made.headers["x-request-id"] != insane
        assert len(made.headers["x-request-id"]) == 32
    first = api.client.get("/healthz").headers["x-request-id"]
    second = api.client.get("/healthz").headers["x-request-id"]
    assert first != second
    # Errors carry one too.
    assert api.client.get("/nope").headers["x-request-id"]


def test_log_records_carry_the_request_id(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="chunkyard.api"):
        api.client.get("/healthz", headers={"X-Request-ID": "trace-me-42"})
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-me-42"]
    assert mine, [(r.name, getattr(r, "request_id", None)) for r in caplog.records]
    assert any("/healthz" in r.getMessage() for r in mine)


def test_preview_text_over_the_limit_is_413(api: Api) -> None:
    from chunkyard.documents.service import MAX_PREVIEW_CHARS

    response = api.client.post(
        f"{API}/preview", json={"text": "a" * (MAX_PREVIEW_CHARS + 1)}, headers=user_headers(api)
    )
    assert_error(response, 413, "payload_too_large")


def test_bodies_over_the_request_limit_are_413(api: Api) -> None:
    from chunkyard.api.app import MAX_REQUEST_BYTES

    response = api.client.post(
        f"{API}/preview",
        content=b"x" * (MAX_REQUEST_BYTES + 1),
        headers={**user_headers(api), "Content-Type": "application/json"},
    )
    assert_error(response, 413)
    assert response.headers["x-request-id"]


def test_an_unexpected_error_is_a_500_with_the_error_body(sqlite_settings: Settings) -> None:
    app = create_app(sqlite_settings)

    async def boom() -> None:
        raise RuntimeError("bug")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert_error(response, 500, "internal_error")
    assert "bug" not in response.json()["detail"]  # no internals leak
    assert response.headers["x-request-id"] == "bug-1"


def test_chunked_bodies_over_the_request_limit_are_413(api: Api) -> None:
    from chunkyard.api.app import MAX_REQUEST_BYTES

    def stream():  # no Content-Length: the body is counted as it arrives
        block = b"x" * (1024 * 1024)
        for _ in range(MAX_REQUEST_BYTES // len(block) + 1):
            yield block

    response = api.client.post(
        f"{API}/preview",
        content=stream(),
        headers={**user_headers(api), "Content-Type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")

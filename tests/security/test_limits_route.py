"""Issue 12, point 4: `GET /api/v1/limits` tells a signed-in user their limits and current use
(and nothing of anyone else's)."""

from __future__ import annotations

from typing import Any

from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import start, upload, wait_finished


def _limits(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    response = api.client.get(f"{API}/limits", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_new_user_sees_the_settings_and_no_use(api: Api) -> None:
    settings = api.settings
    body = _limits(api, user_headers(api))
    assert body == {
        "active_operations": {"limit": settings.max_active_operations_per_user, "used": 0},
        "storage_bytes": {"limit": settings.max_storage_bytes_per_user, "used": 0},
        "previews_per_minute": {"limit": settings.max_previews_per_minute, "used": 0},
        "preview_cache_bytes": {"limit": settings.max_preview_cache_bytes_per_user,
                                "used": 0},
        "max_file_bytes": settings.max_upload_bytes,
        "max_request_bytes": settings.request_body_limit,
        "max_extracted_chars": 50_000_000,
        "operation_memory_mb": 500,
    }


def test_the_use_follows_what_the_user_does(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    data = b"Some words to keep. " * 30
    upload(api, headers, collection, [("a.txt", data)])
    for text in ("one text to preview", "another text to preview"):
        response = api.client.post(f"{API}/preview", json={"text": text}, headers=headers)
        assert response.status_code == 200, response.text
    operation = start(api, headers, collection)
    body = _limits(api, headers)
    assert body["storage_bytes"]["used"] == len(data)
    assert body["previews_per_minute"]["used"] == 2
    assert body["preview_cache_bytes"]["used"] > 0
    assert body["active_operations"]["used"] in (0, 1)  # it may have finished already
    wait_finished(api, headers, operation["id"])
    assert _limits(api, headers)["active_operations"]["used"] == 0
    # Another user's use is their own.
    other = _limits(api, user_headers(api))
    assert other["storage_bytes"]["used"] == 0 and other["previews_per_minute"]["used"] == 0


def test_the_limits_need_a_signed_in_user(api: Api) -> None:
    assert_error(api.client.get(f"{API}/limits"), 401)

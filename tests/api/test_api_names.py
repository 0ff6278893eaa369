"""Names people give things (collections, uploaded files) cannot carry characters that change
how the text around them reads: controls (DEL, NEL), line separators, bidi overrides."""

from __future__ import annotations

import uuid

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers

REFUSED = {
    "RLO": "invoice\u202egpj.exe",
    "isolate": "a\u2066b",
    "NEL": "one\x85two",
    "line separator": "one\u2028two",
    "DEL": "bad\x7fname",
    "tab": "tab\tname",
}
ALLOWED = ["Caf\u00e9 r\u00e9sum\u00e9", "\u6f22\u5b57 notes", "family \U0001f468\u200d\U0001f469",
           "\u05e2\u05d1\u05e8\u05d9\u05ea", "soft\u00adhyphen"]


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_collection_name_with_an_unsafe_character_is_422(api: Api, name: str) -> None:
    headers = user_headers(api)
    response = api.client.post(f"{API}/collections", json={"name": name}, headers=headers)
    detail = assert_error(response, 422)["detail"]
    unsafe = next(c for c in name if not c.isalnum() and c not in " .")
    assert "name" in detail and f"U+{ord(unsafe):04X}" in detail
    kept = create_collection(api, headers)
    renamed = api.client.patch(f"{API}/collections/{kept['id']}", json={"name": name},
                               headers=headers)
    assert_error(renamed, 422)
    listed = api.client.get(f"{API}/collections", headers=headers).json()["items"]
    assert [c["name"] for c in listed] == [kept["name"]]


@pytest.mark.parametrize("name", ALLOWED)
def test_names_in_any_script_are_kept_as_given(api: Api, name: str) -> None:
    headers = user_headers(api)
    made = create_collection(api, headers, name=name)
    assert made["name"] == name
    file_name = f"{name} {uuid.uuid4().hex[:6]}.txt"
    response = api.client.post(f"{API}/collections/{made['id']}/documents",
                               files=[("files", (file_name, b"Some words.", "text/plain"))],
                               headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["filename"] == file_name


# The HTTP client percent-encodes a tab in a multipart file name, so it never arrives raw.
FILE_REFUSED = {k: v for k, v in REFUSED.items() if k != "tab"}


@pytest.mark.parametrize("name", FILE_REFUSED.values(), ids=FILE_REFUSED.keys())
def test_a_file_name_with_an_unsafe_character_is_422_and_stores_nothing(
    api: Api, name: str
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    url = f"{API}/collections/{collection['id']}/documents"
    response = api.client.post(url, files=[("files", (f"{name}.txt", b"words", "text/plain"))],
                               headers=headers)
    assert_error(response, 422, "invalid_filename")
    assert api.client.get(url, headers=headers).json()["items"] == []

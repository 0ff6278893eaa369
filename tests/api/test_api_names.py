"""Names people give things (collections, uploaded files) cannot carry characters that change
how the text around them reads: controls (DEL, NEL), line separators, bidi overrides."""

from __future__ import annotations

import uuid
from typing import Any

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


def _raw_upload(api: Api, url: str, headers: dict[str, str], filename: bytes,
                charset: str | None = None) -> Any:
    """POST one file part whose Content-Disposition carries `filename` as these very bytes
    (an HTTP client would encode a str name itself, always as valid UTF-8)."""
    boundary = "chunkyard-" + uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
        + b"Content-Type: text/plain\r\n\r\n"
        + b"Some words.\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    if charset is not None:
        content_type += f"; charset={charset}"
    return api.client.post(url, content=body,
                           headers={**headers, "Content-Type": content_type})


@pytest.mark.parametrize("charset", [None, "latin-1", "utf-16", "no-such-charset"])
def test_a_file_name_that_is_not_utf8_is_422_and_stores_nothing(
    api: Api, charset: str | None
) -> None:
    """Starlette decodes a name that is not UTF-8 as latin-1 (b"caf\\xe9" -> "café", the
    same text as the UTF-8 name "café"), so the name is judged by the bytes sent, whatever
    charset the request claims."""
    headers = user_headers(api)
    collection = create_collection(api, headers)
    url = f"{API}/collections/{collection['id']}/documents"
    response = _raw_upload(api, url, headers, b"caf\xe9.txt", charset)
    detail = assert_error(response, 422, "invalid_filename")["detail"]
    assert "UTF-8" in detail and "caf\\xe9.txt" in detail and "0xE9" in detail, detail
    assert api.client.get(url, headers=headers).json()["items"] == []


@pytest.mark.parametrize("charset", [None, "latin-1"])
@pytest.mark.parametrize("name", ["r\u00e9sum\u00e9.txt", "caf\u00e9.txt", "\u6f22\u5b57.md",
                                  "\U0001f468\u200d\U0001f469 notes.txt"])
def test_a_utf8_file_name_is_stored_as_sent(api: Api, name: str, charset: str | None) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    url = f"{API}/collections/{collection['id']}/documents"
    response = _raw_upload(api, url, headers, name.encode("utf-8"), charset)
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["filename"] == name
    listed = api.client.get(url, headers=headers).json()["items"]
    assert [d["filename"] for d in listed] == [name]

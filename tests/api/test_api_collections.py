"""Collections: create/read/update/delete, isolation between users, names, configs, pages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from api_helpers import (
    API,
    Api,
    assert_error,
    create_collection,
    in_db,
    statements,
    user_headers,
)
from operation_helpers import start, text_file, upload, wait_finished
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.storage.models import Document


def test_collection_round_trip(api: Api) -> None:
    headers = user_headers(api)
    created = create_collection(
        api, headers, "  Handbook  ",
        config={"strategy": "markdown", "params": {"chunk_size": 256}},
    )
    assert set(created) == {
        "id", "name", "config", "document_count", "chunk_count", "created_at", "last_operation",
        "stale_documents", "other_config_documents",
    }
    assert created["last_operation"] is None
    assert created["name"] == "Handbook"
    assert created["config"]["strategy"] == "markdown"
    # Stored canonical: validated, with every default filled in.
    assert created["config"]["params"]["chunk_size"] == 256
    assert created["config"]["params"]["chunk_overlap"] == 0
    assert created["document_count"] == 0 and created["chunk_count"] == 0
    url = f"{API}/collections/{created['id']}"

    assert api.client.get(url, headers=headers).json() == created

    patched = api.client.patch(
        url, json={"name": "Guide", "config": {"strategy": "recursive", "params": {}}},
        headers=headers,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Guide"
    assert patched.json()["config"]["strategy"] == "recursive"
    assert patched.json()["config"]["params"]["chunk_size"] == 512
    assert patched.json()["created_at"] == created["created_at"]
    assert api.client.get(url, headers=headers).json()["name"] == "Guide"
    # An empty patch changes nothing.
    assert api.client.patch(url, json={}, headers=headers).json() == patched.json()

    listed = api.client.get(f"{API}/collections", headers=headers).json()
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None

    deleted = api.client.delete(url, headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(api.client.get(url, headers=headers), 404, "collection_not_found")
    assert_error(api.client.delete(url, headers=headers), 404)
    assert api.client.get(f"{API}/collections", headers=headers).json()["items"] == []


def test_a_new_collection_defaults_to_recursive(api: Api) -> None:
    created = create_collection(api, user_headers(api))
    assert created["config"]["strategy"] == "recursive"


def test_another_users_collection_is_not_found(api: Api) -> None:
    alice, bob = user_headers(api), user_headers(api)
    mine = create_collection(api, alice, "shared-name")
    url = f"{API}/collections/{mine['id']}"
    for response in (
        api.client.get(url, headers=bob),
        api.client.patch(url, json={"name": "stolen"}, headers=bob),
        api.client.delete(url, headers=bob),
    ):
        body = assert_error(response, 404, "collection_not_found")
        assert "shared-name" not in body["detail"]
    assert api.client.get(f"{API}/collections", headers=bob).json()["items"] == []
    # Untouched for its owner; and names are unique per owner only.
    assert api.client.get(url, headers=alice).json()["name"] == "shared-name"
    assert create_collection(api, bob, "shared-name")["id"] != mine["id"]


@pytest.mark.parametrize("raw_id", ["not-a-uuid", "0d0c0b0a-1234-4abc-8def-0123456789ab", "0"])
def test_unknown_or_malformed_ids_are_not_found(api: Api, raw_id: str) -> None:
    assert_error(
        api.client.get(f"{API}/collections/{raw_id}", headers=user_headers(api)), 404
    )


def test_names_are_unique_per_owner(api: Api) -> None:
    headers = user_headers(api)
    create_collection(api, headers, "docs")
    other = create_collection(api, headers, "notes")
    body = assert_error(
        api.client.post(f"{API}/collections", json={"name": "docs"}, headers=headers),
        409, "collection_exists",
    )
    assert "docs" in body["detail"]
    assert_error(
        api.client.patch(
            f"{API}/collections/{other['id']}", json={"name": "docs"}, headers=headers
        ),
        409,
    )
    # Renaming to its own name is fine.
    same = api.client.patch(
        f"{API}/collections/{other['id']}", json={"name": "notes"}, headers=headers
    )
    assert same.status_code == 200


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"strategy": "recursive", "params": {"chunk_size": 5}}, "chunk_size"),
        ({"strategy": "recursive", "params": {"chunk_size": 64, "chunk_overlap": 40}},
         "chunk_overlap"),
        ({"strategy": "markdown", "params": {"bogus": 1}}, "bogus"),
        ({"strategy": "recursive", "params": {"tokenizer": "nope"}}, "tokenizer"),
        ({"strategy": "no-such-strategy", "params": {}}, "strategy"),
        ({"strategy": "recursive", "params": {"tokenizer": "hf:/etc/passwd"}}, "tokenizer"),
    ],
)
def test_bad_configs_are_422_naming_the_field(
    api: Api, config: dict[str, object], field: str
) -> None:
    headers = user_headers(api)
    body = assert_error(
        api.client.post(f"{API}/collections", json={"name": "c", "config": config},
                        headers=headers),
        422, "invalid_config",
    )
    assert field in body["detail"]
    existing = create_collection(api, headers)
    body = assert_error(
        api.client.patch(f"{API}/collections/{existing['id']}", json={"config": config},
                         headers=headers),
        422,
    )
    assert field in body["detail"]
    # Nothing was changed by the refused patch.
    assert api.client.get(
        f"{API}/collections/{existing['id']}", headers=headers
    ).json()["config"] == existing["config"]


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "   "}, {"name": "x" * 256}, {"name": "a", "extra": 1},
             {"name": "a", "config": {"strategy": "recursive", "params": [1]}}],
)
def test_bad_collection_bodies_are_422(api: Api, body: dict[str, object]) -> None:
    assert_error(
        api.client.post(f"{API}/collections", json=body, headers=user_headers(api)),
        422, "validation_error",
    )


def test_listing_pages_with_cursors(api: Api) -> None:
    headers = user_headers(api)
    made = [create_collection(api, headers, f"c{i}")["id"] for i in range(5)]
    create_collection(api, user_headers(api))  # someone else's, never listed
    seen: list[str] = []
    sizes = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = api.client.get(f"{API}/collections", params=params, headers=headers)
        assert page.status_code == 200
        body = page.json()
        sizes.append(len(body["items"]))
        seen.extend(c["id"] for c in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert seen == made  # oldest first, no repeats, nothing missing
    everything = api.client.get(f"{API}/collections", params={"limit": 1000}, headers=headers)
    assert [c["id"] for c in everything.json()["items"]] == made


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "many"])
def test_limits_out_of_range_are_422(api: Api, limit: str) -> None:
    body = assert_error(
        api.client.get(f"{API}/collections", params={"limit": limit}, headers=user_headers(api)),
        422,
    )
    assert "limit" in body["detail"]


@pytest.mark.parametrize("cursor", ["garbage", "WyJjb2wiLCJ6eiJd", "WyJjIiwxXQ", ""])
def test_cursors_this_listing_did_not_issue_are_400(api: Api, cursor: str) -> None:
    assert_error(
        api.client.get(f"{API}/collections", params={"cursor": cursor}, headers=user_headers(api)),
        400, "invalid_cursor",
    )


def test_counts_come_from_the_collections_documents(api: Api) -> None:
    headers = user_headers(api)
    created = create_collection(api, headers)
    collection_id = uuid.UUID(created["id"])

    async def add_documents(session: AsyncSession) -> None:
        for i, chunks in enumerate((3, 4, 0)):
            session.add(Document(collection_id=collection_id, filename=f"d{i}.md",
                                 size_bytes=10, content_sha256="a" * 64, chunk_count=chunks))

    in_db(api.settings, add_documents)
    got = api.client.get(f"{API}/collections/{created['id']}", headers=headers).json()
    assert (got["document_count"], got["chunk_count"]) == (3, 7)
    listed = api.client.get(f"{API}/collections", headers=headers).json()["items"]
    assert (listed[0]["document_count"], listed[0]["chunk_count"]) == (3, 7)
    # Deleting the collection deletes its documents too.
    deleted = api.client.delete(f"{API}/collections/{created['id']}", headers=headers)
    assert deleted.status_code == 204

    async def remaining(session: AsyncSession) -> int:
        stmt = select(func.count()).select_from(Document)
        return int(await session.scalar(stmt.where(Document.collection_id == collection_id)) or 0)

    assert in_db(api.settings, remaining) == 0


def test_admins_may_use_server_side_tokenizers_in_configs(api: Api) -> None:
    # The check is about who may ask, so an admin's bad path is refused by validation of
    # the value itself (the file is only read when chunking), not by the admin gate.
    headers = user_headers(api, admin=True)
    created = create_collection(
        api, headers, config={"strategy": "recursive", "params": {"tokenizer": "hf:/nope.json"}}
    )
    assert created["config"]["params"]["tokenizer"] == "hf:/nope.json"


# -- the last operation ---------------------------------------------------------------------------

LAST_OPERATION_FIELDS = {"id", "status", "documents_done", "documents_total", "finished_at"}


def _get(api: Api, headers: dict[str, str], path: str) -> Any:
    response = api.client.get(f"{API}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_collection_says_its_newest_operation(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    cid = collection["id"]
    assert collection["last_operation"] is None
    assert _get(api, headers, f"/collections/{cid}")["last_operation"] is None
    upload(api, headers, cid, [("a.txt", text_file("a")), ("b.txt", text_file("b"))])

    first = wait_finished(api, headers, start(api, headers, cid)["id"])
    last = _get(api, headers, f"/collections/{cid}")["last_operation"]
    assert set(last) == LAST_OPERATION_FIELDS
    assert last == {k: first[k] for k in LAST_OPERATION_FIELDS}
    assert last["status"] == "completed" and last["finished_at"] is not None
    assert last["documents_done"] == last["documents_total"] == 2

    # A newer operation (of one document) replaces it, on every route that answers a collection.
    documents = _get(api, headers, f"/collections/{cid}/documents")["items"]
    second = wait_finished(
        api, headers, start(api, headers, cid, document_ids=[documents[0]["id"]])["id"]
    )
    assert second["id"] != first["id"]
    expected = {k: second[k] for k in LAST_OPERATION_FIELDS}
    assert expected["documents_total"] == 1
    assert _get(api, headers, f"/collections/{cid}")["last_operation"] == expected
    (listed,) = [c for c in _get(api, headers, "/collections")["items"] if c["id"] == cid]
    assert listed["last_operation"] == expected
    patched = api.client.patch(f"{API}/collections/{cid}", json={"name": "renamed"},
                               headers=headers)
    assert patched.status_code == 200 and patched.json()["last_operation"] == expected


def test_a_started_operation_is_the_last_one_at_once(api: Api) -> None:
    headers = user_headers(api)
    cid = create_collection(api, headers)["id"]
    upload(api, headers, cid, [("a.txt", text_file("a"))])
    started = start(api, headers, cid)
    last = _get(api, headers, f"/collections/{cid}")["last_operation"]
    assert last["id"] == started["id"]
    assert last["status"] in {"pending", "running", "completed"}
    wait_finished(api, headers, started["id"])


def _list_with_statements(api: Api, headers: dict[str, str]) -> tuple[list[Any], list[str]]:
    with statements(api) as seen:
        items = _get(api, headers, "/collections?limit=1000")["items"]
    # Not the credential's lookup: it is cached for a second, so it comes and goes.
    return items, [s for s in seen if "auth_sessions" not in s]


def test_the_listing_reads_last_operations_in_one_query(api: Api) -> None:
    headers = user_headers(api)

    def add(count: int, operations: int) -> list[str]:
        ids = []
        for k in range(count):
            cid = create_collection(api, headers)["id"]
            ids.append(cid)
            if k < operations:
                upload(api, headers, cid, [(f"d{k}.txt", text_file(f"d{k}"))])
                for _ in range(2):  # two each: the newest must win
                    wait_finished(api, headers, start(api, headers, cid)["id"])
        return ids

    add(2, operations=1)
    small, small_sql = _list_with_statements(api, headers)
    add(5, operations=4)
    large, large_sql = _list_with_statements(api, headers)
    assert len(small) == 2 and len(large) == 7

    # However many collections the page has: the same statements, one on operations.
    assert len(large_sql) == len(small_sql), large_sql
    on_operations = [s for s in large_sql if "operations" in s.lower()]
    assert len(on_operations) == 1, on_operations

    # And each collection got its own newest operation.
    with_ops = [c for c in large if c["last_operation"] is not None]
    assert len(with_ops) == 5
    for c in large:
        ops = _get(api, headers, f"/collections/{c['id']}/operations")["items"]
        if not ops:
            assert c["last_operation"] is None
            continue
        newest = max(ops, key=lambda o: o["created_at"])
        assert len(ops) == 2 and ops[-1]["id"] == newest["id"]
        assert c["last_operation"] == {k: newest[k] for k in LAST_OPERATION_FIELDS}


def test_another_users_operations_are_not_anyones_last(api: Api) -> None:
    alice, bob = user_headers(api), user_headers(api)
    theirs = create_collection(api, alice)
    upload(api, alice, theirs["id"], [("a.txt", text_file("a"))])
    wait_finished(api, alice, start(api, alice, theirs["id"])["id"])
    mine = create_collection(api, bob)
    (listed,) = _get(api, bob, "/collections")["items"]
    assert listed["id"] == mine["id"] and listed["last_operation"] is None

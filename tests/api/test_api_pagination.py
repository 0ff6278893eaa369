"""What every listing and every owned read share: keyset pages behind opaque cursors, and
404 for a row that is not the caller's.

The cursors' form is pinned here (unpadded URL-safe base64 of the JSON `[kind, *key]`), since
clients hold cursors between requests: a change of form would break the pages they are on.
Any cursor a listing did not issue is a 400 `invalid_cursor` with one sentence, on every
listing; another user's (or a missing, or a malformed) collection, document or operation is a
404 `<what>_not_found` naming only the id that was sent.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from api_helpers import API, Api, create_collection, statements, user_headers
from operation_helpers import start, text_file, upload, wait_finished

INVALID_CURSOR = {"error": "invalid_cursor", "detail": "cursor: not a cursor this listing issued"}


def cursor_of(*values: Any) -> str:
    """A cursor in the form the listings hand out: `[kind, *key]` as unpadded base64url JSON."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hex_of(raw: str) -> str:
    return uuid.UUID(raw).hex


@dataclass(frozen=True)
class Listing:
    path: str
    kind: str
    key: Callable[[dict[str, Any]], list[Any]]  # an item -> the values its cursor carries
    table: str  # what its page query reads


def make_listings(api: Api, headers: dict[str, str]) -> tuple[dict[str, Listing], dict[str, str]]:
    """Three of everything for one user: collections, documents, operations (and chunks)."""
    collections = [create_collection(api, headers, config={"params": {"chunk_size": 64}})
                   for _ in range(3)]
    cid = collections[0]["id"]
    documents = upload(api, headers, cid, [(f"d{k}.txt", text_file(f"d{k}", 3)) for k in range(3)])
    operations = [wait_finished(api, headers, start(api, headers, cid)["id"]) for _ in range(3)]
    assert all(o["status"] == "completed" for o in operations), operations
    did = documents[0]["id"]
    listings = {
        "collections": Listing("/collections", "col", lambda c: [hex_of(c["id"])], "collections"),
        "documents": Listing(
            f"/collections/{cid}/documents", "doc", lambda d: [hex_of(d["id"])], "documents"
        ),
        "operations": Listing(
            f"/collections/{cid}/operations", "op", lambda o: [hex_of(o["id"])], "operations"
        ),
        "collection chunks": Listing(
            f"/collections/{cid}/chunks", "c",
            lambda c: [hex_of(c["document_id"]), c["index"]], "chunks",
        ),
        "document chunks": Listing(f"/documents/{did}/chunks", "d", lambda c: [c["index"]],
                                   "chunks"),
    }
    ids = {"collection": cid, "document": did, "operation": operations[0]["id"]}
    return listings, ids


def page(api: Api, headers: dict[str, str], path: str, **params: Any) -> dict[str, Any]:
    response = api.client.get(f"{API}{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "next_cursor"}
    return body


def test_cursors_keep_their_form_and_pages_their_order(api: Api) -> None:
    headers = user_headers(api)
    listings, _ = make_listings(api, headers)
    for name, listing in listings.items():
        everything = page(api, headers, listing.path, limit=1000)
        assert everything["next_cursor"] is None
        items = everything["items"]
        assert len(items) >= 3, name
        keys = [listing.key(item) for item in items]
        assert keys == sorted(keys), name  # key order, oldest first

        # One at a time: each cursor is the last item's key, in the pinned form.
        walked: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            more = {"cursor": cursor} if cursor else {}
            body = page(api, headers, listing.path, limit=1, **more)
            walked.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert cursor == cursor_of(listing.kind, *listing.key(body["items"][-1])), name
        assert walked == items, name

        # A cursor made by hand in that form (as a client may hold one) is honoured.
        after_first = page(api, headers, listing.path, cursor=cursor_of(listing.kind,
                                                                         *keys[0]))
        assert after_first["items"] == items[1:], name


def test_page_queries_are_keyset_not_offset(api: Api) -> None:
    headers = user_headers(api)
    listings, _ = make_listings(api, headers)
    for name, listing in listings.items():
        first = page(api, headers, listing.path, limit=1)
        with statements(api) as seen:
            page(api, headers, listing.path, limit=1, cursor=first["next_cursor"])
        (read,) = [s for s in seen if s.lstrip().startswith(f"SELECT {listing.table}.")
                   and f"FROM {listing.table}" in s and "LIMIT" in s.upper()]
        limit_clause = read[read.rindex("LIMIT"):].strip()
        # SQLite's compiler writes `LIMIT ? OFFSET ?` for any limit (the offset bound to 0).
        assert re.fullmatch(r"LIMIT (\$\d+::INTEGER|\? OFFSET \?)", limit_clause), (name, read)
        assert " > " in read and "ORDER BY" in read.upper(), (name, read)


def test_cursors_no_listing_issued_are_400_on_every_listing(api: Api) -> None:
    headers = user_headers(api)
    listings, _ = make_listings(api, headers)
    some_id = uuid.uuid4().hex
    for name, listing in listings.items():
        issued = page(api, headers, listing.path, limit=1)["next_cursor"]
        arity = len(listing.key(page(api, headers, listing.path, limit=1)["items"][0]))
        refused = [
            "junk", "!!!", "W10", issued[:-3], cursor_of("zz", some_id),
            cursor_of(listing.kind), cursor_of(listing.kind, *[some_id] * (arity + 1)),
            cursor_of(listing.kind, *[None] * arity), cursor_of(listing.kind, *[[]] * arity),
            # The other listings' cursors, well formed for them.
            *(cursor_of(other.kind, *other_key) for other, other_key in (
                (o, [some_id] if o.kind in ("col", "doc", "op") else
                 [some_id, 1] if o.kind == "c" else [1])
                for o in listings.values() if o.kind != listing.kind
            )),
        ]
        if listing.kind in ("col", "doc", "op"):
            refused += [cursor_of(listing.kind, "zz"), cursor_of(listing.kind, 5)]
        elif listing.kind == "c":
            refused += [cursor_of("c", "zz", 1), cursor_of("c", some_id, "1"),
                        cursor_of("c", some_id, 1.5), cursor_of("c", 1, 1),
                        cursor_of("c", some_id, True)]
        else:
            # JSON's `true` is no index either (it once reached the query: a 500).
            refused += [cursor_of("d", "1"), cursor_of("d", 1.5), cursor_of("d", some_id),
                        cursor_of("d", True)]
        for cursor in refused:
            response = api.client.get(
                f"{API}{listing.path}", params={"cursor": cursor}, headers=headers
            )
            assert response.status_code == 400, (name, cursor, response.text)
            assert response.json() == INVALID_CURSOR, (name, cursor)


@pytest.mark.parametrize("what", ["collection", "document", "operation"])
def test_rows_not_the_callers_are_404_naming_only_the_id(api: Api, what: str) -> None:
    owner, intruder = user_headers(api), user_headers(api)
    _, ids = make_listings(api, owner)
    url = f"{API}/{what}s/{{}}"
    assert api.client.get(url.format(ids[what]), headers=owner).status_code == 200
    for headers, raw in (
        (intruder, ids[what]),  # someone else's
        (intruder, ids[what].replace("-", "").upper()),  # the same, written differently
        (owner, "0190d1c6-0000-7000-8000-000000000000"),  # nobody's
        (owner, "not-an-id"),  # not an id at all
    ):
        response = api.client.get(url.format(raw), headers=headers)
        assert response.status_code == 404, (raw, response.text)
        assert response.json() == {
            "error": f"{what}_not_found", "detail": f"{what} {raw} not found"
        }

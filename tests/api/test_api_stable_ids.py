"""Stable chunk ids through the API: listed and exported as `id`, the same after a re-run with
the same configuration, other under another configuration."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from api_helpers import API, Api, create_collection, user_headers
from operation_helpers import start, upload, wait_finished

from chunkyard.core.stable_ids import stable_chunk_ids
from chunkyard.storage.repositories import config_hash_for

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SMALL = {"strategy": "recursive", "params": {"chunk_size": 64}}
LARGE = {"strategy": "recursive", "params": {"chunk_size": 128}}


def chunks_of(api: Api, headers: dict[str, str], document_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"{API}/documents/{document_id}/chunks",
                              params={"limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def run(api: Api, headers: dict[str, str], collection_id: str, **body: Any) -> None:
    final = wait_finished(api, headers, start(api, headers, collection_id, **body)["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final


def test_ids_are_stable_across_runs_and_follow_the_rule(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config=SMALL)
    data = (CORPUS / "prose.txt").read_bytes() + b"\n\n" + api.backend.encode() * 3
    (document,) = upload(api, headers, collection["id"], [("prose.txt", data)])
    run(api, headers, collection["id"])
    first = chunks_of(api, headers, document["id"])
    assert len(first) > 10

    # The rule: document, configuration hash (as stored by the run), text, occurrence.
    detail = api.client.get(f"{API}/collections/{collection['id']}", headers=headers).json()
    config_hash = config_hash_for(detail["config"])
    assert [c["id"] for c in first] == stable_chunk_ids(
        uuid.UUID(document["id"]), config_hash, [c["text"] for c in first])

    run(api, headers, collection["id"], config=LARGE)
    other = chunks_of(api, headers, document["id"])
    assert not {c["id"] for c in other} & {c["id"] for c in first}

    run(api, headers, collection["id"])  # back to the first configuration: the same ids
    assert chunks_of(api, headers, document["id"]) == first

    lines = [json.loads(line) for line in api.client.get(
        f"{API}/collections/{collection['id']}/export", headers=headers).text.splitlines()]
    assert [line["id"] for line in lines] == [c["id"] for c in first]

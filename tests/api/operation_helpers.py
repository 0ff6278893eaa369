"""Factories for tests that run operations: files to upload, upload, start, wait."""

from __future__ import annotations

import time
import uuid
from typing import Any

from api_helpers import API, Api

OPERATION_FIELDS = {
    "id", "kind", "status", "documents_total", "documents_done", "documents_failed",
    "chunks_created", "error", "created_at", "finished_at",
}
FINISHED = {"completed", "failed", "cancelled"}
CORRUPT_PDF = b"%PDF-1.4\n" + b"this is not a real pdf body " * 20


def text_file(label: str, paragraphs: int = 12) -> bytes:
    return "\n\n".join(
        f"{label} paragraph {i}: words about chunking and retrieval {uuid.uuid4().hex}. "
        "Another sentence follows here, so there is something to split."
        for i in range(paragraphs)
    ).encode()


def upload(
    api: Api, headers: dict[str, str], collection_id: str, files: list[tuple[str, bytes]]
) -> list[dict[str, Any]]:
    response = api.client.post(
        f"{API}/collections/{collection_id}/documents",
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        headers=headers,
    )
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def start(
    api: Api, headers: dict[str, str], collection_id: str, **body: Any
) -> dict[str, Any]:
    response = api.client.post(
        f"{API}/collections/{collection_id}/operations", json=body, headers=headers
    )
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    assert set(result) == OPERATION_FIELDS
    return result


def wait_finished(
    api: Api, headers: dict[str, str], operation_id: str, timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(f"{API}/operations/{operation_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in FINISHED:
            return body
        assert time.monotonic() < deadline, f"operation still {body['status']}: {body}"
        time.sleep(0.05)


def finished_evaluation(api: Api, headers: dict[str, str], collection_id: str) -> str:
    """A completed evaluation of the collection's questions (one configuration, k 1)."""
    response = api.client.post(
        f"{API}/collections/{collection_id}/evaluations", headers=headers,
        json={"configs": [{"strategy": "recursive", "params": {}}], "k": 1})
    assert response.status_code == 202, response.text
    evaluation: str = response.json()["id"]
    assert wait_finished(api, headers, evaluation)["status"] == "completed"
    return evaluation

"""Preview and compare of a stored document (`document_id`): exactly the chunks an operation
stores, per-user caching (in process and in Redis), exactly one of `text` and `document_id`,
isolation between users, files that cannot be read."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from api_helpers import API, Api, assert_error, create_collection, new_username, user_headers
from fastapi.testclient import TestClient
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished

from chunkyard.api.app import create_app
from chunkyard.chunking import router as chunking_routes
from chunkyard.chunking.pool import ChunkingPool
from chunkyard.chunking.work import PreviewResult
from chunkyard.kit.deps import app_service
from chunkyard.settings import Settings
from recommendation import assert_recommends_the_best

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
REDIS_URL = "redis://127.0.0.1:6379/0"
SPAN_FIELDS = ("index", "text", "start", "end", "tokens", "metadata")
CONFIGS = [
    {"strategy": "markdown", "params": {"chunk_size": 48}},
    {"strategy": "hierarchical", "params": {"chunk_size": 64}},
]


def unique(data: bytes) -> bytes:
    """The file with a unique tail, so no other test's cached preview can match it."""
    return data + f"\n\n{uuid.uuid4().hex}\n".encode()


def corpus_files() -> list[tuple[str, bytes]]:
    # HTML, PDF and DOCX are converted: their chunks index the extracted text, not the file.
    files = [("guide.md", unique((CORPUS / "guide.md").read_bytes())),
             ("unicode.txt", unique((CORPUS / "unicode.txt").read_bytes())),
             ("page.html", unique((CORPUS / "page.html").read_bytes()))]
    files += [(name, (CORPUS / name).read_bytes()) for name in ("report.pdf", "memo.docx")]
    return files


def post(api: Api, path: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(f"{API}{path}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def stored(api: Api, headers: dict[str, str], document_id: str) -> list[dict[str, Any]]:
    response = api.client.get(
        f"{API}/documents/{document_id}/chunks", params={"limit": 1000}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [{k: c[k] for k in SPAN_FIELDS} for c in response.json()["items"]]


@pytest.mark.parametrize("config", CONFIGS, ids=[c["strategy"] for c in CONFIGS])
def test_a_document_preview_is_exactly_what_an_operation_stores(
    api: Api, config: dict[str, Any]
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    documents = upload(api, headers, collection["id"], corpus_files())
    final = wait_finished(api, headers, start(api, headers, collection["id"], config=config)["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    for document in documents:
        chunks = stored(api, headers, document["id"])
        assert chunks
        preview = post(api, "/preview", headers, {"document_id": document["id"], **config})
        assert preview["chunks"] == chunks, document["filename"]
        assert preview["total_chunks"] == preview["metrics"]["chunk_count"] == len(chunks)
        assert preview["cached"] is False
        # Compare runs the same extraction and strategies.
        other = {"strategy": "character", "params": {"chunk_size": 48}}
        compared = post(api, "/compare", headers, {
            "document_id": document["id"], "configs": [config, other], "max_chunks": None,
        })
        assert compared["results"][0]["chunks"] == chunks
        assert compared["results"][0]["metrics"]["chunk_count"] == len(chunks)
        assert_recommends_the_best(compared)


def test_a_text_file_previews_as_its_text_and_compares_alike(api: Api) -> None:
    # A .txt file's extracted text is the file decoded, with no structure found in it: its
    # document preview equals the preview of its text. (A markdown file's extractor also
    # finds headings, which strategies use, so its chunks may differ from a raw text's.)
    headers = user_headers(api)
    collection = create_collection(api, headers)
    data = (CORPUS / "unicode.txt").read_bytes() + text_file("prose", paragraphs=20)
    (document,) = upload(api, headers, collection["id"], [("unicode.txt", data)])
    text = data.decode("utf-8")
    body = {"strategy": "recursive", "params": {"chunk_size": 24}}
    by_document = post(api, "/preview", headers, {"document_id": document["id"], **body})
    by_text = post(api, "/preview", headers, {"text": text, "filename": "unicode.txt", **body})
    assert by_document["chunks"] == by_text["chunks"]
    assert len(by_document["chunks"]) > 20
    for chunk in by_document["chunks"]:
        assert chunk["text"] == text[chunk["start"]:chunk["end"]]
    configs = [body, {"strategy": "character", "params": {"chunk_size": 24}}]
    compared_document = post(api, "/compare", headers,
                             {"document_id": document["id"], "configs": configs})
    compared_text = post(api, "/compare", headers,
                         {"text": text, "filename": "unicode.txt", "configs": configs})
    for a, b in zip(compared_document["results"], compared_text["results"], strict=True):
        assert a["chunks"] == b["chunks"] and len(a["chunks"]) == 20  # the default max_chunks
        assert a["metrics"]["chunk_count"] == b["metrics"]["chunk_count"]
    assert compared_document["results"][0]["chunks"] == by_document["chunks"][:20]


TS_SOURCE = "\n".join(
    f"export function step{i}(input: number): number {{\n"
    f"  const doubled = input * {i};\n  return doubled + {i};\n}}\n"
    for i in range(8)
)
NAMED_LIKE_FILES = [
    ("d.mts", TS_SOURCE),
    ("e.cts", TS_SOURCE.replace("step", "stage")),
    ("Dockerfile", "".join(f"FROM base{i}\nRUN make step{i} && make check{i}\n\n"
                           for i in range(12))),
    ("q.toml", "".join(f"[section{i}]\nname = \"value {i}\"\nlist = [1, 2, {i}]\n\n"
                       for i in range(12))),
    ("notes.md", "Title\n=====\n\n" + "".join(f"## Part {i}\n\nSome words about part {i}, "
                                                "enough to need a split.\n\n"
                                                for i in range(10))),
]


@pytest.mark.parametrize("strategy", ["recursive", "hybrid"])
def test_pasted_text_named_like_a_file_chunks_like_the_stored_file(
    api: Api, strategy: str
) -> None:
    # Once, d.mts and e.cts were TypeScript in a job and plain text in a preview (11 vs 12
    # chunks at chunk_size=48): two tables of file kinds disagreed.
    headers = user_headers(api)
    collection = create_collection(api, headers)
    files = [(name, text.encode()) for name, text in NAMED_LIKE_FILES]
    documents = upload(api, headers, collection["id"], files)
    config = {"strategy": strategy, "params": {"chunk_size": 48}}
    final = wait_finished(api, headers, start(api, headers, collection["id"], config=config)["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    for document, (name, text) in zip(documents, NAMED_LIKE_FILES, strict=True):
        assert document["filename"] == name
        chunks = stored(api, headers, document["id"])
        assert len(chunks) > 3, name
        pasted = post(api, "/preview", headers, {"text": text, "filename": name, **config})
        assert pasted["chunks"] == chunks, name
        compared = post(api, "/compare", headers, {
            "text": text, "filename": name, "max_chunks": None,
            "configs": [config, {"strategy": "character", "params": {"chunk_size": 48}}],
        })
        assert compared["results"][0]["chunks"] == chunks, name


def test_document_previews_are_cached_per_user(api: Api) -> None:
    alice, bob = user_headers(api), user_headers(api)
    data = unique(text_file("cached", paragraphs=30))
    ids = []
    for headers in (alice, bob):  # the same content in each user's own collection
        collection = create_collection(api, headers)
        (document,) = upload(api, headers, collection["id"], [("notes.txt", data)])
        ids.append(document["id"])
    body = {"params": {"chunk_size": 32}}
    first = post(api, "/preview", alice, {"document_id": ids[0], **body})
    assert first["cached"] is False
    again = post(api, "/preview", alice, {"document_id": ids[0], **body, "max_chunks": 2})
    assert again["cached"] is True
    assert again["chunks"] == first["chunks"][:2]
    assert again["total_chunks"] == first["total_chunks"] and again["metrics"] == first["metrics"]
    # Canonical parameters share an entry; another configuration does not.
    spelled_out = {"strategy": "recursive", "params": {"chunk_size": 32, "chunk_overlap": 0}}
    assert post(api, "/preview", alice, {"document_id": ids[0], **spelled_out})["cached"] is True
    other = post(api, "/preview", alice, {"document_id": ids[0], "params": {"chunk_size": 64}})
    assert other["cached"] is False
    # A text with the same characters is another entry (a text is not a stored file).
    assert post(api, "/preview", alice, {"text": data.decode(), **body})["cached"] is False
    # The same content is not cached for another user.
    assert post(api, "/preview", bob, {"document_id": ids[1], **body})["cached"] is False


@pytest.mark.parametrize("path", ["/preview", "/compare"])
def test_exactly_one_of_text_and_document_id(api: Api, path: str) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (document,) = upload(api, headers, collection["id"], [("a.txt", text_file("one"))])
    extra: dict[str, Any] = {}
    if path == "/compare":
        extra["configs"] = [{"strategy": "recursive"}, {"strategy": "character"}]
    for body, words in (
        ({"text": "some text", "document_id": document["id"]}, ("text", "document_id")),
        ({}, ("text", "document_id")),
        ({"text": None, "document_id": None}, ("text", "document_id")),
        ({"document_id": document["id"], "filename": "a.md"}, ("filename",)),
        ({"document_id": "not-a-uuid"}, ("document_id",)),
        ({"document_id": 42}, ("document_id",)),
    ):
        response = api.client.post(f"{API}{path}", json={**body, **extra}, headers=headers)
        detail = assert_error(response, 422, "validation_error")["detail"]
        assert all(word in detail for word in words), detail


@pytest.mark.parametrize("path", ["/preview", "/compare"])
def test_another_users_document_is_not_found(api: Api, path: str) -> None:
    owner, other = user_headers(api), user_headers(api)
    collection = create_collection(api, owner)
    (document,) = upload(api, owner, collection["id"], [("a.txt", text_file("private"))])
    extra: dict[str, Any] = {}
    if path == "/compare":
        extra["configs"] = [{"strategy": "recursive"}, {"strategy": "character"}]
    post(api, path, owner, {"document_id": document["id"], **extra})
    for headers, document_id in ((other, document["id"]), (owner, str(uuid.uuid4()))):
        response = api.client.post(
            f"{API}{path}", json={"document_id": document_id, **extra}, headers=headers
        )
        body = assert_error(response, 404, "document_not_found")
        assert "private" not in body["detail"]
    # A bad configuration is still named, before the document is looked up.
    bad = api.client.post(
        f"{API}/preview", json={"document_id": document["id"], "params": {"chunk_size": 1}},
        headers=other,
    )
    assert "chunk_size" in assert_error(bad, 422, "invalid_config")["detail"]


def test_documents_that_cannot_be_read_are_clear_errors(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    broken, lost = upload(api, headers, collection["id"], [
        ("broken.pdf", CORRUPT_PDF + uuid.uuid4().hex.encode()),
        ("lost.txt", text_file("lost")),
    ])
    response = api.client.post(
        f"{API}/preview", json={"document_id": broken["id"]}, headers=headers
    )
    # The same error, naming the document and its file, as its text view and its job give.
    detail = assert_error(response, 422, "extraction_failed")["detail"]
    assert broken["id"] in detail and "broken.pdf" in detail
    sha = lost["content_sha256"]
    (api.settings.data_dir / "blobs" / sha[:2] / sha).unlink()
    for path, extra in (("/preview", {}), ("/compare", {"configs": [{}, {}]})):
        response = api.client.post(
            f"{API}{path}", json={"document_id": lost["id"], **extra}, headers=headers
        )
        assert lost["id"] in assert_error(response, 409, "document_unreadable")["detail"]


def test_document_previews_run_off_the_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()

    def slow_preview(*args: Any) -> PreviewResult:
        started.set()
        time.sleep(1.5)  # blocking: would stall every request if run on the loop
        return PreviewResult([], {
            "chunk_count": 0, "tokens_mean": 0.0, "tokens_min": 0, "tokens_max": 0,
            "tokens_p95": 0, "small_share": 0.0, "mid_sentence_share": 0.0, "time_ms": 0.0,
        })

    monkeypatch.setattr(chunking_routes, "run_document_preview", slow_preview)
    # The stand-in lives in this process, so the pool runs in threads here (worker processes
    # are off the loop by construction: tests/api/test_api_preview_pool.py).
    app: Any = api.client.app
    monkeypatch.setitem(app.dependency_overrides, app_service("chunking_pool"),
                        lambda: ChunkingPool(app.state.services.chunking_limiter,
                                             processes=False))
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (document,) = upload(api, headers, collection["id"], [("slow.txt", text_file("slow"))])
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(api.client.post(
        f"{API}/preview", json={"document_id": document["id"]}, headers=headers
    ).status_code))
    worker.start()
    assert started.wait(5)
    before = time.perf_counter()
    assert api.client.get("/healthz").status_code == 200
    assert time.perf_counter() - before < 1.0
    worker.join(10)
    assert results == [200]


# -- the Redis cache ----------------------------------------------------------------------------


@pytest.fixture
def redis_api(sqlite_settings: Settings) -> Iterator[Api]:
    """An app of its own with Redis configured (SQLite database)."""
    settings = sqlite_settings.model_copy(update={"redis_url": REDIS_URL})
    with TestClient(create_app(settings)) as client:
        yield Api("sqlite", settings, client)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def user_id(api: Api, headers: dict[str, str]) -> str:
    response = api.client.get(f"{API}/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_previews_are_cached_in_redis_per_user(redis_api: Api, redis_client: redis.Redis) -> None:
    api = redis_api
    alice, bob = user_headers(api), user_headers(api)
    alice_id, bob_id = user_id(api, alice), user_id(api, bob)
    data = unique(text_file("redis", paragraphs=20))
    ids = []
    for headers in (alice, bob):
        collection = create_collection(api, headers)
        (document,) = upload(api, headers, collection["id"], [("notes.txt", data)])
        ids.append(document["id"])
    try:
        body = {"strategy": "recursive", "params": {"chunk_size": 32}}
        first = post(api, "/preview", alice, {"document_id": ids[0], **body})
        assert first["cached"] is False
        keys = redis_client.keys(f"chunkyard:preview:{alice_id}:*")
        assert len(keys) == 1
        assert 0 < redis_client.ttl(keys[0]) <= 3600
        again = post(api, "/preview", alice, {"document_id": ids[0], **body})
        assert again["cached"] is True
        assert again["chunks"] == first["chunks"] and again["metrics"] == first["metrics"]
        # Another user with the same content does not see Alice's entry.
        assert post(api, "/preview", bob, {"document_id": ids[1], **body})["cached"] is False
        assert len(redis_client.keys(f"chunkyard:preview:{bob_id}:*")) == 1
        # Texts are cached in Redis too.
        text = {"text": f"A text for Redis {uuid.uuid4().hex}. " * 40}
        assert post(api, "/preview", alice, text)["cached"] is False
        assert post(api, "/preview", alice, text)["cached"] is True
        assert len(redis_client.keys(f"chunkyard:preview:{alice_id}:*")) == 2
        # An entry Redis cannot give back (here: garbage) is recomputed, not an error.
        for key in redis_client.keys(f"chunkyard:preview:{alice_id}:*"):
            redis_client.set(key, b"not json", ex=60)
        recomputed = post(api, "/preview", alice, {"document_id": ids[0], **body})
        assert recomputed["cached"] is False and recomputed["chunks"] == first["chunks"]
    finally:
        for owner in (alice_id, bob_id):
            for key in redis_client.keys(f"chunkyard:preview:{owner}:*"):
                redis_client.delete(key)


def test_a_redis_outage_does_not_fail_previews(
    sqlite_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sqlite_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(settings)) as client:
        api = Api("sqlite", settings, client)
        headers = user_headers(api)
        collection = create_collection(api, headers, new_username("outage"))
        (document,) = upload(api, headers, collection["id"], [("a.txt", text_file("outage"))])
        for body in ({"document_id": document["id"]}, {"text": "Redis is down. " * 50}):
            for _ in range(2):
                result = post(api, "/preview", headers, body)
                assert result["cached"] is False and result["chunks"]
    assert any("preview cache" in r.getMessage() for r in caplog.records)

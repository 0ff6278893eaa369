"""Evaluations: configurations scored by retrieval on a collection's own questions, as an
asynchronous operation (same queue, progress on the operation's WebSocket, cancel).

The scores are checked against the library path computed here, independently of the job:
chunk each shared corpus with `chunkyard.chunk_text`, embed with the same model, retrieve the
top k by cosine over all the corpora's chunks, score by `evaluation.scoring` (whose rule
`tests/evaluation/` checks on hand-made cases) and average."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_helpers import API, Api, assert_error, create_collection, every_item, user_headers
from operation_helpers import FINISHED, start, upload, wait_finished
from starlette.websockets import WebSocketDisconnect

import chunkyard
from chunkyard.embedding import get_embedder
from chunkyard.evaluation.scoring import score

EVALDATA = Path(__file__).resolve().parents[2] / "bench" / "evaldata" / "chroma-chunking"
CONFIGS = [
    {"strategy": "recursive", "params": {"chunk_size": 256, "chunk_overlap": 0,
                                         "tokenizer": "cl100k"}},
    {"strategy": "character", "params": {"chunk_size": 400, "chunk_overlap": 0,
                                         "tokenizer": "cl100k"}},
]
TEXT = ("# Guide\n\nChunking splits documents into pieces. "
        "Retrieval finds the pieces that answer a question.\n\nThe end.\n")


def _corpora() -> dict[str, str]:
    out = {}
    for path in sorted((EVALDATA / "corpora").glob("*.md")):
        with path.open(encoding="utf-8", newline="") as f:
            out[path.name] = f.read()
    return out


def _questions() -> list[tuple[str, str, list[tuple[int, int]]]]:
    with (EVALDATA / "questions.csv").open(encoding="utf-8", newline="") as f:
        return [(r["question"], r["corpus_id"],
                 [(int(x["start_index"]), int(x["end_index"]))
                  for x in json.loads(r["references"])])
                for r in csv.DictReader(f)]


def library_scores(config: dict[str, Any], k: int) -> dict[str, float]:
    """Mean recall, precision and IoU of `config` on the shared set, without the service."""
    corpora = _corpora()
    spans, texts, tokens = [], [], 0
    for name, text in corpora.items():
        for chunk in chunkyard.chunk_text(text, config["strategy"], filename=name,
                                          **config["params"]):
            spans.append((name, chunk.start, chunk.end))
            texts.append(chunk.text)
            tokens += chunk.tokens
    embedder = get_embedder("static")
    chunks = np.asarray(embedder.embed(texts), dtype=np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    questions = _questions()
    queries = np.asarray(embedder.embed([q for q, _, _ in questions]), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    order = np.argsort(-(queries @ chunks.T), axis=1, kind="stable")[:, :k]
    results = [score([(f"{corpus}.md", s, e) for s, e in refs], [spans[j] for j in order[i]])
               for i, (_, corpus, refs) in enumerate(questions)]
    n = len(results)
    return {"recall": sum(r.recall for r in results) / n,
            "precision": sum(r.precision for r in results) / n,
            "iou": sum(r.iou for r in results) / n, "chunks": len(spans), "tokens": tokens}


def _shared_collection(api: Api) -> tuple[dict[str, str], str, dict[str, str]]:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    documents = upload(api, headers, collection, [
        (p.name, p.read_bytes()) for p in sorted((EVALDATA / "corpora").glob("*.md"))])
    imported = api.client.post(
        f"{API}/collections/{collection}/questions/import", headers=headers,
        files={"file": ("questions.csv", (EVALDATA / "questions.csv").read_bytes(),
                        "text/csv")})
    assert imported.status_code == 200, imported.text
    return headers, collection, {d["filename"]: d["id"] for d in documents}


def _evaluate(api: Api, headers: dict[str, str], collection: str, **body: Any) -> Any:
    return api.client.post(f"{API}/collections/{collection}/evaluations", json=body,
                           headers=headers)


def _wait(api: Api, headers: dict[str, str], evaluation: str,
          timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.client.get(f"{API}/evaluations/{evaluation}",
                                              headers=headers).json()
        if body["status"] in FINISHED:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


@pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)
def test_an_evaluation_scores_each_configuration_as_the_library_path_does(api: Api) -> None:
    headers, collection, ids = _shared_collection(api)
    started = _evaluate(api, headers, collection, configs=CONFIGS, k=5)
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "pending" and body["results"] is None
    assert body["documents_total"] == 3 * len(CONFIGS)
    done = _wait(api, headers, body["id"])
    assert done["status"] == "completed", done
    assert done["documents_done"] == 6 and done["documents_failed"] == 0
    assert done["questions"] == 276
    for config, result in zip(CONFIGS, done["results"], strict=True):
        expected = library_scores(config, 5)
        assert result["strategy"] == config["strategy"]
        assert result["chunks"] == expected["chunks"]
        assert result["tokens"] == expected["tokens"]
        for measure in ("recall", "precision", "iou"):
            assert round(result[measure], 3) == round(expected[measure], 3), measure
    ious = [r["iou"] for r in done["results"]]
    recalls = [r["recall"] for r in done["results"]]
    assert done["best"] == {"iou": ious.index(max(ious)), "recall": recalls.index(max(recalls))}

    # Per question: every question once, each configuration's k chunks, best first.
    items = every_item(api, f"{API}/evaluations/{body['id']}/questions", headers)
    assert len(items) == 276
    first = items[0]
    assert len(first["configs"]) == len(CONFIGS)
    retrieved = first["configs"][0]["retrieved"]
    assert len(retrieved) == 5
    assert [r["similarity"] for r in retrieved] == sorted(
        (r["similarity"] for r in retrieved), reverse=True)
    assert {r["document_id"] for r in retrieved} <= set(ids.values())
    mean_iou = sum(q["configs"][0]["iou"] for q in items) / len(items)
    assert mean_iou == pytest.approx(done["results"][0]["iou"])

    # It stored no chunks and chunked nothing of the collection's own.
    chunks = api.client.get(f"{API}/collections/{collection}/chunks", headers=headers)
    assert chunks.status_code == 200 and chunks.json()["items"] == []
    listed = api.client.get(f"{API}/collections/{collection}/evaluations", headers=headers)
    assert [e["id"] for e in listed.json()["items"]] == [body["id"]]
    operation = api.client.get(f"{API}/operations/{body['id']}", headers=headers).json()
    assert operation["kind"] == "evaluation" and operation["status"] == "completed"


def _small_collection(api: Api) -> tuple[dict[str, str], str, str]:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    (document,) = upload(api, headers, collection, [("guide.md", TEXT.encode())])
    start_at = TEXT.index("Retrieval")
    created = api.client.post(
        f"{API}/collections/{collection}/questions", headers=headers,
        json={"question": "What does retrieval find?",
              "references": [{"document_id": document["id"], "start": start_at,
                              "end": start_at + 40}]})
    assert created.status_code == 201, created.text
    return headers, collection, document["id"]


def test_an_evaluation_reports_progress_on_its_operation_websocket(api: Api) -> None:
    headers, collection, _ = _small_collection(api)
    body = _evaluate(api, headers, collection, configs=CONFIGS, k=2).json()
    events: list[dict[str, Any]] = []
    with api.client.websocket_connect(f"{API}/operations/{body['id']}/ws",
                                      headers=headers) as ws:
        while True:
            try:
                events.append(ws.receive_json())
            except WebSocketDisconnect:
                break
    assert events[-1]["type"] == "completed"
    final = events[-1]["operation"]
    assert final["kind"] == "evaluation"
    assert final["documents_done"] == final["documents_total"] == 2
    done = _wait(api, headers, body["id"])
    assert [r["chunks"] for r in done["results"]] == [
        len(chunkyard.chunk_text(TEXT, c["strategy"], filename="guide.md", **c["params"]))
        for c in CONFIGS]
    # One relevant chunk among one document's: found at once.
    assert all(r["recall"] > 0 for r in done["results"])


def test_a_cancelled_evaluation_stores_no_scores(api: Api) -> None:
    # The shared set with six configurations takes seconds: the cancel comes first.
    headers, collection, _ = _shared_collection(api)
    body = _evaluate(api, headers, collection, configs=CONFIGS * 3).json()
    cancelled = api.client.post(f"{API}/operations/{body['id']}/cancel", headers=headers)
    if cancelled.status_code == 409:  # it finished first on a fast machine
        pytest.fail("the evaluation finished before it could be cancelled")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    final = wait_finished(api, headers, body["id"])
    assert final["status"] == "cancelled"
    time.sleep(0.5)  # a job that was running stops at its next document
    again = api.client.get(f"{API}/evaluations/{body['id']}", headers=headers).json()
    assert again["status"] == "cancelled" and again["results"] is None
    page = api.client.get(f"{API}/evaluations/{body['id']}/questions", headers=headers)
    assert page.json() == {"items": [], "next_cursor": None}


def test_an_evaluation_does_not_block_chunking_the_collection(api: Api) -> None:
    headers, collection, _ = _small_collection(api)
    evaluation = _evaluate(api, headers, collection, configs=CONFIGS).json()
    operation = start(api, headers, collection)
    assert wait_finished(api, headers, operation["id"])["status"] == "completed"
    assert _wait(api, headers, evaluation["id"])["status"] == "completed"


def test_bad_evaluations_are_refused_naming_the_field(api: Api) -> None:
    headers, collection, _ = _small_collection(api)
    bad_config = _evaluate(api, headers, collection, configs=[
        CONFIGS[0], {"strategy": "recursive", "params": {"chunk_size": -3}}])
    assert "configs[1].params" in assert_error(bad_config, 422, "invalid_config")["detail"]
    assert_error(_evaluate(api, headers, collection, configs=CONFIGS * 4), 422)
    assert_error(_evaluate(api, headers, collection, configs=[]), 422)
    assert_error(_evaluate(api, headers, collection, configs=CONFIGS, k=0), 422)
    assert_error(_evaluate(api, headers, collection, configs=CONFIGS,
                           embedding_model="word-overlap"), 422)

    empty = create_collection(api, headers)["id"]
    no_questions = _evaluate(api, headers, empty, configs=CONFIGS)
    assert "no evaluation questions" in assert_error(no_questions, 422, "no_questions")["detail"]


def test_evaluations_are_their_owners_alone(api: Api) -> None:
    headers, collection, _ = _small_collection(api)
    evaluation = _evaluate(api, headers, collection, configs=CONFIGS).json()
    stranger = user_headers(api)
    assert_error(_evaluate(api, stranger, collection, configs=CONFIGS), 404,
                 "collection_not_found")
    for url in (f"{API}/evaluations/{evaluation['id']}",
                f"{API}/evaluations/{evaluation['id']}/questions"):
        assert_error(api.client.get(url, headers=stranger), 404, "evaluation_not_found")
    assert_error(api.client.get(f"{API}/collections/{collection}/evaluations",
                                headers=stranger), 404, "collection_not_found")
    _wait(api, headers, evaluation["id"])
    # A chunking operation's id is not an evaluation's.
    operation = start(api, headers, collection)
    assert_error(api.client.get(f"{API}/evaluations/{operation['id']}", headers=headers), 404,
                 "evaluation_not_found")
    wait_finished(api, headers, operation["id"])


def test_a_document_that_cannot_be_read_fails_alone_in_its_configuration(api: Api) -> None:
    headers, collection, document = _small_collection(api)
    other = TEXT.replace("Guide", "Second guide")
    (second,) = upload(api, headers, collection, [("second.md", other.encode())])
    at = other.index("Retrieval")
    created = api.client.post(
        f"{API}/collections/{collection}/questions", headers=headers,
        json={"question": "What finds the pieces?",
              "references": [{"document_id": second["id"], "start": at, "end": at + 30}]})
    assert created.status_code == 201, created.text
    # The second file's bytes go missing (a disk error, a restore that left it out).
    blob = api.settings.data_dir / "blobs" / second["content_sha256"][:2] / second[
        "content_sha256"]
    blob.unlink()

    done = _wait(api, headers, _evaluate(api, headers, collection, configs=CONFIGS).json()["id"])
    assert done["status"] == "completed", done
    assert done["documents_done"] == 2 and done["documents_failed"] == 2
    assert "document chunkings failed" in done["error"]
    for result in done["results"]:
        assert result["documents_failed"] == 1
        assert result["error"].startswith("1 document could not be chunked: second.md: ")
        assert result["chunks"] > 0  # the first document's
    assert done["questions"] == 2
    scores = api.client.get(f"{API}/evaluations/{done['id']}/questions",
                            headers=headers).json()["items"]
    by_question = {q["question"]: q for q in scores}
    # The unreadable document's question retrieves nothing of it.
    assert all(c["recall"] == 0 for c in by_question["What finds the pieces?"]["configs"])
    assert document in {r["document_id"] for c in by_question["What does retrieval find?"][
        "configs"] for r in c["retrieved"]}


def test_a_collections_last_operation_is_its_last_chunking_not_an_evaluation(api: Api) -> None:
    headers, collection, _ = _small_collection(api)
    operation = start(api, headers, collection)
    wait_finished(api, headers, operation["id"])
    evaluation = _evaluate(api, headers, collection, configs=CONFIGS).json()
    _wait(api, headers, evaluation["id"])
    one = api.client.get(f"{API}/collections/{collection}", headers=headers).json()
    assert one["last_operation"]["id"] == operation["id"]
    listed = api.client.get(f"{API}/collections", headers=headers).json()["items"]
    assert [c["last_operation"]["id"] for c in listed if c["id"] == collection] == [
        operation["id"]]

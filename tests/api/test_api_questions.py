"""Evaluation questions: CRUD owner-scoped like everything else, references checked against the
document's extracted text, and CSV import/export in the shared evaluation set's format (the 276
questions of bench/evaldata/chroma-chunking (the shared set) round-trip exactly)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, every_item, user_headers
from operation_helpers import upload

EVALDATA = Path(__file__).resolve().parents[2] / "bench" / "evaldata" / "chroma-chunking"
TEXT = ("# Guide\n\nChunking splits documents into pieces. "
        "Retrieval finds the pieces that answer a question.\n\nThe end.\n")


def _setup(api: Api) -> tuple[dict[str, str], str, str]:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    (document,) = upload(api, headers, collection, [("guide.md", TEXT.encode())])
    return headers, collection, document["id"]


def _create(api: Api, headers: dict[str, str], collection: str, **body: Any) -> Any:
    return api.client.post(f"{API}/collections/{collection}/questions", json=body,
                           headers=headers)


def _all(api: Api, headers: dict[str, str], collection: str) -> list[dict[str, Any]]:
    return every_item(api, f"{API}/collections/{collection}/questions", headers)


@pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)
def test_a_question_is_created_read_listed_updated_and_deleted(api: Api) -> None:
    headers, collection, document = _setup(api)
    start = TEXT.index("Retrieval")
    end = TEXT.index("question.") + len("question.")
    created = _create(api, headers, collection, question="  What does retrieval find?  ",
                      references=[{"document_id": document, "start": start, "end": end}])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["question"] == "What does retrieval find?"
    assert body["collection_id"] == collection
    assert body["references"] == [{"document_id": document, "start": start, "end": end}]
    one = api.client.get(f"{API}/questions/{body['id']}", headers=headers)
    assert one.status_code == 200 and one.json() == body
    assert _all(api, headers, collection) == [body]

    patched = api.client.patch(
        f"{API}/questions/{body['id']}", headers=headers,
        json={"references": [{"document_id": document, "start": 0, "end": 7},
                             {"document_id": document, "start": start, "end": end}]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["question"] == "What does retrieval find?"
    assert [(r["start"], r["end"]) for r in patched.json()["references"]] == [
        (0, 7), (start, end)]
    assert patched.json()["updated_at"] >= body["updated_at"]
    renamed = api.client.patch(f"{API}/questions/{body['id']}", headers=headers,
                               json={"question": "What is found?"})
    assert renamed.json()["question"] == "What is found?"
    assert len(renamed.json()["references"]) == 2

    assert api.client.delete(f"{API}/questions/{body['id']}", headers=headers).status_code == 204
    assert_error(api.client.get(f"{API}/questions/{body['id']}", headers=headers), 404,
                 "question_not_found")
    assert _all(api, headers, collection) == []


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_references_must_lie_in_a_document_of_the_collection(api: Api) -> None:
    headers, collection, document = _setup(api)
    other = create_collection(api, headers)["id"]
    (elsewhere,) = upload(api, headers, other, [("other.md", b"# Other\n\nElsewhere.\n")])

    def refused(references: list[dict[str, Any]], status: int = 422) -> dict[str, Any]:
        response = _create(api, headers, collection, question="Where?", references=references)
        return assert_error(response, status)

    past = refused([{"document_id": document, "start": 0, "end": len(TEXT) + 1}])
    assert "past the end of guide.md" in past["detail"] and str(len(TEXT)) in past["detail"]
    foreign = refused([{"document_id": elsewhere["id"], "start": 0, "end": 3}])
    assert "not in this collection" in foreign["detail"]
    refused([{"document_id": document, "start": 5, "end": 5}])
    refused([{"document_id": document, "start": -1, "end": 5}])
    refused([])
    blank = _create(api, headers, collection, question="   ",
                    references=[{"document_id": document, "start": 0, "end": 3}])
    assert_error(blank, 422)
    # A reference exactly to the end is inside.
    whole = _create(api, headers, collection, question="All of it?",
                    references=[{"document_id": document, "start": 0, "end": len(TEXT)}])
    assert whole.status_code == 201, whole.text
    assert len(_all(api, headers, collection)) == 1


@pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)
def test_questions_are_the_owners_only(api: Api) -> None:
    headers, collection, document = _setup(api)
    created = _create(api, headers, collection, question="Mine?",
                      references=[{"document_id": document, "start": 0, "end": 7}]).json()
    stranger = user_headers(api)
    qid = created["id"]
    for response in (
        api.client.get(f"{API}/questions/{qid}", headers=stranger),
        api.client.patch(f"{API}/questions/{qid}", json={"question": "Theirs?"},
                         headers=stranger),
        api.client.delete(f"{API}/questions/{qid}", headers=stranger),
    ):
        assert_error(response, 404, "question_not_found")
    for response in (
        api.client.get(f"{API}/collections/{collection}/questions", headers=stranger),
        _create(api, stranger, collection, question="Theirs?",
                references=[{"document_id": document, "start": 0, "end": 7}]),
        api.client.get(f"{API}/collections/{collection}/questions/export", headers=stranger),
        api.client.post(f"{API}/collections/{collection}/questions/import", headers=stranger,
                        files={"file": ("q.csv", b"question,references,corpus_id\n")}),
    ):
        assert_error(response, 404, "collection_not_found")
    assert api.client.get(f"{API}/questions/{qid}", headers=headers).json() == created


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_deleting_a_document_takes_its_references_with_it(api: Api) -> None:
    headers, collection, document = _setup(api)
    (second,) = upload(api, headers, collection, [("second.md", b"# Two\n\nSecond text.\n")])
    created = _create(api, headers, collection, question="Where?", references=[
        {"document_id": document, "start": 0, "end": 7},
        {"document_id": second["id"], "start": 0, "end": 5}]).json()
    deleted = api.client.delete(f"{API}/documents/{second['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    left = api.client.get(f"{API}/questions/{created['id']}", headers=headers).json()
    assert left["references"] == [{"document_id": document, "start": 0, "end": 7}]


def _shared_collection(api: Api) -> tuple[dict[str, str], str]:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    upload(api, headers, collection, [(p.name, p.read_bytes())
                                      for p in sorted((EVALDATA / "corpora").glob("*.md"))])
    return headers, collection


def _import(api: Api, headers: dict[str, str], collection: str, data: bytes) -> Any:
    return api.client.post(f"{API}/collections/{collection}/questions/import", headers=headers,
                           files={"file": ("questions.csv", data, "text/csv")})


def _rows(text: str) -> list[tuple[str, str, str]]:
    return [(r["question"], r["corpus_id"], json.dumps(json.loads(r["references"])))
            for r in csv.DictReader(io.StringIO(text))]


@pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)
def test_the_shared_evaluation_set_imports_and_exports_unchanged(api: Api) -> None:
    headers, collection = _shared_collection(api)
    source = (EVALDATA / "questions.csv").read_bytes()
    imported = _import(api, headers, collection, source)
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"imported": 276, "questions": 276}
    questions = _all(api, headers, collection)
    assert len(questions) == 276
    assert sum(len(q["references"]) for q in questions) == 452

    exported = api.client.get(f"{API}/collections/{collection}/questions/export",
                              headers=headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert sorted(_rows(exported.text)) == sorted(_rows(source.decode()))

    # The export imports again, into another collection of the same documents.
    headers2, second = _shared_collection(api)
    again = _import(api, headers2, second, exported.content)
    assert again.json() == {"imported": 276, "questions": 276}


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_a_bad_csv_is_refused_row_by_row_and_stores_nothing(api: Api) -> None:
    headers, collection = _shared_collection(api)
    good = list(csv.DictReader(io.StringIO((EVALDATA / "questions.csv").read_text())))[:3]

    def csv_of(rows: list[dict[str, str]], header: str = "question,references,corpus_id") -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header.split(","), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()

    wrong_content = dict(good[1], references=json.dumps(
        [{**json.loads(good[1]["references"])[0], "content": "not this text"}]))
    unknown = dict(good[2], corpus_id="no_such_corpus")
    body = assert_error(_import(api, headers, collection,
                                csv_of([good[0], wrong_content])), 422, "invalid_csv")
    assert "row 3" in body["detail"] and "content is not the text" in body["detail"]
    body = assert_error(_import(api, headers, collection, csv_of([good[0], unknown])), 422,
                        "invalid_csv")
    assert "row 3" in body["detail"] and "no_such_corpus" in body["detail"]
    bad_json = dict(good[0], references="[{")
    body = assert_error(_import(api, headers, collection, csv_of([bad_json])), 422,
                        "invalid_csv")
    assert "row 2" in body["detail"] and "not JSON" in body["detail"]
    past = dict(good[0], references=json.dumps([{"start_index": 0, "end_index": 10**7}]))
    body = assert_error(_import(api, headers, collection, csv_of([past])), 422, "invalid_csv")
    assert "past the end" in body["detail"]
    body = assert_error(_import(api, headers, collection, csv_of(good, "question,corpus_id")),
                        422, "invalid_csv")
    assert "references" in body["detail"]
    assert_error(_import(api, headers, collection, b"\xff\xfe\x00"), 422, "invalid_csv")
    assert _all(api, headers, collection) == []
    # Without content, offsets alone are enough.
    bare = dict(good[0], references=json.dumps(
        [{k: v for k, v in r.items() if k != "content"}
         for r in json.loads(good[0]["references"])]))
    assert _import(api, headers, collection, csv_of([bare])).json() == {
        "imported": 1, "questions": 1}

"""Schemathesis over /openapi.json as a logged-in user: no 5xx, SPEC's `{error, detail}` body on
every 4xx, and responses that conform to the documented schema.

The schema is the one the running app serves, and every generated request goes through that
same app (`api.client`, lifespan running) with the user's `Authorization` header. Each
operation gets a bounded, derandomized number of positive and negative cases; some of them
carry the user's own collection/document/operation ids in the path, and in bodies real
strategy names, parameters near their bounds and the user's document id, so the handlers
behind real ids and valid configs are fuzzed, not only their 404 and 422; some strings get a
NUL character. Undocumented methods must answer 405 in SPEC's body, and the chunking
operations the fuzzing starts must not fail. Nothing fails inside the Hypothesis run:
findings are collected and reported together at the end, each with the request that caused
it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_helpers import API, Api, create_collection, session_token, user_headers
from fuzz_helpers import (
    Finding,
    Findings,
    excerpt,
    exercise,
    is_error_body,
    wait_idle,
)
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from operation_helpers import finished_evaluation, start, text_file, upload, wait_finished
from schemathesis import GenerationMode

from chunkyard.auth.service import cli_create_api_key

# Hypothesis cases per operation (the explicit examples come on top); more for the bodies
# that configure chunking, where most of the handler logic is.
MAX_EXAMPLES = 20
MAX_EXAMPLES_CHUNKING = 50
CHUNKING = {
    f"POST {API}/preview", f"POST {API}/compare", f"POST {API}/recommend",
    f"POST {API}/collections", f"PATCH {API}/collections/{{collection_id}}",
    f"POST {API}/collections/{{collection_id}}/operations",
}
# Three times in four: for swapping in real values; once in four: for NUL characters.
OFTEN = st.sampled_from([True, True, True, False])
SOMETIMES = st.sampled_from([True, False, False, False])
# Operations that destroy the user's fixtures run last, in this order, so that the others
# see real ids that exist.
RUN_LAST = (
    "POST /api/v1/operations/{operation_id}/cancel",
    "DELETE /api/v1/questions/{question_id}",
    "DELETE /api/v1/documents/{document_id}",
    "DELETE /api/v1/collections/{collection_id}",
    "DELETE /api/v1/api-keys/{key_id}",
    # Ends the session the fuzzing runs with: the very last.
    "POST /api/v1/auth/logout",
)
# Bodies that take exactly one of `text` and `document_id` (a rule the schema cannot say).
ONE_SOURCE = {f"POST {API}/preview", f"POST {API}/compare"}
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
TEXTS = {name: (CORPUS / name).read_text(encoding="utf-8")
         for name in ("guide.md", "sample.py", "page.html", "prose.txt", "unicode.txt")}
@dataclass
class Real:
    """The user's own things, and the strategies with their parameter schemas."""

    collection_id: str
    document_id: str
    operation_id: str
    params_schemas: dict[str, dict[str, Any]]
    key_id: str = ""
    question_id: str = ""
    evaluation_id: str = ""
    # A real `next_cursor` of each list that has a second page, by operation label.
    cursors: dict[str, str] = field(default_factory=dict)

    def for_path(self, names: set[str]) -> dict[str, str]:
        known = {
            "collection_id": self.collection_id,
            "document_id": self.document_id,
            "operation_id": self.operation_id,
            "key_id": self.key_id,
            "question_id": self.question_id,
            "evaluation_id": self.evaluation_id,
        }
        return {name: known[name] for name in names if name in known}


# ---- generation -------------------------------------------------------------------------


def _path_names(operation: Any) -> set[str]:
    return {parameter.name for parameter in operation.path_parameters}


def _schema_types(prop: dict[str, Any]) -> set[str]:
    types = {prop["type"]} if isinstance(prop.get("type"), str) else set()
    for alternative in prop.get("anyOf", []):
        types |= _schema_types(alternative)
    return types


def _bounds(prop: dict[str, Any]) -> tuple[float | None, float | None]:
    for candidate in [prop, *prop.get("anyOf", [])]:
        if "minimum" in candidate or "maximum" in candidate:
            return candidate.get("minimum"), candidate.get("maximum")
    return None, None


def _param_value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one strategy parameter: mostly valid or just past a bound, sometimes junk."""
    lo, hi = _bounds(prop)
    types = _schema_types(prop)
    near: list[st.SearchStrategy[Any]] = []
    if "integer" in types:
        ints = [int(v) + d for v in (lo, hi) if v is not None for d in (-1, 0, 1)]
        near.append(st.sampled_from(ints) if ints else st.integers(-1, 10))
        near.append(st.integers(int(lo or 0), int(hi or 10_000)))
    if "number" in types:
        near.append(st.floats(
            (lo or 0) - 0.5, (hi or 1) + 0.5, allow_nan=False, allow_infinity=False
        ))
    if "string" in types:
        near.append(st.sampled_from(
            [*prop.get("examples", []), "hf:/nonexistent/tokenizer.json", "hf:", "", "x"]
        ))
    if "array" in types:
        near.extend(st.just(v) for v in prop.get("examples", []))
        near.append(st.lists(st.integers(-1, 9000), max_size=4))
    if "boolean" in types:
        near.append(st.booleans())
    junk = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
    if not near:
        return junk
    return st.one_of(st.one_of(near), st.one_of(near), junk)


def _params_for(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    return st.fixed_dictionaries(
        {}, optional={name: _param_value(prop) for name, prop in properties.items()}
    )


def _realize(draw: st.DrawFn, value: Any, real: Real) -> Any:
    """`value` (a generated body) with some of its fields swapped for real values."""
    if isinstance(value, list):
        return [_realize(draw, item, real) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _realize(draw, item, real) for key, item in value.items()}
    if "strategy" in out and draw(OFTEN):
        out["strategy"] = draw(st.sampled_from(sorted(real.params_schemas)))
    name = out.get("strategy")
    if isinstance(name, str) and name in real.params_schemas and draw(OFTEN):
        out["params"] = draw(_params_for(real.params_schemas[name]))
    if "document_id" in out and draw(st.booleans()):
        out["document_id"] = real.document_id
    if "document_ids" in out and draw(st.booleans()):
        out["document_ids"] = [real.document_id]
    return out


def _one_source(draw: st.DrawFn, body: dict[str, Any], real: Real) -> dict[str, Any]:
    """`body` with exactly one of a text (with a fitting file name) or the user's document."""
    out = {k: v for k, v in body.items() if k not in ("text", "document_id", "filename")}
    if draw(st.booleans()):
        return {**out, "document_id": real.document_id}
    name = draw(st.sampled_from(sorted(TEXTS)))
    text = draw(st.one_of(st.just(TEXTS[name]), st.text()))
    return {**out, "text": text, "filename": draw(st.sampled_from([name, None]))}


def _poison(draw: st.DrawFn, value: Any) -> Any:
    """`value` with a NUL character slipped into some of its strings (valid JSON and valid
    for the schema, but not storable in PostgreSQL text)."""
    if isinstance(value, list):
        return [_poison(draw, item) for item in value]
    if isinstance(value, dict):
        return {key: _poison(draw, item) for key, item in value.items()}
    if isinstance(value, str) and draw(st.booleans()):
        at = draw(st.integers(0, len(value)))
        return value[:at] + "\x00" + value[at:]
    return value


def _strategy(operation: Any, real: Real) -> st.SearchStrategy[schemathesis.Case]:
    """Positive and negative cases, with generated and with the user's real path ids, and
    bodies with some real values in them."""
    path = real.for_path(_path_names(operation))
    modes = [GenerationMode.POSITIVE]
    # Negative generation needs something it may break.
    if list(operation.path_parameters) or list(operation.query) or operation.body:
        modes.append(GenerationMode.NEGATIVE)
    options = []
    for mode in modes:
        options.append(operation.as_strategy(mode))
        if path:
            options.append(operation.as_strategy(mode, path_parameters=path))
    cases = st.one_of(options)

    @st.composite
    def with_real_values(draw: st.DrawFn) -> schemathesis.Case:
        case: schemathesis.Case = draw(cases)
        if isinstance(case.body, dict) and draw(OFTEN):
            case.body = _realize(draw, case.body, real)
            if operation.label in ONE_SOURCE:
                case.body = _one_source(draw, case.body, real)
        if case.body is not None and draw(SOMETIMES):
            case.body = _poison(draw, case.body)
        if case.query and draw(SOMETIMES):
            case.query = _poison(draw, case.query)
        return case

    return with_real_values()


def _explicit_cases(operation: Any, real: Real) -> list[schemathesis.Case]:
    """Hand-made requests: the user's own document in each body field that holds one, and
    real (and damaged, and other lists') cursors for each list."""
    doc = real.document_id
    names = sorted(real.params_schemas)
    two = [{"strategy": name, "params": {"chunk_size": 64}} for name in names[:2]]
    bodies: dict[str, list[dict[str, Any]]] = {
        f"POST {API}/preview": [
            {"document_id": doc, "strategy": names[0], "params": {"chunk_size": 48}},
            {"document_id": doc, "text": "both a document and a text"},
        ],
        f"POST {API}/compare": [{"document_id": doc, "configs": two}],
        f"POST {API}/collections/{{collection_id}}/operations": [
            {"document_ids": [doc], "config": two[1]},
        ],
        f"PATCH {API}/collections/{{collection_id}}": [{"config": two[0]}],
    }
    path = real.for_path(_path_names(operation)) or None
    cases = [
        operation.Case(path_parameters=path, body=body, media_type="application/json")
        for body in bodies.get(operation.label, [])
    ]
    if "cursor" in {parameter.name for parameter in operation.query}:
        # Real cursors: this list's own, damaged copies of it, and other lists' cursors.
        own = real.cursors.get(operation.label)
        damaged = [own[:-1], own + "A", own[::-1], own.swapcase()] if own else []
        cases.extend(
            operation.Case(path_parameters=path, query={"limit": 1, "cursor": cursor})
            for cursor in [*real.cursors.values(), *damaged]
        )
    return cases


# ---- one request ------------------------------------------------------------------------


# ---- the run ----------------------------------------------------------------------------


def _fuzz(
    max_examples: int,
    strategy: st.SearchStrategy[schemathesis.Case],
    explicit: list[schemathesis.Case],
    run_case: Callable[[schemathesis.Case], None],
) -> None:
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        # Nothing fails inside the run (findings are collected), so there is nothing to shrink.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        run_case(case)

    for case in explicit:
        run = example(case=case)(run)
    run()


def _make_real(api: Api, auth: dict[str, str]) -> Real:
    collection = create_collection(api, auth)
    [document, *_] = upload(
        api, auth, collection["id"],
        # 40 paragraphs: several chunks at the default 512 tokens, so its chunk list has a
        # second page (12 paragraphs are about 480 tokens, one chunk or two by chance).
        [("notes.txt", text_file("fuzz", paragraphs=40)),
         *((n, t.encode()) for n, t in TEXTS.items())],
    )
    operation = start(api, auth, collection["id"])
    assert wait_finished(api, auth, operation["id"])["status"] == "completed"
    listed = api.client.get(f"{API}/strategies", headers=auth)
    assert listed.status_code == 200, listed.text
    schemas = {item["name"]: item["params_schema"] for item in listed.json()}
    username = api.client.get(f"{API}/auth/me", headers=auth).json()["username"]
    cli_create_api_key(api.settings, username, "fuzzed")
    [key] = api.client.get(f"{API}/api-keys", headers=auth).json()["items"]
    question = api.client.post(
        f"{API}/collections/{collection['id']}/questions", headers=auth,
        json={"question": "What is in the notes?",
              "references": [{"document_id": document["id"], "start": 0, "end": 20}]})
    assert question.status_code == 201, question.text
    evaluation = finished_evaluation(api, auth, collection["id"])
    real = Real(collection["id"], document["id"], operation["id"], schemas, key_id=key["id"],
                question_id=question.json()["id"], evaluation_id=evaluation)
    create_collection(api, auth)  # so that the list of collections has a second page
    for path in (
        "/collections", "/collections/{collection_id}/documents",
        "/collections/{collection_id}/chunks", "/documents/{document_id}/chunks",
    ):
        page = api.client.get(
            API + path.format(**real.for_path({"collection_id", "document_id"})),
            params={"limit": 1}, headers=auth,
        )
        assert page.status_code == 200, page.text
        assert page.json()["next_cursor"], path
        real.cursors[f"GET {API}{path}"] = page.json()["next_cursor"]
    return real


def _undocumented_methods(
    api: Api, auth: dict[str, str], document: dict[str, Any], real: Real, out: Findings
) -> None:
    """Every documented path answers its undocumented methods with a 405 in SPEC's body."""
    for template, documented in document["paths"].items():
        path = template.format(
            **real.for_path({"collection_id", "document_id", "operation_id", "key_id",
                             "question_id", "evaluation_id"})
        )
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method.lower() in documented:
                continue
            response = api.client.request(method, path, headers=auth)
            label = f"{method} {template} (undocumented)"
            out.statuses[label][response.status_code] += 1
            request, shown = f"{method} {path}", excerpt(response.content)
            if response.status_code != 405:
                out.add(Finding("undocumented method", label, response.status_code,
                                "expected 405", request, shown))
            elif not is_error_body(response.content):
                out.add(Finding("error body", label, 405,
                                "a 405 body that is not {error, detail}", request, shown))


def test_schemathesis_finds_no_server_error_and_conforms(api: Api) -> None:
    auth = user_headers(api)
    user_id = uuid.UUID(api.client.get(f"{API}/auth/me", headers=auth).json()["id"])
    real = _make_real(api, auth)
    served = api.client.get("/openapi.json")
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(served.json())
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: RUN_LAST.index(op.label) + 1 if op.label in RUN_LAST else 0)
    assert all(label in [op.label for op in operations] for label in RUN_LAST)

    findings = Findings()
    _undocumented_methods(api, auth, served.json(), real, findings)
    for operation in operations:
        if operation.label == RUN_LAST[0]:
            wait_idle(api, auth, real.collection_id, findings)
        _fuzz(
            MAX_EXAMPLES_CHUNKING if operation.label in CHUNKING else MAX_EXAMPLES,
            _strategy(operation, real),
            _explicit_cases(operation, real),
            lambda case: exercise(api, auth, case, findings),
        )
    # The fuzzed logout ended the session: a new one of the same user to wait with.
    me = api.client.get(f"{API}/auth/me", headers=auth)
    if me.status_code == 401:
        auth = {"Authorization": f"Bearer {session_token(api, user_id)}"}
    wait_idle(api, auth, real.collection_id, findings)

    print(f"statuses per operation ({api.backend}):\n{findings.summary()}")  # shown on failure
    if findings.by_key:
        pytest.fail(findings.report(), pytrace=False)
    # The real ids reached their handlers: each operation on an id answered something other
    # than 404 at least once (a 2xx, or e.g. 409 for cancelling a finished operation).
    for operation in operations:
        if real.for_path(_path_names(operation)):
            seen = findings.statuses[operation.label]
            assert set(seen) - {404}, f"{operation.label}: only {dict(seen)}"

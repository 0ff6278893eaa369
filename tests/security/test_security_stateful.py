"""Issue 12, point 6: a stateful schemathesis run over the whole API as one user, A, while
another user, B, owns a collection, a document, a finished operation and an API key.

The state machine is schemathesis's own (`schema.as_state_machine()`), over the links its
dependency analysis infers from the served schema (a created collection's id feeds its
documents, a document's id feeds previews, an operation's id its cancel, and so on), with a
rule of its own for each operation that takes no id and that the links do not start from
(previews of a text, strategies, limits, login, ...). Every step goes through the API tests'
app as A (logout excepted, which would end the run's session). Nothing fails inside the run:
findings (a 5xx, a 4xx body that is not `{error, detail}`, a failed conformance check, or any
of B's ids, its username or its unique text marker in a response to A) are collected and
reported together.
After the run, explicit cases send B's ids in A's requests, in every path and body field that
takes one: each answers 404, leaks nothing it was not sent, and changes nothing of B's.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from api_helpers import API, Api, create_collection, user_headers
from fuzz_helpers import Finding, Findings, describe, excerpt, exercise, prepare, wait_idle
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule
from operation_helpers import start, text_file, upload, wait_finished
from schemathesis import GenerationMode
from schemathesis.core.transport import Response
from schemathesis.generation.stateful.state_machine import normalize_name

from chunkyard.auth.service import cli_create_api_key

# Scenarios, and steps in each: a few dozen requests in all, derandomized.
SCENARIOS = 7
STEPS_PER_SCENARIO = 8
# Ending A's session would leave the rest of the run at 401.
EXCLUDED = (("POST", f"{API}/auth/logout"),)
PATH_IDS = ("collection_id", "document_id", "operation_id", "key_id")


@dataclass
class Owner:
    """A user and its things; `secrets` maps each value that must not reach the other user
    to what it is."""

    headers: dict[str, str]
    username: str
    collection_id: str
    document_id: str
    operation_id: str
    key_id: str
    secrets: dict[str, str]

    def path_ids(self) -> dict[str, str]:
        return {"collection_id": self.collection_id, "document_id": self.document_id,
                "operation_id": self.operation_id, "key_id": self.key_id}


def _owner(api: Api, marker: str) -> Owner:
    """A new user with a collection named after `marker`, a document whose text carries it,
    a finished operation over it and an API key of that name."""
    headers = user_headers(api)
    me = api.client.get(f"{API}/auth/me", headers=headers).json()
    collection = create_collection(api, headers, name=f"{marker} collection")
    [document] = upload(api, headers, collection["id"],
                        [(f"{marker}.txt", text_file(marker))])
    operation = start(api, headers, collection["id"])
    assert wait_finished(api, headers, operation["id"])["status"] == "completed"
    cli_create_api_key(api.settings, me["username"], marker)
    [key] = api.client.get(f"{API}/api-keys", headers=headers).json()["items"]
    values = {
        "user id": me["id"], "username": me["username"], "text marker": marker,
        "collection id": collection["id"], "document id": document["id"],
        "operation id": operation["id"], "API key id": key["id"], "API key prefix": key["prefix"],
    }
    return Owner(headers, me["username"], collection["id"], document["id"], operation["id"],
                 key["id"], {value: what for what, value in values.items()})


def _leaks(content: bytes, sent: str, other: Owner) -> list[str]:
    """What of `other`'s is in `content` that the request did not send itself (an error may
    name the id it was asked for)."""
    text = content.decode("utf-8", "replace")
    return sorted(what for value, what in other.secrets.items()
                  if value in text and value not in sent)


def _check_leaks(
    case: schemathesis.Case, auth: dict[str, str], response: httpx.Response, other: Owner,
    out: Findings,
) -> None:
    request = describe(prepare(case, auth))
    sent = request + str(case.path_parameters) + str(case.body) + str(case.query)
    leaked = _leaks(response.content, sent, other)
    if leaked:
        out.add(Finding("leak of B's data", case.operation.label, response.status_code,
                        f"the response to A contains B's {', '.join(leaked)}", request,
                        excerpt(response.content)), ",".join(leaked))


def _as_transport(case: schemathesis.Case, response: httpx.Response | None) -> Response:
    """The response as schemathesis reads it; a stand-in 500 when the app raised."""
    if response is None:
        response = httpx.Response(500, request=httpx.Request(case.method, case.formatted_path))
    return Response.from_httpx(response, verify=False)


def _random_step(operation: Any) -> Any:
    """A state machine rule: one generated request to `operation` (positive or negative)."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    cases = st.one_of([operation.as_strategy(mode) for mode in modes])

    @rule(case=cases)
    def step(machine: Any, case: schemathesis.Case) -> None:
        machine.call(case)

    return step


def _run_state_machine(
    api: Api, schema: Any, a: Owner, b: Owner, out: Findings
) -> Counter[str]:
    """Schemathesis's state machine, every step sent as A; the steps run, by operation."""
    steps: Counter[str] = Counter()
    base = schema.as_state_machine()

    class AsUserA(base):  # type: ignore[valid-type, misc]
        def call(self, case: schemathesis.Case, **kwargs: Any) -> Response:
            steps[case.operation.label] += 1
            response = exercise(api, a.headers, case, out)
            if response is not None:
                _check_leaks(case, a.headers, response, b, out)
            return _as_transport(case, response)

        def validate_response(self, response: Response, case: schemathesis.Case,
                              *args: Any, **kwargs: Any) -> None:
            pass  # `exercise` ran the checks and kept their findings: nothing raises here

    # The links reach only the operations they join, and start only from some of them: the
    # others without ids in their path (previews of a text, strategies, limits, login, ...)
    # get a step of their own. Those with ids are reached through the links (a random id
    # would only be a 404).
    for result in schema.get_all_operations():
        operation = result.ok()
        name = normalize_name(f"RANDOM -> {operation.label}")
        if name not in base.root_rules and not list(operation.path_parameters):
            setattr(AsUserA, f"any {operation.label}", _random_step(operation))

    AsUserA.run(settings=settings(
        max_examples=SCENARIOS,
        stateful_step_count=STEPS_PER_SCENARIO,
        deadline=None,
        derandomize=True,
        database=None,
        # Nothing fails inside the run (findings are collected), so there is nothing to shrink.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    ))
    return steps


def _foreign_cases(schema: Any, a: Owner, b: Owner) -> list[schemathesis.Case]:
    """A's requests with B's ids: in the path of every operation that takes one, and in every
    body field that names a document, with bodies that are otherwise valid (so that a 422
    cannot stand in for the 404)."""
    bodies: dict[str, dict[str, Any]] = {
        f"PATCH {API}/collections/{{collection_id}}": {"name": "taken over"},
        f"POST {API}/collections/{{collection_id}}/operations": {},
        f"POST {API}/collections/{{collection_id}}/documents": {"files": [b"taken over"]},
        f"PUT {API}/documents/{{document_id}}/file": {"file": b"taken over"},
        f"POST {API}/collections/{{collection_id}}/diff": {},
        f"POST {API}/collections/{{collection_id}}/questions": {
            "question": "Taken over?",
            "references": [{"document_id": b.document_id, "start": 0, "end": 5}]},
        f"POST {API}/collections/{{collection_id}}/questions/import": {
            "file": b"question,references,corpus_id\n"},
        f"POST {API}/collections/{{collection_id}}/evaluations": {
            "configs": [{"strategy": "recursive", "params": {}}]},
    }
    cases = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {parameter.name for parameter in operation.path_parameters}
        if not names & set(PATH_IDS):
            continue
        extra: dict[str, Any] = {}
        if (body := bodies.get(operation.label)) is not None:
            media = ("multipart/form-data" if {"files", "file"} & set(body)
                     else "application/json")
            extra = {"body": body, "media_type": media}
        cases.append(operation.Case(
            path_parameters={n: v for n, v in b.path_ids().items() if n in names}, **extra
        ))
    by_label = {op.label: op for op in (r.ok() for r in schema.get_all_operations())}
    config = {"strategy": "character", "params": {"chunk_size": 64}}
    cases += [
        by_label[f"POST {API}/preview"].Case(
            body={"document_id": b.document_id, **config}, media_type="application/json"),
        by_label[f"POST {API}/compare"].Case(
            body={"document_id": b.document_id, "configs": [config, config]},
            media_type="application/json"),
        by_label[f"POST {API}/collections/{{collection_id}}/operations"].Case(
            path_parameters={"collection_id": a.collection_id},
            body={"document_ids": [b.document_id]}, media_type="application/json"),
    ]
    return cases


def _wait_all_idle(api: Api, a: Owner, out: Findings) -> None:
    """Let every operation of A's (its collections may be new) finish."""
    listed = api.client.get(f"{API}/collections", params={"limit": 1000}, headers=a.headers)
    assert listed.status_code == 200, listed.text
    for collection in listed.json()["items"]:
        wait_idle(api, a.headers, collection["id"], out, timeout=30)


def _b_is_intact(api: Api, b: Owner) -> None:
    collection = api.client.get(f"{API}/collections/{b.collection_id}", headers=b.headers)
    assert collection.status_code == 200, collection.text
    assert collection.json()["name"].endswith(" collection")
    # The same detector sees B's things in B's own answers: its silence for A means something.
    assert {"collection id", "text marker"} <= set(_leaks(collection.content, "", b))
    documents = api.client.get(f"{API}/collections/{b.collection_id}/documents",
                               headers=b.headers).json()["items"]
    assert [d["id"] for d in documents] == [b.document_id]
    operations = api.client.get(f"{API}/collections/{b.collection_id}/operations",
                                headers=b.headers).json()["items"]
    assert [(o["id"], o["status"]) for o in operations] == [(b.operation_id, "completed")]
    keys = api.client.get(f"{API}/api-keys", headers=b.headers).json()["items"]
    assert [k["id"] for k in keys] == [b.key_id]


def test_a_stateful_run_as_one_user_finds_no_5xx_and_nothing_of_another_user(api: Api) -> None:
    started = time.monotonic()
    marker = f"b-secret-{secrets.token_hex(8)}"
    b = _owner(api, marker)
    a = _owner(api, f"a-own-{secrets.token_hex(8)}")
    served = api.client.get("/openapi.json")
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(served.json())
    for method, path in EXCLUDED:
        schema = schema.exclude(method=method, path=path)

    findings = Findings()
    made = time.monotonic()
    steps = _run_state_machine(api, schema, a, b, findings)
    ran = time.monotonic()
    _wait_all_idle(api, a, findings)

    refused: dict[str, int] = {}
    for case in _foreign_cases(schema, a, b):
        response = exercise(api, a.headers, case, findings)
        assert response is not None, case.operation.label  # the exception is in the findings
        _check_leaks(case, a.headers, response, b, findings)
        refused[f"{case.operation.label} {sorted(case.path_parameters or {})}"] = (
            response.status_code)
    _b_is_intact(api, b)

    took = time.monotonic() - started
    print(f"{sum(steps.values())} stateful steps ({api.backend}: {took:.1f} s in all, "
          f"{made - started:.1f} s making the users, {ran - made:.1f} s the run): "
          f"{dict(steps)}\n"
          f"statuses per operation:\n{findings.summary()}")
    if findings.by_key:
        pytest.fail(findings.report(), pytrace=False)
    assert {label: status for label, status in refused.items() if status != 404} == {}
    # The run went past the roots: steps that follow links used the ids earlier ones made.
    assert sum(steps.values()) >= 24, dict(steps)
    assert any("{" in label for label in steps), dict(steps)

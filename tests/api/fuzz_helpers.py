"""Schemathesis cases sent through the API tests' app as one user, and the findings they make:
5xx, 4xx bodies that are not SPEC's `{error, detail}`, and failed schemathesis checks, each
kept with the request that caused it and reported together at the end."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from api_helpers import API, Api
from operation_helpers import FINISHED
from schemathesis import checks as schemathesis_checks
from schemathesis.errors import FailureGroup

ERROR_KEYS = {"error", "detail"}
EXCERPT = 400
# Request headers that say nothing about a finding.
NOISE_HEADERS = {
    "user-agent", "accept-encoding", "accept", "connection", "content-length",
    "x-schemathesis-testcaseid",
}


def checks() -> list[Any]:
    """The server-error and response-conformance checks (looked up by name: schemathesis
    registers its built-in checks lazily). Checks that resend requests or need a stateful run
    are left out: they would not go through `api.client`."""
    return [
        schemathesis_checks.not_a_server_error,
        schemathesis_checks.status_code_conformance,
        schemathesis_checks.content_type_conformance,
        schemathesis_checks.response_headers_conformance,
        schemathesis_checks.response_schema_conformance,
    ]


@dataclass
class Finding:
    kind: str
    operation: str
    status: int | None
    message: str
    request: str
    response: str
    count: int = 1


@dataclass
class Findings:
    by_key: dict[tuple[str, str, int | None, str], Finding] = field(default_factory=dict)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    # The request that started each operation, by the operation's id.
    started: dict[str, str] = field(default_factory=dict)

    def add(self, finding: Finding, detail: str = "") -> None:
        """Keep the first request of each kind of finding, and count the others."""
        key = (finding.kind, finding.operation, finding.status, detail)
        if key in self.by_key:
            self.by_key[key].count += 1
        else:
            self.by_key[key] = finding

    def summary(self) -> str:
        return "\n".join(f"{label}: {dict(seen)}" for label, seen in self.statuses.items())

    def report(self) -> str:
        lines = [f"{len(self.by_key)} distinct finding(s):"]
        for f in self.by_key.values():
            lines.append(
                f"\n--- [{f.kind}] {f.operation} -> {f.status} (seen {f.count}x)\n"
                f"{f.message}\nrequest:  {f.request}\nresponse: {f.response}"
            )
        return "\n".join(lines)


def excerpt(data: bytes | str | None) -> str:
    if data is None:
        return ""
    text = data if isinstance(data, str) else data.decode("utf-8", "backslashreplace")
    return text if len(text) <= EXCERPT else f"{text[:EXCERPT]}... ({len(text)} chars)"


def describe(prepared: requests.PreparedRequest) -> str:
    """A reproducer: the request, with the token elided."""
    headers = {
        name: "Bearer <token>" if name.lower() == "authorization" else value
        for name, value in prepared.headers.items()
        if name.lower() not in NOISE_HEADERS
    }
    return f"{prepared.method} {prepared.url} headers={headers} body={excerpt(prepared.body)!r}"


def prepare(case: schemathesis.Case, auth: dict[str, str]) -> requests.PreparedRequest:
    """Schemathesis's own serialization of the case, as the exact bytes it would send, with
    the user's credentials whatever the case generated for that header."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=auth)
    headers = {
        name: value
        for name, value in (kwargs.get("headers") or {}).items()
        if name.lower() != "authorization"
    }
    headers.update(auth)
    return requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        cookies=kwargs.get("cookies"),
        data=kwargs.get("data"),
        files=kwargs.get("files"),
        json=kwargs.get("json"),
    ).prepare()


def is_json_object(content: bytes) -> bool:
    try:
        return isinstance(json.loads(content), dict)
    except ValueError:
        return False


def is_error_body(content: bytes) -> bool:
    if not is_json_object(content):
        return False
    body = json.loads(content)
    return (
        set(body) == ERROR_KEYS
        and all(isinstance(body[key], str) and body[key] for key in ERROR_KEYS)
    )


def exercise(
    api: Api, auth: dict[str, str], case: schemathesis.Case, out: Findings
) -> httpx.Response | None:
    """Send `case` as the user of `auth`; its findings go to `out`. The response, or None when
    the app raised (a 500 behind a real server)."""
    label = case.operation.label
    prepared = prepare(case, auth)
    request = describe(prepared)
    body: bytes | None = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    try:
        response = api.client.request(
            str(prepared.method), str(prepared.url), headers=dict(prepared.headers), content=body
        )
    except Exception as exc:  # raised through the test client: a 500 behind a real server
        out.add(Finding("exception", label, None, repr(exc), request, ""), type(exc).__name__)
        return None
    finally:
        api.client.cookies.clear()
    status = response.status_code
    out.statuses[label][status] += 1
    shown = excerpt(response.content)
    if status == 202 and is_json_object(response.content):
        out.started[str(response.json().get("id"))] = request
    if status >= 500:
        out.add(Finding("server error", label, status, "status >= 500", request, shown))
    elif status >= 400 and not is_error_body(response.content):
        out.add(Finding(
            "error body", label, status, "a 4xx body that is not {error, detail}", request, shown
        ))
    try:
        case.validate_response(response, checks=checks())
    except FailureGroup as group:
        for failure in group.exceptions:
            if status >= 500 and failure.title.startswith(("Server error", "Undocumented")):
                continue  # reported above, with its body
            out.add(
                Finding(f"schemathesis: {failure.title}", label, status, failure.message,
                        request, shown),
                failure.title,
            )
    return response


def wait_idle(
    api: Api, auth: dict[str, str], collection_id: str, out: Findings, timeout: float = 60
) -> None:
    """Let the operations the fuzzing started finish, so that fixtures are not deleted under
    them and nothing keeps running behind later tests. An operation that failed as a whole
    met an unexpected exception in the job: the background equivalent of a 500."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(
            f"{API}/collections/{collection_id}/operations", params={"limit": 1000}, headers=auth
        )
        if response.status_code == 404:  # the collection is gone: nothing left to wait for
            return
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if all(item["status"] in FINISHED for item in items):
            break
        assert time.monotonic() < deadline, f"operations still running after {timeout}s"
        time.sleep(0.05)
    for item in items:
        if item["status"] == "failed":
            out.add(Finding(
                "operation failed", "POST /api/v1/collections/{collection_id}/operations", 202,
                f"operation {item['id']} failed: {item['error']}",
                out.started.get(item["id"], "(started before the fuzzing)"), json.dumps(item),
            ), item["id"])

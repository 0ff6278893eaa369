"""Issue 12, point 6: `/healthz` of a real `chunkyard serve` (the embedded default, SQLite and
in-process jobs) answers within 100 ms at the 99th percentile while it is attacked: 50
concurrent logins with a wrong password, a preview of a text of a million characters cut into
16-character chunks, and an operation over poisoned HTML (lists nested 100,000 deep, a page
declaring UTF-7). A probe thread asks for `/healthz` over its own keep-alive connection every
few milliseconds while each attack runs; the attack must also end as it should.

The refusals that must be quick (the 4th active operation, the 6th failed login, an upload
over the storage quota: within 50 ms) are tested where those limits are.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from security_helpers import html_declaring, nested_lists

from serversupport import Server, serve_env, serving

SECRET = "chunkyard-healthz-test-secret-" + "h" * 32
FIRST_USER = re.compile(r"created the first user: admin / (\S+)")
P99_BOUND = 0.1
PROBE_EVERY = 0.005
LOGINS = 50
API = "/api/v1"


class Probe:
    """`/healthz` asked again and again from a thread, each answer's latency kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            client.get("/healthz")  # a warm connection: time the server, not the handshake
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.get("/healthz")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                self.latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code}: {response.text[:200]}")
                self._stop.wait(PROBE_EVERY)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[math.ceil(0.99 * len(ordered)) - 1]

    def figures(self) -> str:
        return (f"p99 {self.p99() * 1000:.1f} ms, max {max(self.latencies) * 1000:.1f} ms, "
                f"median {sorted(self.latencies)[len(self.latencies) // 2] * 1000:.1f} ms "
                f"over {len(self.latencies)} probes")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The embedded server on an empty data directory, and its first admin's token. Failed
    logins are all verified (not refused by the throttle after the 5th): the attack is the
    password hashing itself."""
    tmp = tmp_path_factory.mktemp("healthz")
    env = serve_env(tmp / "data", CHUNKYARD_SECRET_KEY=SECRET,
                    CHUNKYARD_LOGIN_FREE_FAILURES=str(10 * LOGINS))
    with serving(tmp, env, "serve") as running:
        [password] = FIRST_USER.findall(running.stderr())
        login = httpx.post(f"{running.url}{API}/auth/login",
                           json={"username": "admin", "password": password}, timeout=30)
        assert login.status_code == 200, login.text
        yield running, login.json()["access_token"]


def _under_attack(server: Server, attack: Callable[[], Any]) -> tuple[Probe, Any]:
    with Probe(server.url) as probe:
        time.sleep(0.05)  # a few probes before the attack starts
        result = attack()
    assert not probe.failures, probe.failures[:5]
    assert len(probe.latencies) >= 20, probe.latencies
    return probe, result


def _assert_quick(probe: Probe, what: str) -> None:
    print(f"/healthz while {what}: {probe.figures()}")
    assert probe.p99() < P99_BOUND, f"/healthz while {what}: {probe.figures()}"


def test_healthz_stays_quick_during_50_concurrent_wrong_password_logins(
    server: tuple[Server, str],
) -> None:
    running, _ = server
    start = threading.Barrier(LOGINS)

    def wrong_login(n: int) -> int:  # all sent at once
        start.wait()
        response = httpx.post(f"{running.url}{API}/auth/login", timeout=60,
                              json={"username": "admin", "password": f"wrong password {n}"})
        return response.status_code

    def attack() -> list[int]:
        with ThreadPoolExecutor(LOGINS) as pool:
            return list(pool.map(wrong_login, range(LOGINS)))

    probe, statuses = _under_attack(running, attack)
    # Each is refused: a wrong password (401), or no room left in the password pool (429).
    assert set(statuses) <= {401, 429} and statuses.count(401) >= 2, statuses
    _assert_quick(probe, f"{LOGINS} concurrent wrong-password logins")


def test_healthz_stays_quick_during_a_preview_of_a_large_text_in_small_chunks(
    server: tuple[Server, str],
) -> None:
    running, token = server
    # A million characters, 88,000 chunks: the most a preview takes (2 million) at this chunk
    # size needs more than a chunking worker's 500 MB, and is refused with 413.
    text = ("A sentence of plain words to cut. " * 30_000)[:1_000_000]
    body = {"text": text, "strategy": "recursive",
            "params": {"tokenizer": "chars", "chunk_size": 16}}

    def attack() -> httpx.Response:
        return httpx.post(f"{running.url}{API}/preview", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {token}"})

    probe, response = _under_attack(running, attack)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["total_chunks"] >= len(text) // 16
    _assert_quick(probe, "a preview of 1,000,000 characters in 16-character chunks")


def test_healthz_stays_quick_during_an_operation_over_poisoned_html(
    server: tuple[Server, str], tmp_path: Path,
) -> None:
    running, token = server
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=running.url, headers=headers, timeout=60) as client:
        made = client.post(f"{API}/collections", json={"name": "poisoned"})
        assert made.status_code == 201, made.text
        collection = made.json()["id"]
        files = [
            ("lists.html", nested_lists(100_000)),
            ("seven.html", html_declaring("utf-7", b"+2AA- +AAA- " * 20_000)),
        ]
        uploaded = client.post(f"{API}/collections/{collection}/documents", files=[
            ("files", (name, data, "text/html")) for name, data in files])
        assert uploaded.status_code == 201, uploaded.text

        def attack() -> dict[str, Any]:
            started = client.post(f"{API}/collections/{collection}/operations", json={})
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 30
            while True:
                operation: dict[str, Any] = client.get(
                    f"{API}/operations/{started.json()['id']}").json()
                if operation["status"] in {"completed", "failed", "cancelled"}:
                    return operation
                assert time.monotonic() < deadline, operation
                time.sleep(0.05)

        probe, operation = _under_attack(running, attack)
    assert operation["status"] == "completed", operation
    assert operation["documents_done"] + operation["documents_failed"] == len(files)
    _assert_quick(probe, "an operation over poisoned HTML")

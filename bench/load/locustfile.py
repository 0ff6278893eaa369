"""The mixed user of the load, stress and soak runs (driven by bench/load/run.py).

Each simulated user signs in as an account of its own (made by run.py, so per-user limits apply
as they would), then, with 1-3 s of think time between tasks: lists its collections, pages
through chunks, polls an operation, previews a 10-50 KB text with fresh parameters (never a
cache hit), compares three configurations, uploads a file, and starts an operation and follows
it over the WebSocket until it finishes. Request names are route templates, so the report's
rows are per request type.

Settings come from the environment: LOAD_USERS_FILE (one `username password` per line),
LOAD_STEP_USERS / LOAD_STEP_SECONDS / LOAD_MAX_USERS (a step shape for the stress run; unset:
the user count and duration given on locust's command line).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from itertools import count
from pathlib import Path
from typing import Any

import websocket

sys.path.insert(0, str(Path(__file__).resolve().parent))
from locust import HttpUser, LoadTestShape, between, events, task
from texts import text_of

API = "/api/v1"
_accounts = [line.split(" ", 1) for line in
             Path(os.environ.get("LOAD_USERS_FILE", "/dev/null")).read_text().splitlines() if line]
_next_account = count()


class MixedUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        username, password = _accounts[next(_next_account) % len(_accounts)]
        for _ in range(20):  # a burst of sign-ins meets the password pool's 429: as told, wait
            # The 429 is the pool's back-pressure, not a failure: counted on a row of its own.
            with self.client.post(f"{API}/auth/login", json={
                    "username": username, "password": password}, name="/auth/login",
                    catch_response=True) as response:
                if response.status_code == 429:
                    response.request_meta["name"] = "/auth/login (429, waited as told)"
                    response.success()
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("retry-after", "1")))
        response.raise_for_status()
        self.token = response.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"
        for _ in range(20):  # past the knee admission control answers 429: as told, wait
            created = self._call("POST", f"{API}/collections", "/collections", json={
                "name": f"load {uuid.uuid4().hex[:8]}",
                "config": {"strategy": "recursive", "params": {"chunk_size": 256}},
            })
            if created.status_code != 429:
                break
        created.raise_for_status()
        self.collection = created.json()["id"]
        self.operation: str | None = None
        self.cursor: str | None = None
        self._upload()
        self._run_and_follow()

    def _call(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        """One request; a 429 (admission control, a busy database, a per-user rate) is the
        service's back-pressure, not a failure: it is counted on a row of its own, "<name>
        (429)", and the user waits as Retry-After says (at most 5 s), as a client should."""
        with self.client.request(method, path, name=name, catch_response=True,
                                 **kwargs) as response:
            if response.status_code == 429:
                response.request_meta["name"] = f"{name} (429)"
                response.success()
            elif response.ok:
                response.success()
            else:
                response.failure(f"{response.status_code} {response.text[:200]}")
        if response.status_code == 429:
            time.sleep(min(5.0, float(response.headers.get("retry-after", "1"))))
        return response

    @task(4)
    def list_collections(self) -> None:
        self._call("GET", f"{API}/collections", "/collections")

    @task(4)
    def page_chunks(self) -> None:
        params: dict[str, Any] = {"limit": 50}
        if self.cursor:
            params["cursor"] = self.cursor
        r = self._call("GET", f"{API}/collections/{self.collection}/chunks",
                       "/collections/{id}/chunks", params=params)
        if r.status_code == 200:
            self.cursor = r.json().get("next_cursor")

    @task(4)
    def poll_operation(self) -> None:
        if self.operation:
            self._call("GET", f"{API}/operations/{self.operation}", "/operations/{id}")

    @task(2)
    def preview(self) -> None:
        self._call("POST", f"{API}/preview", "/preview", json={
            "text": text_of(random.randint(10, 50)), "filename": "load.md",
            "strategy": random.choice(["recursive", "markdown", "character"]),
            "params": {"chunk_size": random.randint(128, 1024)}, "max_chunks": 20,
        })

    @task(1)
    def compare(self) -> None:
        size = random.randint(128, 512)
        self._call("POST", f"{API}/compare", "/compare", json={
            "text": text_of(random.randint(10, 30)), "filename": "load.md",
            "configs": [{"strategy": s, "params": {"chunk_size": size}}
                        for s in ("recursive", "markdown", "hierarchical")],
        })

    @task(1)
    def upload(self) -> None:
        self._upload()

    @task(1)
    def run_and_follow(self) -> None:
        self._run_and_follow()

    def _upload(self) -> None:
        files = {"files": (f"doc-{uuid.uuid4().hex[:8]}.md",
                           text_of(random.randint(10, 40)).encode(), "text/markdown")}
        self._call("POST", f"{API}/collections/{self.collection}/documents",
                   "/collections/{id}/documents", files=files)

    def _run_and_follow(self) -> None:
        """Start an operation and follow it over the WebSocket to its final event; recorded
        as one `WS /operations/{id}/ws` request from handshake to close."""
        with self.client.post(f"{API}/collections/{self.collection}/operations", json={},
                              name="/collections/{id}/operations",
                              catch_response=True) as started:
            if started.status_code == 409:  # one already running here: follow that one
                started.success()
                return
            if started.status_code == 429:  # the user's 3 operations, or the server's load
                started.request_meta["name"] = "/collections/{id}/operations (429)"
                started.success()
                return
            if started.status_code != 202:
                return
            self.operation = started.json()["id"]
        url = self.host.replace("http", "ws", 1) + f"{API}/operations/{self.operation}/ws"
        began, error, final = time.perf_counter(), None, None
        try:
            socket = websocket.create_connection(
                url, header=[f"Authorization: Bearer {self.token}"], timeout=120)
            try:
                while True:
                    message = socket.recv()
                    if not message:
                        raise RuntimeError("the socket closed before the final event")
                    event = json.loads(message)
                    if event.get("type") in ("completed", "failed", "cancelled"):
                        final = event["type"]
                        break
            finally:
                socket.close()
        except Exception as exc:  # a dropped socket is a failure of this request
            error = exc
        if error is None and final != "completed":
            error = RuntimeError(f"the operation ended {final}")
        events.request.fire(
            request_type="WS", name="/operations/{id}/ws", response_time=(
                time.perf_counter() - began) * 1000, response_length=0, exception=error,
            context={},
        )


if os.environ.get("LOAD_STEP_USERS"):  # locust uses a shape whenever the file defines one

    class Steps(LoadTestShape):
        """Users stepped up by LOAD_STEP_USERS every LOAD_STEP_SECONDS up to LOAD_MAX_USERS
        (the stress run)."""

        step = int(os.environ["LOAD_STEP_USERS"])
        seconds = float(os.environ.get("LOAD_STEP_SECONDS", "60"))
        most = int(os.environ.get("LOAD_MAX_USERS", "500"))

        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time()
            if run_time > self.seconds * (self.most // self.step):
                return None
            users = min(self.most, (int(run_time // self.seconds) + 1) * self.step)
            return users, float(self.step)

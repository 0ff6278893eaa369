"""The embedded mode's API while a job runs: `GET /healthz` and `GET /collections` latency
during a 20 MB chunking operation, against the same requests on an idle server.

The server is a real `uvicorn` process with the embedded defaults (SQLite, jobs run by the
app itself, no Redis). A collection of `--mb` MB of generated markdown (20 files) is uploaded,
an operation started, and until it ends one client sends the two requests in turn, one at a
time, every `--interval` seconds; the same is done for `--idle-seconds` before the operation.
Target (issue #10): p99 under 100 ms for both while the operation runs.

    python bench/embedded_job_latency.py [--mb 20] [--interval 0.05] [--strategy recursive]
        [--chunk-size 256]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_jobs import make_text
from service_common import Server, percentile, running_server

FILES = 20
PATHS = ("/healthz", "/api/v1/collections")


def probe(http: httpx.Client, server: Server, seconds: float | None, interval: float,
          operation: str | None = None) -> tuple[dict[str, list[float]], str]:
    """Latencies per path, sampled for `seconds` or until `operation` ends; its end state."""
    found: dict[str, list[float]] = {path: [] for path in PATHS}
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    state, turn = "", 0
    while time.monotonic() < deadline:
        path = PATHS[turn % len(PATHS)]
        turn += 1
        started = time.perf_counter()
        response = http.get(path, headers=server.headers)
        found[path].append(time.perf_counter() - started)
        response.raise_for_status()
        if operation is not None and turn % 10 == 0:
            state = http.get(f"/api/v1/operations/{operation}", headers=server.headers
                             ).json()["status"]
            if state not in ("pending", "running"):
                break
        time.sleep(interval)
    return found, state


def report(label: str, found: dict[str, list[float]]) -> None:
    for path, values in found.items():
        print(f"{label:>9}  {path:<20} n={len(values):<5} p50 "
              f"{percentile(values, 0.5) * 1000:6.1f} ms  p99 "
              f"{percentile(values, 0.99) * 1000:6.1f} ms  max {max(values) * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--strategy", default="recursive")
    parser.add_argument("--chunk-size", type=int, default=256)
    args = parser.parse_args()
    rng = random.Random(10)
    size = int(args.mb * 1_000_000 / FILES)
    files = [(f"doc{i}.md", make_text(rng, size).encode()) for i in range(FILES)]

    with running_server() as server, httpx.Client(base_url=server.base, timeout=60) as http:
        collection = http.post("/api/v1/collections", json={"name": "latency"},
                               headers=server.headers).json()
        for name, data in files:  # one at a time: the upload limit is per request
            http.post(f"/api/v1/collections/{collection['id']}/documents",
                      files=[("files", (name, data, "text/markdown"))],
                      headers=server.headers).raise_for_status()
        idle, _ = probe(http, server, args.idle_seconds, args.interval)
        started = time.perf_counter()
        operation = http.post(f"/api/v1/collections/{collection['id']}/operations",
                              json={"config": {"strategy": args.strategy,
                                               "params": {"chunk_size": args.chunk_size}}},
                              headers=server.headers).json()
        busy, state = probe(http, server, None, args.interval, operation["id"])
        elapsed = time.perf_counter() - started
    print(f"embedded mode, {sum(len(d) for _, d in files) / 1e6:.1f} MB in {FILES} files, "
          f"{args.strategy} at {args.chunk_size}: operation {state} in {elapsed:.1f} s")
    report("idle", idle)
    report("job runs", busy)
    worst = max(percentile(v, 0.99) for v in busy.values()) * 1000
    print(f"p99 while the job runs: {worst:.0f} ms   target < 100 ms")


if __name__ == "__main__":
    main()

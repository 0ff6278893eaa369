"""The server's CPU time per request, by route: what one authenticated read costs next to
`/healthz`, measured as the server process's own CPU time (user + system) over many
sequential requests on one kept-alive connection, so a busy machine changes it little.

    python bench/request_cpu.py [--requests 2000]

It starts the embedded server (SQLite, `chunkyard serve`'s app under uvicorn) on a fresh data
directory with one user, a collection with one chunked document and its operation, then prints
per route the milliseconds of server CPU per request and its ratio to `/healthz`'s: the
inverse of the throughput share a CPU-bound server can give that route (issue 13's target:
authenticated reads at least 0.2x `/healthz`'s throughput, i.e. at most 5x its CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import running_server

API = "/api/v1"
TEXT = "\n\n".join(f"Paragraph {i}: words about chunking and retrieval, twice over. " * 3
                   for i in range(60))


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with running_server() as server, httpx.Client(base_url=server.base, timeout=30,
                                                  headers=server.headers) as client:
        collection = client.post(f"{API}/collections", json={"name": "cpu"}).json()["id"]
        client.post(f"{API}/collections/{collection}/documents",
                    files={"files": ("doc.md", TEXT.encode(), "text/markdown")})
        operation = client.post(f"{API}/collections/{collection}/operations", json={}).json()
        while client.get(f"{API}/operations/{operation['id']}").json()["status"] not in (
                "completed", "failed"):
            time.sleep(0.1)
        routes = {
            "/healthz": "/healthz",
            "GET /operations/{id}": f"{API}/operations/{operation['id']}",
            "GET /collections": f"{API}/collections",
            "GET /collections/{id}/chunks?limit=20": f"{API}/collections/{collection}/chunks"
                                                     "?limit=20",
        }
        process = psutil.Process(server.pid)
        results = {}
        for name, path in routes.items():
            for _ in range(50):  # warm-up: caches, compiled statements
                client.get(path).raise_for_status()
            before, began = _cpu(process), time.perf_counter()
            for _ in range(args.requests):
                client.get(path)
            results[name] = ((_cpu(process) - before) / args.requests * 1000,
                             (time.perf_counter() - began) / args.requests * 1000)
    health = results["/healthz"][0]
    print(f"{'route':40s} {'server CPU ms':>14s} {'x healthz':>10s} {'wall ms':>8s}")
    for name, (cpu, wall) in results.items():
        print(f"{name:40s} {cpu:14.3f} {cpu / health:10.2f} {wall:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

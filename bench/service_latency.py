"""Service latency: `POST /preview` under 20 concurrent clients, and the first WebSocket event.

Preview: a 100 KB markdown document (the bench corpus's markdown, concatenated) is previewed by
`--clients` concurrent clients, each with its own connection, `--requests` times each. Every
request changes the text by one trailing line, so every request misses the preview cache and
really chunks 100 KB (a round of cache hits of one text, put in the cache by one request first,
is reported separately). Each client is made and connected before its round is timed.
Targets: p99 < 300 ms, no errors.

WebSocket: a collection of small documents; the client starts an operation and at once opens
the operation's socket; the time from the start request's answer to the first event (the
`running` state the job publishes when it starts) is measured `--ws-rounds` times. Target: < 1 s.

    python bench/service_latency.py [--clients 20] [--requests 10] [--ws-rounds 5]
    (set CHUNKYARD_DATABASE_URL and CHUNKYARD_REDIS_URL to measure the PostgreSQL + Redis mode;
     a `chunkyard worker` must then run against the same settings)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from service_common import Server, percentile, running_server

DOC_BYTES = 100_000


def hundred_kb_markdown() -> str:
    parts: list[str] = []
    total = 0
    for _name, data in corpus.load("markdown", corpus.build(verbose=False)):
        text = data.decode("utf-8")
        parts.append(text)
        total += len(text.encode())
        if total >= DOC_BYTES:
            break
    return "\n\n".join(parts).encode()[:DOC_BYTES].decode("utf-8", errors="ignore")


async def preview_round(
    server: Server, text: str, clients: int, requests: int, *, vary: bool
) -> tuple[list[float], int]:
    """Latencies of `clients` x `requests` previews. The client does as little as it can (the
    body is serialised once and only its variant suffix changes; answers are not parsed), so
    that on a 2-core machine the measurement is the server's time, not the client's.

    Every client is made, and has its keep-alive connection open (a GET /healthz), before
    the first preview is timed: making an httpx client costs ~17 ms of CPU (its TLS context),
    and 20 of them made inside the round would stall the one event loop all the clients
    share for ~0.35 s, timed into the first requests as if the server were slow."""
    latencies: list[float] = []
    errors = 0
    # The JSON body up to the end of the text; each request appends its variant and the rest.
    head = json.dumps({"text": text})[:-2].encode()
    tail = json.dumps({"strategy": "markdown", "params": {"chunk_size": 512},
                       "filename": "bench.md", "max_chunks": 20})[1:].encode()
    headers = {**server.headers, "Content-Type": "application/json"}

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in range(requests):
            variant = f"\\n\\nvariant {number}-{i}-{time.time_ns()}" if vary else ""
            body = head + variant.encode() + b'",' + tail
            started = time.perf_counter()
            response = await http.post("/api/v1/preview", content=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors += 1

    async with contextlib.AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60)
            )
            for _ in range(clients)
        ]
        await asyncio.gather(*(http.get("/healthz") for http in https))
        await asyncio.gather(*(client(n, http) for n, http in enumerate(https)))
    return latencies, errors


async def first_event_latency(server: Server, rounds: int) -> list[float]:
    async with httpx.AsyncClient(base_url=server.base, headers=server.headers,
                                 timeout=60) as http:
        collection = (await http.post(
            "/api/v1/collections", json={"name": f"ws-bench-{time.time_ns()}"}
        )).json()
        files = [("files", (f"d{i}.md", f"# Doc {i}\n\nSome text {i}.\n".encode() * 200,
                            "text/markdown")) for i in range(5)]
        await http.post(f"/api/v1/collections/{collection['id']}/documents", files=files)
        results: list[float] = []
        for i in range(rounds):
            # A new configuration each round, so the documents are really re-chunked.
            config = {"strategy": "recursive", "params": {"chunk_size": 100 + i}}
            started = time.perf_counter()
            response = await http.post(
                f"/api/v1/collections/{collection['id']}/operations", json={"config": config}
            )
            answered = time.perf_counter()
            operation = response.json()
            url = f"{server.ws_base}/api/v1/operations/{operation['id']}/ws"
            async with websockets.connect(
                url, additional_headers=server.headers, open_timeout=10
            ) as ws:
                json.loads(await ws.recv())
                results.append(time.perf_counter() - answered)
                async for message in ws:  # drain to the final event
                    if json.loads(message)["type"] != "progress":
                        break
            del started
        return results


async def main_async(args: argparse.Namespace) -> None:
    text = hundred_kb_markdown()
    with running_server() as server:
        # Warm-up: load the tokenizer and the code paths once.
        await preview_round(server, text, 2, 2, vary=True)
        latencies, errors = await preview_round(
            server, text, args.clients, args.requests, vary=True
        )
        # The unvaried text was never previewed: put it in the cache first, or the round's
        # first request from every client is a miss (20 identical previews computed at once)
        # and its p99 measures those, not cached answers.
        await preview_round(server, text, 1, 1, vary=False)
        cached, cached_errors = await preview_round(
            server, text, args.clients, args.requests, vary=False
        )
        ws = await first_event_latency(server, args.ws_rounds)
    n = len(latencies)
    print(f"preview, {len(text.encode()):,} bytes, {args.clients} clients x {args.requests} "
          f"requests, cache missed every time:")
    print(f"  p50 {percentile(latencies, 0.5) * 1000:.0f} ms  p95 "
          f"{percentile(latencies, 0.95) * 1000:.0f} ms  p99 "
          f"{percentile(latencies, 0.99) * 1000:.0f} ms  max {max(latencies) * 1000:.0f} ms  "
          f"errors {errors}/{n}   target p99 < 300 ms")
    print(f"preview, cached: p99 {percentile(cached, 0.99) * 1000:.0f} ms  "
          f"errors {cached_errors}/{len(cached)}")
    print(f"first WebSocket event after the start request: max {max(ws) * 1000:.0f} ms, "
          f"median {percentile(ws, 0.5) * 1000:.0f} ms over {len(ws)} operations   "
          "target < 1000 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--ws-rounds", type=int, default=5)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

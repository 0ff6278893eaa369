"""End-to-end chunking throughput of the service against `chunkyard chunk --jobs 1`, same files.

The files: `--docs` markdown documents of `--kb` KB each (default 1,000 x 50 KB = 50 MB), cut
at line ends from the bench corpus's markdown (built offline by bench/corpus.py), written to a
temporary folder. Measured in one run:

- `chunkyard chunk --jobs 1 --strategy markdown` over all files, output to a file;
- the service in its scaled mode: a fresh PostgreSQL database, Redis, and `chunkyard worker`
  with `--workers` processes; the documents are uploaded first (not timed), then one operation
  is timed from its start request until `GET /operations/{id}` says it completed;
- the embedded mode (SQLite, in-process jobs), timed the same way (`--no-embedded` skips it).

It prints both throughputs in MB/s and the ratio service / CLI (target: >= 0.7 for the
PostgreSQL + Redis + Celery mode).

    python bench/service_throughput.py [--docs 1000] [--kb 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from service_common import Server, chunkyard_exe, running_server

POSTGRES_ADMIN_URL = os.environ.get(
    "CHUNKYARD_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CHUNKYARD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CONFIG = {"strategy": "markdown", "params": {"chunk_size": 512}}


def write_documents(folder: Path, count: int, size: int) -> list[Path]:
    """`count` markdown files of about `size` bytes, cut at line ends from the corpus."""
    source = "\n\n".join(
        data.decode("utf-8")
        for _name, data in corpus.load("markdown", corpus.build(verbose=False))
    )
    paths: list[Path] = []
    position = 0
    for i in range(count):
        if position + size >= len(source):
            position = 0
        end = source.find("\n", position + size)
        end = len(source) if end < 0 else end
        path = folder / f"doc{i:04d}.md"
        # A first line of its own: the corpus repeats when it is shorter than the total, and
        # the service refuses duplicate content in a collection.
        path.write_text(f"<!-- document {i} -->\n{source[position:end]}", encoding="utf-8")
        paths.append(path)
        position = end + 1
    return paths


def time_cli(paths: list[Path], out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [chunkyard_exe(), "chunk", *map(str, paths), "--strategy", "markdown",
         "--param", "chunk_size=512", "--jobs", "1", "-o", str(out)],
        check=True,
    )
    return time.perf_counter() - started


def upload_all(server: Server, paths: list[Path]) -> str:
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=300) as http:
        collection = http.post(
            "/api/v1/collections", json={"name": "throughput", "config": CONFIG}
        ).json()
        for start in range(0, len(paths), 50):
            files = [("files", (p.name, p.read_bytes(), "text/markdown"))
                     for p in paths[start:start + 50]]
            response = http.post(f"/api/v1/collections/{collection['id']}/documents",
                                 files=files)
            response.raise_for_status()
        return str(collection["id"])


def time_operation(server: Server, collection_id: str) -> tuple[float, dict[str, object]]:
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=60) as http:
        started = time.perf_counter()
        operation = http.post(f"/api/v1/collections/{collection_id}/operations", json={}).json()
        while True:
            state = http.get(f"/api/v1/operations/{operation['id']}").json()
            if state["status"] not in ("pending", "running"):
                return time.perf_counter() - started, state
            time.sleep(0.1)


async def _admin(*statements: str) -> None:
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def scaled_mode(paths: list[Path], workers: int) -> tuple[float, dict[str, object]]:
    name = f"chunkyard_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    env = {
        "CHUNKYARD_DATABASE_URL": database_url,
        "CHUNKYARD_REDIS_URL": REDIS_URL,
        "CHUNKYARD_QUEUE": f"bench-{secrets.token_hex(4)}",
    }
    try:
        with running_server(env) as server:
            log = Path(server.env["CHUNKYARD_DATA_DIR"]) / "worker.log"
            with open(log, "wb") as out:
                worker = subprocess.Popen(
                    [chunkyard_exe(), "worker", "--concurrency", str(workers)],
                    env=server.env, stdout=out, stderr=subprocess.STDOUT,
                )
            try:
                collection_id = upload_all(server, paths)
                wait_for_worker(worker, log)  # the operation is timed, not the worker's start
                return time_operation(server, collection_id)
            finally:
                worker.terminate()
                worker.wait(timeout=60)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def wait_for_worker(worker: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker consumes its queue (Celery logs "ready.")."""
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def embedded_mode(paths: list[Path]) -> tuple[float, dict[str, object]]:
    with running_server() as server:
        collection_id = upload_all(server, paths)
        return time_operation(server, collection_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-embedded", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chunkyard-throughput-") as tmp:
        folder = Path(tmp)
        paths = write_documents(folder, args.docs, args.kb * 1000)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{len(paths)} markdown documents, {megabytes:.1f} MB")
        cli = time_cli(paths, folder / "cli.jsonl")
        print(f"chunkyard chunk --jobs 1: {cli:.1f} s, {megabytes / cli:.2f} MB/s")
        scaled, state = scaled_mode(paths, args.workers)
        print(f"service, PostgreSQL + Redis + {args.workers} Celery worker processes: "
              f"{scaled:.1f} s, {megabytes / scaled:.2f} MB/s, ratio {cli / scaled:.2f}x "
              f"(target >= 0.7)  [{state['status']}, {state['documents_done']} documents, "
              f"{state['chunks_created']} chunks]")
        if not args.no_embedded:
            embedded, state = embedded_mode(paths)
            print(f"service, embedded (SQLite, in-process): {embedded:.1f} s, "
                  f"{megabytes / embedded:.2f} MB/s, ratio {cli / embedded:.2f}x  "
                  f"[{state['status']}, {state['chunks_created']} chunks]")


if __name__ == "__main__":
    main()

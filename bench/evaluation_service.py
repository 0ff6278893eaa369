"""The service path of `bench/retrieval.py`: the same configurations scored by the API's
evaluation job (`POST /collections/{id}/evaluations`) on the shared set, next to the library
path, and the job's time.

Usage::

    python bench/evaluation_service.py                       # static model, 3 configurations
    python bench/evaluation_service.py --model local         # all-MiniLM-L6-v2 (the table's)
    python bench/retrieval.py --service --model local        # the same, from retrieval.py

What runs: `chunkyard serve`'s app (the embedded default: SQLite, jobs in process, chunking
and embedding in its capped job processes) on a fresh data directory, from outside over HTTP.
The three corpora are uploaded, the 276 questions imported from the shared CSV, and one
evaluation of every configuration started and polled to its end. The library path is
`bench/retrieval.py`'s `evaluate` on `chunkyard.chunk_text`'s chunks with the same model. The
job's time is the server's (`created_at` to `finished_at`), the whole flow's is the client's
(upload and import not included). Target: the two paths equal to 3 decimals; 3 configurations
in under 60 s with the static model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from retrieval import (
    DATA_DIR,
    EmbeddingCache,
    chunkyard_chunker,
    embed_for_retrieval,
    evaluate,
    load_corpora,
    load_questions,
)
from service_common import running_server

DEFAULT_CONFIGS = "recursive 256,recursive 400,character 400"


def parse_configs(text: str) -> list[dict[str, Any]]:
    """"strategy size,..." -> service configurations (cl100k, no overlap, as the table)."""
    out = []
    for item in text.split(","):
        strategy, size = item.split()
        out.append({"strategy": strategy, "params": {
            "chunk_size": int(size), "chunk_overlap": 0, "tokenizer": "cl100k"}})
    return out


def library_rows(configs: list[dict[str, Any]], model: str, k: int) -> list[dict[str, float]]:
    corpora = load_corpora(DATA_DIR)
    questions = load_questions(DATA_DIR)
    cache = EmbeddingCache()
    question_vectors = embed_for_retrieval(cache, [q.text for q in questions], model)
    rows = []
    for config in configs:
        params = {key: v for key, v in config["params"].items()
                  if key not in ("tokenizer", "chunk_overlap")}
        chunker = chunkyard_chunker(config["strategy"], **params)()
        spans = {name: chunker(text, f"{name}.md") for name, text in corpora.items()}
        row = evaluate(config["strategy"], spans, corpora, questions, question_vectors, cache,
                       k, model)
        rows.append({"recall": row.recall, "precision": row.precision, "iou": row.iou,
                     "chunks": row.chunks})
    return rows


def service_rows(configs: list[dict[str, Any]], model: str, k: int
                 ) -> tuple[list[dict[str, Any]], float, float]:
    """The evaluation's results, the job's seconds (server clock), the flow's (client's)."""
    env = {"CHUNKYARD_OPERATION_MEMORY_MB": "3000"} if model == "local" else {}
    with running_server(env) as server, httpx.Client(
            base_url=server.base, timeout=120,
            headers={"Authorization": f"Bearer {server.token}"}) as client:
        collection = client.post("/api/v1/collections", json={"name": "evaluation"}).json()
        files = [("files", (p.name, p.read_bytes(), "text/markdown"))
                 for p in sorted((DATA_DIR / "corpora").glob("*.md"))]
        uploaded = client.post(f"/api/v1/collections/{collection['id']}/documents",
                               files=files)
        uploaded.raise_for_status()
        imported = client.post(
            f"/api/v1/collections/{collection['id']}/questions/import",
            files={"file": ("questions.csv", (DATA_DIR / "questions.csv").read_bytes(),
                            "text/csv")})
        imported.raise_for_status()
        began = time.perf_counter()
        started = client.post(f"/api/v1/collections/{collection['id']}/evaluations",
                              json={"configs": configs, "k": k, "embedding_model": model})
        started.raise_for_status()
        evaluation_id = started.json()["id"]
        while True:
            body = client.get(f"/api/v1/evaluations/{evaluation_id}").json()
            if body["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        flow = time.perf_counter() - began
    if body["status"] != "completed":
        sys.exit(f"the evaluation {body['status']}: {body['error']}")
    job = (datetime.fromisoformat(body["finished_at"])
           - datetime.fromisoformat(body["created_at"])).total_seconds()
    return body["results"], job, flow


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["static", "local"], default="static")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help='comma-separated "strategy size" items')
    args = parser.parse_args(argv)
    configs = parse_configs(args.configs)
    results, job, flow = service_rows(configs, args.model, args.k)
    library = library_rows(configs, args.model, args.k)
    print(f"{len(configs)} configurations, 276 questions, top {args.k}, model {args.model}")
    print(f"{'config':16} {'chunks':>12} {'recall':>15} {'precision':>15} {'IoU':>15}  equal")
    same_everywhere = True
    for config, got, want in zip(configs, results, library, strict=True):
        name = f"{config['strategy']} {config['params']['chunk_size']}"
        same = all(round(got[m], 3) == round(want[m], 3) for m in ("recall", "precision", "iou"))
        same = same and got["chunks"] == want["chunks"]
        same_everywhere &= same
        print(f"{name:16} {got['chunks']:>5}/{want['chunks']:<6} "
              + " ".join(f"{got[m]:.4f}/{want[m]:.4f}" for m in ("recall", "precision", "iou"))
              + f"  {'yes' if same else 'NO'}")
    print(f"service/library equal to 3 decimals: {'yes' if same_everywhere else 'NO'}")
    print(f"evaluation job: {job:.1f} s on the server ({job / len(configs):.1f} s per "
          f"configuration); start to result over HTTP: {flow:.1f} s "
          f"(target with the static model: under 60 s for 3)")
    return 0 if same_everywhere else 1


if __name__ == "__main__":
    sys.exit(main())

"""What `semantic` costs, measured on the whole `chunkyard chunk` process.

Two targets (issue 11), both timed in the same run, interleaved, best of `--runs`:

1. `semantic` with its default embedding model (the bundled static model) takes at most 8x the
   time of `recursive` on 2 MB of prose (`chunkyard chunk FILE -o OUT` for both).
2. `semantic` with all-MiniLM-L6-v2 (`embedding_model=local`) reaches at least 0.8x the
   throughput of the model's own `encode` on the same sentences: a process that loads the
   model and encodes the sentences the strategy embeds (its sentence split, saved to a file
   beforehand) and nothing else. On `--minilm-bytes` of the same prose, since the transformer
   runs at ~60 KB/s here.

The prose is the `prose` kind of the benchmark corpus (`bench/corpus.py`: text that ships on
this machine, built offline), concatenated in its manifest order and cut at 2,000,000 bytes.

    python bench/semantic_speed.py [--runs 3] [--mb 2] [--minilm-bytes 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from cli_jobs import chunkyard_command

ENCODE_ONLY = r"""
import json, os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer
from chunkyard.embedding import default_model_path
sentences = json.load(open(sys.argv[1], encoding="utf-8"))
model = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
vectors = model.encode(sentences, batch_size=64, convert_to_numpy=True,
                       normalize_embeddings=True, show_progress_bar=False)
print(len(vectors))
"""


def prose(size: int) -> str:
    corpus.build(verbose=False)
    files = sorted((corpus.CORPUS_DIR / "prose").iterdir())
    parts, total = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        parts.append(text)
        total += len(text.encode("utf-8"))
        if total >= size:
            break
    data = "\n\n".join(parts).encode("utf-8")[:size]
    return data.decode("utf-8", errors="ignore")


def timed(cmd: list[str]) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    started = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} ... failed: {done.stderr.strip()[-500:]}")
    return elapsed


def best(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved: a burst of outside load hits every row alike
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    return {name: min(values) for name, values in times.items()}


def line(label: str, ratio: float, target: str, ok: bool) -> str:
    return f"{label:58} {ratio:6.2f}x   target {target:8} {'PASS' if ok else 'MISS'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--minilm-bytes", type=int, default=50_000)
    parser.add_argument("--skip-minilm", action="store_true")
    args = parser.parse_args()
    exe = chunkyard_command()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp, "prose.txt")
        big.write_text(prose(int(args.mb * 1_000_000)), encoding="utf-8")
        out = str(Path(tmp, "out.jsonl"))
        times = best({
            "recursive": [*exe, "chunk", str(big), "--strategy", "recursive", "-o", out],
            "semantic": [*exe, "chunk", str(big), "--strategy", "semantic", "-o", out],
        }, args.runs)
        results.update({f"{k}_s": v for k, v in times.items()})
        slow = times["semantic"] / times["recursive"]
        print(f"{big.stat().st_size:,} bytes of prose; best of {args.runs}: recursive "
              f"{times['recursive']:.2f} s, semantic (static model) {times['semantic']:.2f} s")
        print(line("semantic (default model) time / recursive time", slow, "<= 8.0",
                   slow <= 8.0))
        results["semantic_over_recursive"] = slow

        if not args.skip_minilm:
            from chunkyard.core.sentences import split_sentences

            small = Path(tmp, "small.txt")
            text = prose(args.minilm_bytes)
            small.write_text(text, encoding="utf-8")
            sentences = Path(tmp, "sentences.json")
            sentences.write_text(json.dumps([text[s:e] for s, e in split_sentences(text)]))
            times = best({
                "semantic_minilm": [*exe, "chunk", str(small), "--strategy", "semantic",
                                    "--param", "embedding_model=local", "-o", out],
                "encode_only": [sys.executable, "-c", ENCODE_ONLY, str(sentences)],
            }, args.runs)
            ratio = times["encode_only"] / times["semantic_minilm"]
            print(f"{small.stat().st_size:,} bytes; best of {args.runs}: semantic with MiniLM "
                  f"{times['semantic_minilm']:.2f} s, MiniLM encode only "
                  f"{times['encode_only']:.2f} s")
            print(line("semantic (MiniLM) throughput / MiniLM encode throughput", ratio,
                       ">= 0.8", ratio >= 0.8))
            results.update({f"{k}_s": v for k, v in times.items()})
            results["minilm_semantic_over_encode"] = ratio
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "semantic_speed.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

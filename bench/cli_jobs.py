"""Time `chunkyard chunk --jobs 1` against `--jobs N` over many 1 MB files and print the ratio.

The files are generated prose (deterministic, seeded), written to a temporary folder; the
output goes to a file in that folder so that the terminal is not part of the measurement.
Each configuration runs `--repeat` times and the best time counts, which filters out noise
from other processes on the machine.

    python bench/cli_jobs.py [--files 40] [--mb 1] [--jobs 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their can has been if more when "
    "will would who so no river mountain chunk token paragraph sentence retrieval document "
    "index vector model search embedding window boundary structure heading section table"
)
WORDS = _WORDS.split(" ")


def make_text(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    total = 0
    while total < size:
        sentences = []
        for _ in range(rng.randint(2, 7)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 28))]
            sentences.append(" ".join(words).capitalize() + rng.choice(".!?."))
        paragraph = " ".join(sentences)
        parts.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(parts)[:size]


def chunkyard_command() -> list[str]:
    exe = shutil.which("chunkyard", path=os.path.dirname(sys.executable)) or shutil.which(
        "chunkyard"
    )
    if exe is None:
        sys.exit("the chunkyard console script is not installed (pip install -e .)")
    return [exe]


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed: {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--mb", type=float, default=1.0, help="size of each file in MB")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--strategy", default="recursive")
    args = parser.parse_args()

    rng = random.Random(20240601)
    with tempfile.TemporaryDirectory(prefix="chunkyard-bench-") as tmp:
        paths = []
        for i in range(args.files):
            path = os.path.join(tmp, f"doc{i:03d}.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(make_text(rng, int(args.mb * 1_000_000)))
            paths.append(path)
        total_mb = sum(os.path.getsize(p) for p in paths) / 1e6
        out = os.path.join(tmp, "out.jsonl")
        base = [*chunkyard_command(), "chunk", *paths, "--strategy", args.strategy, "-o", out]

        times: dict[int, float] = {}
        for jobs in (1, args.jobs):
            best = min(run([*base, "--jobs", str(jobs)]) for _ in range(args.repeat))
            times[jobs] = best
            print(
                f"--jobs {jobs}: {best:.2f} s  ({total_mb / best:.1f} MB/s over "
                f"{args.files} files, {total_mb:.0f} MB)"
            )
        ratio = times[1] / times[args.jobs]
        print(f"speed-up --jobs {args.jobs} vs --jobs 1: {ratio:.2f}x (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()

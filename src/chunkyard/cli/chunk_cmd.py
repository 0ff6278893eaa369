"""`chunkyard chunk`: stream the chunks of one or more files as JSONL, a JSON array or text.

Output is written chunk by chunk as the strategies produce them and never held whole in
memory. With `--jobs N` the files are chunked in N worker processes; each worker writes its
file's records to a temporary file and the parent copies those to the output in input order.

Writing costs little next to chunking: a UTF-8 output (a file, or a UTF-8 stdout) takes
records as bytes, encoded by orjson when the input is large enough for it to pay for its
import (and by the standard library otherwise, with the same compact separators, so the
bytes are the same either way); the process pool and its modules are imported only for
`--jobs` above 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TextIO

from chunkyard.cli.common import describe, error, is_utf8, params_for, parse_params
from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk
from chunkyard.extract import ExtractionError, extract_file

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

FORMATS = ("jsonl", "json", "text")
COPY_BUFFER = 1 << 20
OUTPUT_BUFFER = 1 << 20
# Input this large (bytes, all files) makes orjson's import (~15 ms) worth it.
ORJSON_MIN_BYTES = 1 << 20
# Files in flight per worker: enough that no worker waits while the parent writes in order.
WINDOW = 4


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "chunk",
        parents=parents,
        help="chunk files and write the chunks (JSONL by default)",
        description=textwrap.fill(
            "Chunk one or more files and stream the chunks to stdout or a file. JSONL (the "
            "default) writes one object per chunk per line with index, text, start, end, "
            "tokens, metadata and source (the path as given). A file that fails is reported "
            "and the others are still chunked; the exit code is then 1.", 79),
        epilog="examples:\n"
        "  chunkyard chunk notes.md --strategy markdown --param chunk_size=256\n"
        "  chunkyard chunk docs/*.txt --jobs 4 -o chunks.jsonl\n\n" + textwrap.fill(
            "--param values are parsed as JSON when they parse (256, 0.5, true, [1,2]) and "
            "kept as text otherwise; a repeated key keeps its last value. "
            "STRATEGY.KEY=VALUE applies only when that strategy runs.", 79),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="files to chunk")
    p.add_argument("--strategy", default="recursive", metavar="NAME",
                   help="chunking strategy (default: recursive); see `chunkyard strategies`")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy parameter, e.g. chunk_size=256; repeatable")
    p.add_argument("--format", choices=FORMATS, default="jsonl",
                   help="jsonl (default): one JSON object per line; json: one JSON array; "
                   "text: human-readable")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="chunk files in N worker processes; output keeps the input order "
                   "(default: 1)")
    p.set_defaults(handler=run)


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# --------------------------------------------------------------------------- formatting


Encoder = Callable[[dict[str, Any]], bytes]


def _stdlib_encoder(ensure_ascii: bool) -> Encoder:
    def encode(data: dict[str, Any]) -> bytes:
        line = json.dumps(data, ensure_ascii=ensure_ascii, separators=(",", ":"))
        try:
            return line.encode()
        except UnicodeEncodeError:  # a lone surrogate (from a PDF, say): escape it
            return json.dumps(data, separators=(",", ":")).encode()

    return encode


def json_encoder(ensure_ascii: bool, input_bytes: int) -> Encoder:
    """Compact JSON as UTF-8 bytes: orjson for large inputs when the output takes UTF-8.

    Both give the same bytes for what a chunk holds (text, numbers, lists, objects); what
    orjson refuses (a lone surrogate, an integer over 64 bits) goes to the standard library,
    and a record that UTF-8 cannot hold (a lone surrogate) is written ASCII-escaped.
    """
    fallback = _stdlib_encoder(ensure_ascii)
    if ensure_ascii or input_bytes < ORJSON_MIN_BYTES:
        return fallback
    try:
        import orjson
    except ImportError:  # pragma: no cover - a dependency; the standard library still works
        return fallback
    dumps, refused = orjson.dumps, orjson.JSONEncodeError

    def encode(data: dict[str, Any]) -> bytes:
        try:
            return dumps(data)
        except refused:
            return fallback(data)

    return encode


class Formatter:
    """Frames records for one output format; `first` is whether nothing was written before."""

    def __init__(self, fmt: str, ensure_ascii: bool, input_bytes: int = 0) -> None:
        self.fmt = fmt
        self.ensure_ascii = ensure_ascii
        self.input_bytes = input_bytes
        self.encode = json_encoder(ensure_ascii, input_bytes)

    def begin(self) -> str:
        return "[" if self.fmt == "json" else ""

    def end(self, wrote_any: bool) -> str:
        if self.fmt == "json":
            return "\n]\n" if wrote_any else "]\n"
        return ""

    def joiner(self) -> str:
        """What goes between the last record already written and a next block of records
        that was formatted as if it came first (the workers' output)."""
        return "," if self.fmt == "json" else ""

    def record(self, chunk: Chunk, source: str, first: bool) -> bytes:
        """One record as UTF-8 bytes (pure ASCII when `ensure_ascii`)."""
        if self.fmt == "text":
            return _text_record(chunk, source).encode("utf-8", "backslashreplace")
        line = self.encode({
            "index": chunk.index, "text": chunk.text, "start": chunk.start, "end": chunk.end,
            "tokens": chunk.tokens, "metadata": chunk.metadata, "source": source,
        })
        if self.fmt == "jsonl":
            return line + b"\n"
        return (b"\n  " if first else b",\n  ") + line


def _text_record(chunk: Chunk, source: str) -> str:
    meta = chunk.metadata
    extra = ""
    if meta.get("headings"):
        extra += " | " + " > ".join(str(h) for h in meta["headings"])
    if "page" in meta:
        extra += f" | page {meta['page']}"
    header = (
        f"=== {source} #{chunk.index} [{chunk.start}:{chunk.end}] {chunk.tokens} tokens"
        f"{extra} ==="
    )
    return f"{header}\n{chunk.text}\n\n"


class Output:
    """The output stream, written as bytes: its binary buffer when it takes UTF-8 (a file
    we opened, a UTF-8 stdout), else its text layer, decoding the (ASCII or UTF-8) bytes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        raw = getattr(out, "buffer", None)
        self.raw: IO[bytes] | None = raw if raw is not None and is_utf8(out) else None
        if self.raw is not None:
            out.flush()  # anything already written through the text layer goes first

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.raw is not None:
            self.raw.write(data)
        else:
            self.out.write(data.decode("utf-8"))

    def copy_file(self, path: str) -> None:
        """Append a worker's UTF-8 output file."""
        import shutil

        if self.raw is not None:
            with open(path, "rb") as raw:
                shutil.copyfileobj(raw, self.raw, COPY_BUFFER)
            return
        with open(path, encoding="utf-8", newline="") as src:
            shutil.copyfileobj(src, self.out, COPY_BUFFER)

    def flush(self) -> None:
        if self.raw is not None:
            self.raw.flush()
        self.out.flush()


class Sink:
    """Writes formatted records and counts them, so framing survives a failed file."""

    def __init__(self, formatter: Formatter, out: Output | IO[bytes]) -> None:
        self.formatter = formatter
        self.write = out.write
        self.written = 0

    def put(self, chunk: Chunk, source: str) -> None:
        self.write(self.formatter.record(chunk, source, self.written == 0))
        self.written += 1


def write_file_chunks(path: str, strategy: str, params: dict[str, Any], sink: Sink) -> None:
    """Extract `path`, chunk it and write its records as they come.

    A file that fails halfway keeps the records written before the error, with `--jobs 1`
    and `--jobs N` alike.
    """
    doc = extract_file(path)
    record, write = sink.formatter.record, sink.write
    for chunk in iter_chunks(doc, strategy, params):
        write(record(chunk, path, sink.written == 0))
        sink.written += 1


# --------------------------------------------------------------------------- workers


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker reports for one file; `error` is the one-line message, if it failed."""

    path: str
    chunks: int
    output: str | None
    error: str | None = None
    trace: str | None = None


def file_error(path: str, exc: BaseException) -> str:
    message = describe(exc)
    # Extraction errors already start with the path; strategy errors do not.
    if isinstance(exc, ExtractionError) or message.startswith(f"{path}:"):
        return message
    return f"{path}: {message}"


def chunk_to_temp(
    path: str, strategy: str, params: dict[str, Any], fmt: str, ensure_ascii: bool,
    output: str, debug: bool, input_bytes: int = 0,
) -> Outcome:
    """Worker entry point (top level, so spawned processes can import it)."""
    with open(output, "wb", buffering=OUTPUT_BUFFER) as out:
        sink = Sink(Formatter(fmt, ensure_ascii, input_bytes), out)
        try:
            write_file_chunks(path, strategy, params, sink)
        except Exception as exc:
            trace = traceback.format_exc() if debug else None
            return Outcome(path, sink.written, output, file_error(path, exc), trace)
    return Outcome(path, sink.written, output)


# --------------------------------------------------------------------------- progress


class Progress:
    """`[####----] 3/40 files  12.5 MB/s` redrawn in place on a terminal's stderr."""

    WIDTH = 24

    def __init__(self, paths: list[str], stream: TextIO) -> None:
        self.total = len(paths)
        self.sizes = [_size(p) for p in paths]
        self.stream = stream
        self.done = 0
        self.bytes_done = 0
        self.started = time.monotonic()
        self.shown = False

    def advance(self, index: int) -> None:
        self.done += 1
        self.bytes_done += self.sizes[index]
        self.draw()

    def draw(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes_done / elapsed / 1e6
        filled = self.WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} files  {rate:.1f} MB/s")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (self.WIDTH + 40) + "\r")
            self.stream.flush()
            self.shown = False


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# --------------------------------------------------------------------------- command


def run(args: argparse.Namespace) -> int:
    parsed = parse_params(args.param)
    params = params_for(args.strategy, parsed)
    # One check up front, so a bad strategy or parameter is one error rather than one per file.
    create_strategy(args.strategy, params)

    paths: list[str] = list(args.files)
    sizes = [_size(p) for p in paths]
    progress = (
        Progress(paths, sys.stderr) if len(paths) > 1 and sys.stderr.isatty() else None
    )
    if args.output:
        try:
            stream: TextIO = open(  # noqa: SIM115
                args.output, "w", encoding="utf-8", newline="\n", buffering=OUTPUT_BUFFER)
        except OSError as exc:
            error(f"{args.output}: cannot write ({exc.strerror or exc})")
            return 1
    else:
        stream = sys.stdout
        if not is_utf8(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    out = Output(stream)
    formatter = Formatter(args.format, not is_utf8(stream), sum(sizes))
    try:
        out.write(formatter.begin())
        if args.jobs > 1 and len(paths) > 1:
            failed, wrote = _run_parallel(args, paths, params, formatter, out, progress)
        else:
            failed, wrote = _run_serial(args, paths, params, formatter, out, progress)
        out.write(formatter.end(wrote))
        out.flush()
    finally:
        if progress is not None:
            progress.clear()
        if stream is not sys.stdout:
            stream.close()
    return 1 if failed else 0


def _file_failed(message: str, trace: str | None, progress: Progress | None) -> None:
    if progress is not None:
        progress.clear()
    if trace:
        sys.stderr.write(trace)
    error(message)


def _run_serial(
    args: argparse.Namespace, paths: list[str], params: dict[str, Any], formatter: Formatter,
    out: Output, progress: Progress | None,
) -> tuple[int, bool]:
    failed = 0
    sink = Sink(formatter, out)
    for i, path in enumerate(paths):
        if progress is not None:
            progress.clear()  # the bar may share the terminal with the output
        try:
            write_file_chunks(path, args.strategy, params, sink)
        except BrokenPipeError:
            raise  # the reader of our output is gone: stop, this is not the file's fault
        except Exception as exc:
            failed += 1
            trace = traceback.format_exc() if args.debug else None
            _file_failed(file_error(path, exc), trace, progress)
        if progress is not None:
            out.flush()
            progress.advance(i)
    return failed, sink.written > 0


def _run_parallel(
    args: argparse.Namespace, paths: list[str], params: dict[str, Any], formatter: Formatter,
    out: Output, progress: Progress | None,
) -> tuple[int, bool]:
    import tempfile
    from collections import deque
    from collections.abc import Iterator
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from chunkyard.core.sizing import get_tokenizer

    workers = min(args.jobs, len(paths))
    failed = 0
    wrote = False
    # Loaded before the workers start, so that forked workers inherit it ready to use.
    get_tokenizer(create_strategy(args.strategy, params).params.tokenizer)
    formatter.encode({})  # likewise the JSON encoder's import
    with tempfile.TemporaryDirectory(prefix="chunkyard-") as tmp, ProcessPoolExecutor(
        max_workers=workers, mp_context=mp_context()
    ) as pool:
        todo: Iterator[tuple[int, str]] = iter(enumerate(paths))
        # A bounded window keeps finished-but-unwritten temporary files few.
        pending: deque[tuple[int, str, Future[Outcome]]] = deque()

        def submit_next() -> None:
            for i, path in todo:
                output = os.path.join(tmp, f"{i}.out")
                pending.append((i, path, pool.submit(
                    chunk_to_temp, path, args.strategy, params, formatter.fmt,
                    formatter.ensure_ascii, output, args.debug, formatter.input_bytes,
                )))
                return

        for _ in range(workers * WINDOW):
            submit_next()
        while pending:
            i, path, future = pending.popleft()
            try:
                outcome = future.result()
            except BrokenProcessPool:
                # Every other file in flight is lost with the pool: report them all.
                lost = [(i, path)] + [(j, q) for j, q, _ in pending] + list(todo)
                for j, q in lost:
                    failed += 1
                    _file_failed(f"{q}: a worker process died (out of memory or killed) "
                                 "before this file was chunked", None, progress)
                    if progress is not None:
                        progress.advance(j)
                break
            except Exception as exc:  # e.g. the worker could not create its temporary file
                outcome = Outcome(path, 0, None, file_error(path, exc))
            submit_next()
            if progress is not None:
                progress.clear()
            if outcome.chunks and outcome.output:
                if wrote:
                    out.write(formatter.joiner())
                out.copy_file(outcome.output)
                wrote = True
            if outcome.error is not None:
                failed += 1
                _file_failed(outcome.error, outcome.trace, progress)
            if outcome.output:
                _remove(outcome.output)
            if progress is not None:
                out.flush()
                progress.advance(i)
    return failed, wrote


def mp_context() -> BaseContext:
    """How worker processes start: fork where that is safe, else spawn.

    Forked workers inherit the imported library and the loaded tokenizer, saving each one
    the ~0.4 s a spawned worker spends importing and loading. Fork is only safe on Linux
    from a parent with no other threads (a thread pool copied into a child never runs);
    everywhere else workers are spawned, which the worker entry point supports as well.
    """
    import threading
    from multiprocessing import get_context

    if sys.platform == "linux" and threading.active_count() == 1:
        return get_context("fork")
    return get_context("spawn")


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)

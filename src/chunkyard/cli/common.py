"""What every command shares: `--param` parsing, one-line error reporting, output streams."""

from __future__ import annotations

import json
import sys
import traceback
from typing import TYPE_CHECKING, Any, TextIO

from chunkyard.core.types import ChunkingError

if TYPE_CHECKING:
    from chunkyard.settings import Settings

PROG = "chunkyard"


class UsageError(Exception):
    """A bad command line the parser could not catch; reported in one line, exit code 2."""


def error(message: str, stream: TextIO | None = None) -> None:
    """Print `chunkyard: error: <message>` as a single line on stderr."""
    one_line = " ".join(message.split()) or "unknown error"
    print(f"{PROG}: error: {one_line}", file=stream or sys.stderr, flush=True)


def report(exc: BaseException, debug: bool, prefix: str = "") -> None:
    """Report an exception: the traceback with `--debug`, then always the one-line error."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    error(prefix + describe(exc))


def describe(exc: BaseException) -> str:
    """A message for the user: a domain error's own text, a bug's type and text."""
    from chunkyard.core.types import ChunkingError

    if isinstance(exc, ChunkingError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"


def parse_value(raw: str) -> Any:
    """A `--param` value: JSON when it parses (numbers, booleans, lists, objects), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_params(pairs: list[str] | None) -> list[tuple[str, str, Any]]:
    """`KEY=VALUE` or `STRATEGY.KEY=VALUE` pairs as `(strategy or "", key, value)`, in order.

    A key is targeted at one strategy only when the part before its first dot is a strategy
    name, so dotted keys of other kinds pass through unchanged.
    """
    from chunkyard.core.registry import strategy_names

    parsed: list[tuple[str, str, Any]] = []
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {pair!r} must be KEY=VALUE (for example chunk_size=256)")
        target, dot, rest = key.partition(".")
        if dot and target in strategy_names():
            if not rest:
                raise UsageError(f"--param {pair!r} names no parameter after {target!r}")
            parsed.append((target, rest, parse_value(raw)))
        else:
            parsed.append(("", key, parse_value(raw)))
    return parsed


def params_for(strategy: str, parsed: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """The parameters for `strategy`: shared ones and those targeted at it; the last one wins."""
    params: dict[str, Any] = {}
    for target, key, value in parsed:
        if not target or target == strategy:
            params[key] = value
    return params


def dump_json(value: Any, stream: TextIO) -> None:
    json.dump(value, stream, ensure_ascii=not is_utf8(stream), indent=2)
    stream.write("\n")


def is_utf8(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding == "utf8"


def load_settings() -> Settings:
    """The settings from the environment; invalid ones as one `ChunkingError` line."""
    from pydantic import ValidationError

    from chunkyard.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = []
        for problem in exc.errors():
            message = str(problem["msg"]).removeprefix("Value error, ")
            field = ".".join(str(part) for part in problem["loc"])
            problems.append(f"CHUNKYARD_{field.upper()}: {message}" if field else message)
        raise ChunkingError("invalid settings: " + "; ".join(problems)) from exc

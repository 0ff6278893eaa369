"""The `chunkyard` entry point: the argument parser and one-line error handling.

Exit codes: 0 success, 1 an error (bad file, strategy or parameter; with several files, any
failed file), 2 a usage error, 130 interrupted.

Start-up is part of every command's cost: a command's module is imported only when that
command runs (`chunkyard chunk` never imports the service, its settings or the database), and
the full parser, with every command, is built only for `--help`, a missing or an unknown
command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from chunkyard.cli.common import PROG, UsageError, error, report

# Each command: the module under chunkyard.cli that defines it, and its function adding it
# (a module adding several commands is listed under each of them).
COMMANDS: dict[str, tuple[str, str]] = {
    "chunk": ("chunk_cmd", "add_parser"),
    "strategies": ("info_cmd", "add_parsers"),
    "recommend": ("info_cmd", "add_parsers"),
    "compare": ("info_cmd", "add_parsers"),
    "db": ("db_cmd", "add_parsers"),
    "partitions": ("db_cmd", "add_parsers"),
    "users": ("users_cmd", "add_parsers"),
    "api-keys": ("users_cmd", "add_parsers"),
    "serve": ("serve_cmd", "add_parser"),
    "worker": ("worker_cmd", "add_parser"),
    "maintenance": ("maintenance_cmd", "add_parsers"),
    "scheduler": ("maintenance_cmd", "add_parsers"),
}


def _version() -> str:
    from chunkyard import __version__

    return __version__


class _Version(argparse.Action):
    """`--version`, reading the version only when asked (argparse's own formats it eagerly)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with a known `command`, only that command's module is imported."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Chunk documents into retrieval-ready pieces with exact offsets and a "
        "hard token cap.",
        epilog="Run `chunkyard COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action=_Version)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = [COMMANDS[command]] if command in COMMANDS else list(COMMANDS.values())
    for module_name, adder in dict.fromkeys(chosen):
        module = importlib.import_module(f"chunkyard.cli.{module_name}")
        getattr(module, adder)(subparsers, [common])
    return parser


def _command_of(args: list[str]) -> str | None:
    """The command word (the first argument that is not an option), if any."""
    return next((a for a in args if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(args_list))
    try:
        args, extra = parser.parse_known_args(args_list)
        if args.command is None:
            parser.error("a command is required (see --help)")
        if args.command == "chunk":
            # Files given after an option (`chunk a.txt --jobs 2 b.txt`) are still files.
            args.files += [e for e in extra if not e.startswith("-")]
            extra = [e for e in extra if e.startswith("-")]
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2

    debug = bool(getattr(args, "debug", False))
    try:
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        error(str(exc))
        return 2
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`chunkyard chunk big.txt | head`): stop quietly.
        _silence_stdout()
        return 1
    except Exception as exc:
        report(exc, debug)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())

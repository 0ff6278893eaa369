"""The `chunkyard` entry point: the argument parser and one-line error handling.

Exit codes: 0 success, 1 an error (bad file, strategy or parameter; with several files, any
failed file), 2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chunkyard import __version__
from chunkyard.cli import chunk_cmd, db_cmd, info_cmd, serve_cmd, users_cmd, worker_cmd
from chunkyard.cli.common import PROG, UsageError, error, report


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Chunk documents into retrieval-ready pieces with exact offsets and a "
        "hard token cap.",
        epilog="Run `chunkyard COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chunk_cmd.add_parser(subparsers, [common])
    info_cmd.add_parsers(subparsers, [common])
    db_cmd.add_parsers(subparsers, [common])
    users_cmd.add_parsers(subparsers, [common])
    serve_cmd.add_parser(subparsers, [common])
    worker_cmd.add_parser(subparsers, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
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

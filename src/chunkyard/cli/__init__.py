"""The `chunkyard` command line: chunk files, list strategies, recommend and compare."""

from chunkyard.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

"""docs/deploy.md and docs/runbook.md name only what exists: every `chunkyard` command line of
their code blocks is one the installed parser takes, and every deploy/ file they name ships."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from chunkyard.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "deploy.md", ROOT / "docs" / "runbook.md"]
COMMAND = re.compile(r"^(?:\S*/bin/)?chunkyard (.+)$")
INLINE = re.compile(r"`chunkyard ([^`]+)`")


def command_lines(doc: Path) -> list[str]:
    """The `chunkyard ...` invocations of the document: its code blocks' lines (comments cut
    off) and its inline code."""
    found, inside = [], False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            if match := COMMAND.match(line.split(" #", 1)[0].strip()):
                found.append(match[1].strip())
        else:
            found += INLINE.findall(line)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_command_in_the_docs_parses(doc: Path) -> None:
    lines = command_lines(doc)
    assert lines, f"{doc.name} shows no chunkyard command"
    for line in lines:
        words = shlex.split(line)
        try:
            args = build_parser(words[0]).parse_args(words)
        except SystemExit:
            pytest.fail(f"{doc.name}: `chunkyard {line}` is not a command the parser takes")
        assert callable(args.handler), line


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_deploy_file_named_ships(doc: Path) -> None:
    named = set(re.findall(r"`(deploy/[\w./@-]+?)`", doc.read_text(encoding="utf-8")))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, missing

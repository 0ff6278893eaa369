"""The README's command reference and the installed parser agree: every `chunkyard ...` line
of its code blocks names commands and options that exist, and every command and option the
parser has is on some line."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from chunkyard.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
# Taken by every command and described once, above the reference.
EVERYWHERE = {"-h", "--help", "--debug"}
_OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings} - EVERYWHERE


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
            ) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    children = _children(parser)
    if not children:
        return {path: parser}
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, child in children.items():
        found |= _leaves(child, (*path, name))
    return found


def _reference_lines() -> list[str]:
    """The `chunkyard ...` lines of the README's code blocks, comments cut off."""
    lines, inside = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and line.startswith("chunkyard "):
            lines.append(line.split("  #", 1)[0].split(" # ", 1)[0].rstrip(" &"))
    return lines


def _documented() -> dict[tuple[str, ...], set[str]]:
    """Each command path the README shows, with the options shown on its lines."""
    parser = build_parser()
    documented: dict[tuple[str, ...], set[str]] = {}
    for line in _reference_lines():
        node, path = parser, ()
        words = line.split()[1:]
        while _children(node):
            word = next((w for w in words if not w.startswith(("-", "["))), None)
            assert word in _children(node), (
                f"README: {line!r}: {word!r} is not a command of `chunkyard {' '.join(path)}` "
                f"(it has {sorted(_children(node))})")
            node, path = _children(node)[word], (*path, word)
            words = words[words.index(word) + 1:]
        shown = set(_OPTION.findall(" ".join(words)))
        unknown = shown - _options(node) - EVERYWHERE
        assert not unknown, f"README: {line!r}: no such option {sorted(unknown)}"
        documented.setdefault(path, set()).update(shown)
    return documented


def test_every_readme_command_line_names_real_commands_and_options() -> None:
    assert len(_reference_lines()) >= 10
    _documented()


@pytest.mark.parametrize("path", sorted(_leaves(build_parser())), ids=" ".join)
def test_every_command_and_option_is_in_the_readme(path: tuple[str, ...]) -> None:
    documented = _documented()
    assert path in documented, f"README has no line for `chunkyard {' '.join(path)}`"
    leaf = _leaves(build_parser())[path]
    # An option is shown by any of its spellings (`-o OUT` for `-o/--output`).
    missing = [a.option_strings[-1] for a in leaf._actions
               if a.option_strings and not set(a.option_strings) & (documented[path] | EVERYWHERE)]
    assert not missing, f"README: `chunkyard {' '.join(path)}` does not show {sorted(missing)}"

"""Source code awareness: language by file extension, and top-level definitions as a level.

The definition level lets code strategies end chunks where a top-level function, class or
type begins, before falling back to blank lines and single lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chunkyard.core.levels import (
    CLAUSE,
    LINE,
    PARAGRAPH,
    PROSE_LEVELS,
    WORD,
    Level,
    heading_level,
)
from chunkyard.core.types import Document

# Line starts that open a top-level definition, per language. Each pattern is anchored right
# after a newline and uses plain alternations, so matching is linear.
_DEFINITION_STARTS: dict[str, str] = {
    "python": r"(?:async[ \t]+def|def|class|@)\b|@",
    "javascript": r"(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?"
                  r"(?:function|class|const|let|var)\b",
    "typescript": r"(?:export[ \t]+)?(?:default[ \t]+)?(?:declare[ \t]+)?(?:abstract[ \t]+)?"
                  r"(?:async[ \t]+)?"
                  r"(?:function|class|const|let|var|interface|type|enum|namespace)\b",
    "go": r"(?:func|type|var|const)\b",
    "rust": r"(?:pub(?:\([a-z]+\))?[ \t]+)?(?:async[ \t]+)?(?:unsafe[ \t]+)?"
            r"(?:fn|struct|enum|impl|trait|mod|const|static|type|macro_rules!)|#\[",
    "java": r"(?:public|private|protected|abstract|final|class|interface|enum|record|@)",
    "csharp": r"(?:public|private|protected|internal|static|class|interface|enum|namespace|\[)",
    "kotlin": r"(?:fun|class|object|interface|data|sealed|enum|val|var|@)\b",
    "swift": r"(?:func|class|struct|enum|protocol|extension|let|var|@)\b",
    "ruby": r"(?:def|class|module)\b",
    "php": r"(?:function|class|interface|trait|abstract|final)\b",
    "scala": r"(?:def|class|object|trait|case)\b",
}
# Any line starting in column 0 with a word character: a fair guess for other languages.
_GENERIC = r"[A-Za-z_]"


def _definition_level(language: str | None) -> Level:
    pattern = re.compile(r"\n(?=" + _DEFINITION_STARTS.get(language or "", _GENERIC) + ")")
    decorator = "@" if language == "python" else ("#[" if language == "rust" else None)

    def boundaries(text: str, lo: int, hi: int) -> Iterator[int]:
        for m in pattern.finditer(text, lo, min(len(text), hi + 1)):
            b = m.start()
            if b > hi:
                break
            # Keep a decorator/attribute with the definition it decorates.
            if decorator is not None:
                line_start = text.rfind("\n", 0, b) + 1
                if text.startswith(decorator, line_start):
                    continue
            yield b

    def last(text: str, lo: int, hi: int) -> int:
        best = -1
        for b in boundaries(text, lo, hi):
            best = b
        return best

    def first(text: str, lo: int, hi: int) -> int:
        return next(boundaries(text, lo, hi), -1)

    return Level("definition", last, first)


def code_levels(language: str | None) -> tuple[Level, ...]:
    """Definition > blank line > line > clause > word, for source code."""
    return (_definition_level(language), PARAGRAPH, LINE, CLAUSE, WORD)


def levels_for(doc: Document) -> tuple[Level, ...]:
    """The levels a generic splitter should use for `doc`: code definitions for source code,
    the extractor's headings (HTML, DOCX) above the prose levels, else the prose levels."""
    if doc.kind == "code":
        return code_levels(doc.language)
    if doc.headings:
        return (heading_level([h.start for h in doc.headings]), *PROSE_LEVELS)
    return PROSE_LEVELS

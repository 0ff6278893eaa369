"""Content sniffing: is a text markdown, source code or prose, and why (for `hybrid`, `recommend`).

The signals come from one pass over the lines of the first 64 KB, with simple string tests
(no regex that could backtrack), so sniffing costs the same on any input:

- markdown: ATX headings, fenced code blocks, table delimiter rows, list items, block quotes
  and inline links, all counted outside fences;
- code: lines (outside fences) ending in `{`, `;` or `:`, or starting with a keyword such as
  `def`, `class`, `function`, `import`, `return`; definitions (`def`, `class`, `function`,
  `fn`, `func`, ...) counted apart; a `#!` first line.

The document's kind and language (which the caller takes from the extractor or from a file
name) are stronger signals than content and win; the reason still quotes the content counts
so that a user can judge the choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chunkyard.core.languages import language_of_word

# How much of the text is sniffed; the rest of a long document is assumed to be alike.
SNIFF_CHARS = 64 * 1024

KINDS = ("markdown", "code", "prose")

# Share of non-blank lines that must look like code (with at least one definition) for a
# text without a telling extension to be treated as source code.
CODE_LINE_SHARE = 0.3

_DEFINITION_WORDS = (
    "def", "class", "function", "fn", "func", "fun", "struct", "interface", "impl", "trait",
    "enum", "module", "namespace", "async def", "pub fn", "export function", "export class",
    "export default", "public class",
)
_CODE_WORDS = (
    *_DEFINITION_WORDS, "import", "from", "return", "package", "public", "private",
    "protected", "static", "const", "let", "var", "using", "if", "for", "while", "else",
)
_CODE_PREFIXES = ("#include", "#define", "}", "@", "//", "/*")


def _words(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `words` at the start of a line, followed by a space, `(`, `:`, `{` or `<`."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(r"(?:" + alternatives + r")(?=[ (:{<]|$)")


_KEYWORD = _words(_CODE_WORDS)
_DEFINITION = _words(_DEFINITION_WORDS)
_LINK = re.compile(r"\]\([^()\s]+\)")


@dataclass(frozen=True, slots=True)
class Signals:
    """What one pass over the head of a text found (all counted outside fenced code)."""

    lines: int = 0  # non-blank lines, fenced content included
    headings: int = 0
    fences: int = 0
    tables: int = 0
    list_items: int = 0
    quotes: int = 0
    links: int = 0
    code_lines: int = 0
    definitions: int = 0
    shebang: bool = False
    truncated: bool = False

    @property
    def scope(self) -> str:
        return "in the first 64 KB" if self.truncated else "in the text"

    def looks_like_markdown(self) -> bool:
        if self.fences or self.tables or self.headings >= 2:
            return True
        return self.headings == 1 and self.list_items + self.quotes + self.links >= 2

    def looks_like_code(self) -> bool:
        if self.shebang:
            return True
        return (self.definitions >= 1 and self.code_lines >= 3
                and self.code_lines >= CODE_LINE_SHARE * self.lines)

    def markdown_lines(self) -> int:
        return self.headings + self.fences * 2 + self.tables + self.list_items + self.quotes

    def markdown_summary(self) -> str:
        parts = [
            _plural(self.headings, "heading"),
            _plural(self.fences, "fenced code block"),
            _plural(self.tables, "table"),
        ]
        if not any(parts):
            parts = [_plural(self.list_items, "list item"), _plural(self.quotes, "quoted line"),
                     _plural(self.links, "link")]
        found = [p for p in parts if p]
        return f"{_join(found) or 'no markdown structure'} {self.scope}"

    def code_summary(self) -> str:
        text = (f"{self.code_lines} of {self.lines} non-blank lines {self.scope} look like "
                f"code, {_plural(self.definitions, 'definition') or 'no definitions'}")
        return text + (", and a #! line" if self.shebang else "")


def scan(text: str) -> Signals:
    """Count markdown and code signals in the first `SNIFF_CHARS` characters of `text`."""
    head = text[:SNIFF_CHARS]
    lines = headings = fences = tables = list_items = quotes = links = 0
    code_lines = definitions = 0
    fence = ""  # the open fence's marker run, "" outside fences
    for line in head.splitlines():
        body = line.lstrip(" ")
        stripped = body.strip()
        if not stripped:
            continue
        lines += 1
        indent = len(line) - len(body)
        if fence:
            if indent <= 3 and _closes(body, fence):
                fence = ""
            continue
        marker = _fence_marker(body) if indent <= 3 else ""
        if marker:
            fence = marker
            fences += 1
            continue
        if indent <= 3:
            if _is_heading(body):
                headings += 1
            elif _is_table_delimiter(body):
                tables += 1
            elif body.startswith(">"):
                quotes += 1
            elif _is_list_item(body):
                list_items += 1
        if _LINK.search(body):
            links += 1
        if (stripped.endswith(("{", ";", ":")) or stripped.startswith(_CODE_PREFIXES)
                or _KEYWORD.match(stripped)):
            code_lines += 1
        if _DEFINITION.match(stripped):
            definitions += 1
    return Signals(lines, headings, fences, tables, list_items, quotes, links, code_lines,
                   definitions, shebang=head.startswith("#!"), truncated=len(text) > SNIFF_CHARS)


def sniff(text: str, *, kind: str | None = None, language: str | None = None,
          name: str | None = None) -> tuple[str, str]:
    """The kind of `text` ("markdown", "code" or "prose") and a sentence saying why.

    `kind` is the document's (`Document.kind`, or what the caller judged from a file name)
    and `language` its programming language; both outrank content. `name` only words the
    reason. HTML, PDF and DOCX text is prose: their structure is already kept as heading and
    page metadata.
    """
    signals = scan(text)
    name = name.rsplit("/", 1)[-1] if name else None
    if kind == "markdown":
        what = f"{name} is a markdown file" if name else "a markdown document"
        return "markdown", f"markdown: {what}; {signals.markdown_summary()}"
    if kind == "code" or language:
        what = (f"{name} is {language} source by its extension" if name and language
                else "a source code document")
        return "code", f"code: {what}; {signals.code_summary()}"
    if kind in ("html", "pdf", "docx"):
        return "prose", (f"prose: text extracted from {kind.upper()}, whose headings and "
                         "pages are kept as metadata")
    code, markdown = signals.looks_like_code(), signals.looks_like_markdown()
    if code and (not markdown or signals.code_lines >= signals.markdown_lines()):
        return "code", f"code: {signals.code_summary()}"
    if markdown:
        return "markdown", f"markdown: {signals.markdown_summary()}"
    return "prose", (f"prose: no markdown headings, fences or tables and no code signals "
                     f"{signals.scope} ({_plural(signals.lines, 'non-blank line') or 'empty'})")


def fence_language(info: str) -> str | None:
    """The language named by a fence's info string (```` ```py ```` -> "python"), or None."""
    word = info.strip().split(" ", 1)[0].strip("{}.").lower()
    return language_of_word(word) if word else None


@dataclass(frozen=True, slots=True)
class Fence:
    """A fenced code block `[start, end)`: from its opening line to the end of its closing one."""

    start: int
    end: int
    info: str


def fenced_blocks(text: str, lo: int = 0, hi: int | None = None) -> list[Fence]:
    """Top-level fenced code blocks of `text[lo:hi]`; an unclosed fence runs to `hi`."""
    hi = len(text) if hi is None else hi
    blocks: list[Fence] = []
    pos = lo
    open_at, marker, info = -1, "", ""
    while pos < hi:
        nl = text.find("\n", pos, hi)
        line_end = hi if nl < 0 else nl
        nxt = hi if nl < 0 else nl + 1
        line = text[pos:line_end].rstrip("\r")
        body = line.lstrip(" ")
        if len(line) - len(body) <= 3:
            if marker:
                if _closes(body, marker):
                    blocks.append(Fence(open_at, line_end, info))
                    marker = ""
            else:
                found = _fence_marker(body)
                if found:
                    open_at, marker, info = pos, found, body[len(found):].strip()
        pos = nxt
    if marker:
        blocks.append(Fence(open_at, hi, info))
    return blocks


def _fence_marker(body: str) -> str:
    """The run of 3+ backticks or tildes opening a fence at the start of `body`, or ""."""
    for char in "`~":
        if body.startswith(char * 3):
            run = body[: len(body) - len(body.lstrip(char))]
            # A backtick fence's info string may not contain backticks (CommonMark).
            if char == "`" and "`" in body[len(run):]:
                return ""
            return run
    return ""


def _closes(body: str, marker: str) -> bool:
    """Whether a line (indent removed) closes a fence opened with `marker`."""
    return body.startswith(marker) and not body.rstrip().strip(marker[0])


def _is_heading(body: str) -> bool:
    hashes = len(body) - len(body.lstrip("#"))
    return 1 <= hashes <= 6 and (len(body) == hashes or body[hashes] in " \t")


def _is_table_delimiter(body: str) -> bool:
    """A GFM table delimiter row such as `|---|:--:|` or `--- | ---`."""
    row = body.strip()
    if "|" not in row or "-" not in row:
        return False
    cells = [c.strip() for c in row.strip("|").split("|")]
    return all(c and "-" in c and not c.strip(":-") for c in cells)


def _is_list_item(body: str) -> bool:
    if body[0] in "-*+":
        return len(body) > 1 and body[1] in " \t"
    digits = len(body) - len(body.lstrip("0123456789"))
    return 1 <= digits <= 9 and body[digits:digits + 2] in (". ", ") ")


def _plural(n: int, word: str) -> str:
    if n == 0:
        return ""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]

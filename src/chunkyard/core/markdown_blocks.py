"""Markdown block structure with exact offsets: headings, fences, tables, lists, quotes, HTML.

One pass over the lines. Every per-line test is a bounded string operation on that line
(`find`, `startswith`, `lstrip`, ...), never a regular expression that could backtrack, and a
line is examined at most a few times, so parsing is linear in the text whatever it contains.

This is not a full CommonMark parser: it finds where blocks start and end, closely enough to
chunk on them, and ignores inline markup. Headings inside block quotes and list items are part
of those blocks, not section headings; `#` lines inside fenced code are code.

No library fits (`python bench/handwritten_parsers.py`: 4 MB of markdown): markdown-it-py,
the CommonMark peer, is 10x slower with its block rules alone and 15-20x in full, and gives
only line ranges (`token.map`), not the character offsets chunks are cut at; it stayed linear
on the bench's adversarial inputs, so speed and offsets decide.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from chunkyard.core.sizing.base import WHITESPACE
from chunkyard.core.types import Heading

# Block kinds, as recorded in chunk metadata (`block_types`).
HEADING = "heading"
CODE = "code"
TABLE = "table"
LIST = "list"
QUOTE = "quote"
HTML = "html"
HR = "hr"
PARAGRAPH = "paragraph"
FRONT_MATTER = "front_matter"

# Line-start classes returned by `_start_kind`.
_FENCE, _ATX, _HR, _BULLET, _ORDERED, _QUOTE, _HTML = (
    "fence", "atx", "hr", "bullet", "ordered", "quote", "html"
)
# Tags whose HTML block runs to the closing tag rather than to a blank line (CommonMark type 1).
_RAW_TAGS = ("script", "pre", "style", "textarea")
_DELIMITER_CHARS = str.maketrans("", "", "|:- \t\r")
# First characters of a line that may make it more than paragraph text (whitespace included:
# an indented line or a blank one needs a closer look).
_SPECIAL_FIRST = frozenset("#`~*-_+>=<|0123456789\n") | WHITESPACE


@dataclass(slots=True)
class Block:
    """One block: `text[start:end]` runs from its first to its last non-blank character.

    `level`/`title` are set for headings, `info` is a fence's info string, and `marks` holds
    the offsets of preferred inner split points (line starts), best first: top-level then
    nested list items, or paragraph breaks inside a block quote.
    """

    kind: str
    start: int
    end: int
    level: int = 0
    title: str = ""
    info: str = ""
    marks: tuple[list[int], ...] = ()


def parse_blocks(text: str, lo: int = 0, hi: int | None = None) -> list[Block]:
    """The blocks of `text[lo:hi]` in source order, offsets absolute; blank lines belong to none.

    Every non-blank line lies inside exactly one block, so the blocks cover all non-whitespace
    text of the range.
    """
    # The parser allocates a Block per block and no reference cycles: with the cyclic
    # collector paused, a million blocks cost the same in a process holding a big heap as in
    # an empty one (otherwise each full collection walks that heap: 10x the text took 13-19x
    # the time beside 3 million live objects, 10x without them).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _Parser(text, lo, len(text) if hi is None else hi).run()
    finally:
        if paused:
            gc.enable()


def markdown_headings(text: str) -> list[Heading]:
    """The section headings of a markdown text (ATX and setext, outside fences, quotes and
    lists), each `start` at its first character: the `headings` of every markdown Document.

    Taken from `parse_blocks`, so the headings a recursive split sees are exactly the ones the
    markdown strategy cuts at (two parsers once disagreed). An ATX heading with no title is
    no section.
    """
    return [Heading(b.start, b.level, b.title)
            for b in parse_blocks(text) if b.kind == HEADING and b.title]


def _indent_columns(line: str, lead: int) -> int:
    """Columns of the first `lead` characters (spaces and tabs; a tab stops every 4)."""
    if lead == 0 or "\t" not in line[:lead]:
        return lead
    return len(line[:lead].expandtabs(4))


def _is_blank(stripped: str) -> bool:
    return not stripped or stripped.isspace()


def _is_thematic_break(s: str) -> bool:
    c = s[0]
    return not s.strip(c + " \t\r") and s.count(c) >= 3


def _start_kind(s: str) -> str:
    """What block the line opens, given the line without its (under 4 columns) indentation."""
    c = s[0]
    if c == "#":
        head = s[:8]
        run = len(head) - len(head.lstrip("#"))
        if run <= 6 and (run == len(s) or s[run] in " \t\r"):
            return _ATX
        return ""
    if c in "`~":
        if not s.startswith(c * 3):
            return ""
        if c == "`":
            run = len(s) - len(s.lstrip("`"))
            # A backtick fence's info string cannot contain a backtick (that is inline code).
            if "`" in s[run:]:
                return ""
        return _FENCE
    if c in "*-_" and _is_thematic_break(s):
        return _HR
    if c in "-*+":
        return _BULLET if len(s) == 1 or s[1] in " \t\r" else ""
    if c == ">":
        return _QUOTE
    if "0" <= c <= "9":
        digits = len(s[:10]) - len(s[:10].lstrip("0123456789"))
        if digits <= 9 and len(s) > digits and s[digits] in ".)" and (
            len(s) == digits + 1 or s[digits + 1] in " \t\r"
        ):
            return _ORDERED
        return ""
    if c == "<" and len(s) > 1 and ((s[1].isascii() and s[1].isalpha()) or s[1] in "/!?"):
        return _HTML
    return ""


def _marker(item: str) -> str:
    """The kind of a list item's marker: its bullet character, or `.`/`)` for ordered items."""
    c = item[0]
    return c if c in "-*+" else item[len(item[:10]) - len(item[:10].lstrip("0123456789"))]


def _is_delimiter_row(line: str) -> bool:
    """A GFM table delimiter row such as `| --- | :-: |` (it must contain a `|`)."""
    if "|" not in line or "-" not in line or line.translate(_DELIMITER_CHARS):
        return False
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") else row
    for cell in row.split("|"):
        cell = cell.strip(" \t").strip(":")
        if not cell or cell.strip("-"):
            return False
    return True


def atx_title(rest: str) -> str:
    """The title of an ATX heading from the text after its `#`s, closing `#`s removed."""
    title = rest.strip()
    unclosed = title.rstrip("#")
    if not unclosed:
        return ""
    if unclosed != title and unclosed[-1] in " \t":
        return unclosed.rstrip()
    return title


class _Parser:
    def __init__(self, text: str, lo: int, hi: int) -> None:
        self.text = text
        self.lo = lo
        self.hi = hi
        self.blocks: list[Block] = []

    def line_at(self, pos: int) -> tuple[int, str]:
        """(offset of the line's end, without the newline; the line's text)."""
        nl = self.text.find("\n", pos, self.hi)
        if nl < 0:
            nl = self.hi
        return nl, self.text[pos:nl]

    def run(self) -> list[Block]:
        pos = self.front_matter(self.lo) if self.lo == 0 else self.lo
        hi = self.hi
        text = self.text
        find = text.find
        while pos < hi:
            if text[pos] == "\n":
                pos += 1
                continue
            nl = find("\n", pos, hi)
            if nl < 0:
                nl = hi
            line = text[pos:nl]
            stripped = line.lstrip(" \t")
            if not stripped or stripped.isspace():
                pos = nl + 1
                continue
            lead = len(line) - len(stripped)
            cols = _indent_columns(line, lead) if lead else 0
            if cols >= 4:
                pos = self.indented_code(pos)
                continue
            kind = _start_kind(stripped)
            start = pos + lead
            if kind == _ATX:
                run = len(stripped) - len(stripped.lstrip("#"))
                self.blocks.append(Block(HEADING, start, pos + len(line.rstrip()), level=run,
                                         title=atx_title(stripped[run:])))
                pos = nl + 1
            elif kind == _FENCE:
                pos = self.fence(pos, nl, stripped, start)
            elif kind == _HR:
                self.blocks.append(Block(HR, start, pos + len(line.rstrip())))
                pos = nl + 1
            elif kind in (_BULLET, _ORDERED):
                pos = self.list_block(pos, nl, line, start, cols)
            elif kind == _QUOTE:
                pos = self.quote(pos, nl, line, stripped, start)
            elif kind == _HTML:
                pos = self.html(pos, nl, line, stripped, start)
            elif "|" in stripped and self.delimiter_follows(nl):
                pos = self.table(nl, start)
            else:
                pos = self.paragraph(pos, nl, line, start)
        return self.blocks

    def delimiter_follows(self, nl: int) -> bool:
        """Whether the line after the one ending at `nl` is a table delimiter row."""
        if nl + 1 >= self.hi:
            return False
        _, line = self.line_at(nl + 1)
        stripped = line.lstrip(" \t")
        return _indent_columns(line, len(line) - len(stripped)) < 4 and _is_delimiter_row(line)

    def front_matter(self, pos: int) -> int:
        """A leading YAML front matter block (`---` ... `---` or `...`); returns where to go on."""
        nl, line = self.line_at(pos)
        if line.rstrip() != "---":
            return pos
        p = nl + 1
        while p < self.hi:
            nl2, line2 = self.line_at(p)
            if line2.rstrip() in ("---", "..."):
                self.blocks.append(Block(FRONT_MATTER, pos, p + len(line2.rstrip())))
                return nl2 + 1
            p = nl2 + 1
        return pos

    def indented_code(self, pos: int) -> int:
        """Lines indented 4+ columns (and blank lines between them)."""
        start = -1
        end = pos
        while pos < self.hi:
            nl, line = self.line_at(pos)
            stripped = line.lstrip(" \t")
            if not _is_blank(stripped):
                lead = len(line) - len(stripped)
                if _indent_columns(line, lead) < 4:
                    break
                if start < 0:
                    start = pos + lead
                end = pos + len(line.rstrip())
            pos = nl + 1
        self.blocks.append(Block(CODE, start, end))
        return pos

    def fence(self, pos: int, nl: int, stripped: str, start: int) -> int:
        """A fenced code block; an unclosed fence runs to the end of the range.

        Only lines holding the fence string are looked at (found with `str.find`), so the
        cost is in the candidate closing lines, not in the code.
        """
        text, hi = self.text, self.hi
        c = stripped[0]
        run = len(stripped) - len(stripped.lstrip(c))
        fence = c * run
        info = stripped[run:].strip()
        body = nl + 1
        p = body
        while p < hi:
            k = text.find(fence, p, hi)
            if k < 0:
                break
            line_start = text.rfind("\n", body - 1, k) + 1
            line_end = text.find("\n", k, hi)
            if line_end < 0:
                line_end = hi
            lead = text[line_start:k]
            if not lead.strip(" \t") and _indent_columns(lead, len(lead)) < 4:
                rest = text[k:line_end].rstrip()
                if not rest.strip(c):
                    self.blocks.append(Block(CODE, start, k + len(rest), info=info))
                    return line_end + 1
            p = line_end + 1  # one look per line, however many fence strings it holds
        # Unclosed: to the last non-blank character of the range.
        tail = text[body:hi].rstrip() if body < hi else ""
        end = body + len(tail) if tail else start + len(stripped.rstrip())
        self.blocks.append(Block(CODE, start, end, info=info))
        return hi

    def table(self, nl: int, start: int) -> int:
        """Header row (ending at `nl`), delimiter row, then rows until a blank or pipe-less line."""
        pos = nl + 1
        nl, line = self.line_at(pos)  # the delimiter row
        end = pos + len(line.rstrip())
        pos = nl + 1
        while pos < self.hi:
            nl, line = self.line_at(pos)
            s = line.lstrip(" \t")
            if _is_blank(s) or "|" not in s or _start_kind(s) in (_FENCE, _ATX, _QUOTE):
                break
            end = pos + len(line.rstrip())
            pos = nl + 1
        self.blocks.append(Block(TABLE, start, end))
        return pos

    def paragraph(self, pos: int, nl: int, line: str, start: int) -> int:
        """Lines until a blank line or a line that interrupts a paragraph; may be setext."""
        text, hi = self.text, self.hi
        last, last_nl = pos, nl  # the last line taken
        pos = nl + 1
        while pos < hi:
            nl = text.find("\n", pos, hi)
            if nl < 0:
                nl = hi
            first = text[pos] if pos < nl else "\n"
            if first not in _SPECIAL_FIRST:
                # Starts with ordinary text: continues the paragraph unless a table starts.
                if text.find("|", pos, nl) >= 0 and self.delimiter_follows(nl):
                    break
                last, last_nl = pos, nl
                pos = nl + 1
                continue
            line = text[pos:nl]
            s = line.lstrip(" \t")
            if not s or s.isspace():
                break
            lead = len(line) - len(s)
            if _indent_columns(line, lead) < 4:
                r = s.rstrip()
                if r[0] in "=-" and not r.strip(r[0]):
                    text_end = last + len(text[last:last_nl].rstrip())
                    return self.setext(start, text_end, pos + lead + len(r),
                                       1 if r[0] == "=" else 2, nl)
                kind = _start_kind(s)
                if kind in (_FENCE, _ATX, _HR, _QUOTE) or (
                    (kind == _BULLET and len(r) > 1)
                    or (kind == _ORDERED and s.startswith(("1.", "1)")) and len(r) > 2)
                ):
                    break
                if "|" in s and self.delimiter_follows(nl):
                    break
            last, last_nl = pos, nl
            pos = nl + 1
        self.blocks.append(Block(PARAGRAPH, start, last + len(text[last:last_nl].rstrip())))
        return pos

    def setext(self, start: int, text_end: int, end: int, level: int, nl: int) -> int:
        title = self.text[start:text_end]
        title = (" ".join(part.strip() for part in title.split("\n")) if "\n" in title
                 else title.strip())
        self.blocks.append(Block(HEADING, start, end, level=level, title=title))
        return nl + 1

    def list_block(self, pos: int, nl: int, line: str, start: int, base: int) -> int:
        """Items and their continuation lines (indented, or lazy right after a text line).

        A top-level item with another marker (`-` vs `*`, `1.` vs `1)`) starts a new list.
        """
        text, hi = self.text, self.hi
        marker = _marker(line.lstrip(" \t"))
        top = [pos]
        nested: list[int] = []
        last, last_nl = pos, nl  # the last line taken
        pos = nl + 1
        blank = False
        fence = ""  # the open fence of a code block inside an item
        while pos < hi:
            nl = text.find("\n", pos, hi)
            if nl < 0:
                nl = hi
            if text[pos] not in _SPECIAL_FIRST:
                # Unindented ordinary text: lazy continuation, unless after a blank line.
                if blank or fence:
                    break
            else:
                line = text[pos:nl]
                s = line.lstrip(" \t")
                if not s or s.isspace():
                    blank = True
                    pos = nl + 1
                    continue
                lead = len(line) - len(s)
                cols = _indent_columns(line, lead)
                if fence:
                    # A line not indented into the item closes the item and its fence.
                    if cols <= base:
                        break
                    if s.startswith(fence) and not s.rstrip().strip(fence[0]):
                        fence = ""
                else:
                    kind = _start_kind(s)
                    if kind == _HR and cols < base + 2:
                        break
                    if kind in (_BULLET, _ORDERED):
                        if cols >= base + 2:
                            nested.append(pos)
                        elif _marker(s) == marker:
                            top.append(pos)
                        else:
                            break
                    elif cols > base:
                        if kind == _FENCE:
                            fence = s[: len(s) - len(s.lstrip(s[0]))]
                    elif (blank or kind in (_FENCE, _ATX, _QUOTE, _HTML, _HR)
                          or ("|" in s and self.delimiter_follows(nl))):
                        break
            blank = False
            last, last_nl = pos, nl
            pos = nl + 1
        end = last + len(text[last:last_nl].rstrip())
        self.blocks.append(Block(LIST, start, end, marks=(top[1:], nested)))
        return pos

    def quote(self, pos: int, nl: int, line: str, stripped: str, start: int) -> int:
        """`>` lines and lazy continuation lines; ends at a blank line."""
        breaks: list[int] = []
        end = pos + len(line.rstrip())
        after_break = _is_blank(stripped[1:])
        pos = nl + 1
        while pos < self.hi:
            nl, line = self.line_at(pos)
            s = line.lstrip(" \t")
            if _is_blank(s):
                break
            lead = len(line) - len(s)
            cols = _indent_columns(line, lead)
            if s[0] == ">" and cols < 4:
                if _is_blank(s[1:]):
                    after_break = True
                elif after_break:
                    breaks.append(pos)
                    after_break = False
            elif after_break or (cols < 4 and _start_kind(s) != ""):
                break
            end = pos + len(line.rstrip())
            pos = nl + 1
        self.blocks.append(Block(QUOTE, start, end, marks=(breaks,)))
        return pos

    def html(self, pos: int, nl: int, line: str, stripped: str, start: int) -> int:
        """An HTML block: to the line holding its end marker (comments, raw tags) or a blank."""
        text, hi = self.text, self.hi
        low = stripped[:12].lower()
        if low.startswith("<!--"):
            # A comment runs to the line holding `-->` (after the opener), blank lines and all.
            k = text.find("-->", start + 4, hi)
            last = hi if k < 0 else text.find("\n", k, hi)
            last = hi if last < 0 else last
            self.blocks.append(Block(HTML, start, start + len(text[start:last].rstrip())))
            return last + 1
        marker = ""
        for tag in _RAW_TAGS:
            n = len(tag) + 1
            if low.startswith("<" + tag) and (len(low) == n or low[n] in " \t\r>"):
                marker = "</" + tag + ">"
                break
        end = pos + len(line.rstrip())
        if marker and marker in line.lower():
            self.blocks.append(Block(HTML, start, end))
            return nl + 1
        pos = nl + 1
        while pos < hi:
            nl, line = self.line_at(pos)
            blank = _is_blank(line)
            if blank and not marker:
                break
            if not blank:
                end = pos + len(line.rstrip())
            pos = nl + 1
            if marker and marker in line.lower():
                break
        self.blocks.append(Block(HTML, start, end))
        return pos

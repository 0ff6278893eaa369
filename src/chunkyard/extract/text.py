"""Plain text, markdown and source code: the file's UTF-8 text unchanged, plus markdown headings."""

from __future__ import annotations

from chunkyard.core.types import Document, Heading
from chunkyard.extract.detect import language_for
from chunkyard.extract.errors import ExtractionError

_BOM = b"\xef\xbb\xbf"


def decode_utf8(data: bytes, label: str) -> str:
    """`data` decoded as strict UTF-8 with a leading BOM dropped and nothing else changed."""
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        # A memoryview slice skips the BOM without copying the bytes (they may be 100 MB).
        return str(memoryview(data)[skip:], "utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        byte = data[offset]
        raise ExtractionError(
            f"{label}: not valid UTF-8 at byte offset {offset} (byte 0x{byte:02x})"
        ) from None


def extract_text(data: bytes, filename: str, label: str, kind: str) -> Document:
    """A text, markdown or code document whose text is exactly the decoded file."""
    text = decode_utf8(data, label)
    if kind == "markdown":
        return Document(text, "markdown", filename, headings=markdown_headings(text))
    if kind == "code":
        return Document(text, "code", filename, language=language_for(filename))
    return Document(text, "text", filename)


def _columns(blanks: str) -> int:
    """The width of leading blanks; a tab advances to the next tab stop of 4."""
    columns = 0
    for char in blanks:
        columns += 1 if char == " " else 4 - columns % 4
    return columns


def _run(text: str, char: str) -> int:
    """How many times `char` repeats at the start of `text`."""
    return len(text) - len(text.lstrip(char))


def _atx_title(rest: str) -> str:
    """The title of an ATX heading from the text after its `#`s, closing `#`s removed."""
    title = rest.strip(" \t")
    unclosed = title.rstrip("#")
    if not unclosed:
        return ""
    if unclosed != title and unclosed[-1] in " \t":
        return unclosed.rstrip(" \t")
    return title


def _is_thematic_break(stripped: str) -> bool:
    if stripped[0] not in "*-_":
        return False
    marks = stripped.replace(" ", "").replace("\t", "")
    return len(marks) >= 3 and not marks.strip(stripped[0])


_CONTAINER_FIRST = frozenset(">-*+0123456789")


def _starts_container(stripped: str) -> bool:
    """Whether the line opens a block quote or list item (their paragraphs are not setext)."""
    first = stripped[0]
    if first == ">":
        return True
    if first in "-*+":
        return len(stripped) == 1 or stripped[1] in " \t"
    digits = _digits(stripped)
    if 1 <= digits <= 9 and len(stripped) > digits and stripped[digits] in ".)":
        return len(stripped) == digits + 1 or stripped[digits + 1] in " \t"
    return False


def _digits(text: str) -> int:
    count = 0
    for char in text[:10]:
        if not char.isascii() or not char.isdigit():
            break
        count += 1
    return count


def _front_matter_end(text: str) -> int:
    """Offset just past a leading YAML front matter block (`---` ... `---`), else 0."""
    first_end = text.find("\n")
    if first_end < 0 or text[:first_end].rstrip("\r \t") != "---":
        return 0
    pos = first_end + 1
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if text[pos:end].rstrip("\r \t") in ("---", "..."):
            return end + 1
        pos = end + 1
    return 0


def markdown_headings(text: str) -> list[Heading]:
    """ATX and setext headings outside fenced code, each `start` pointing at its first character.

    One pass over the lines and only bounded string scans per line, so the time is linear in
    the length of the text whatever it contains. Headings inside block quotes and list items
    are not reported (they are not at the start of a line).
    """
    headings: list[Heading] = []
    fence = ""  # the opening fence ("```", "~~~~", ...) while inside a fenced block
    para_start = -1  # offset of the open paragraph's first character, -1 when none
    para_setext = False  # whether an underline below the open paragraph makes it a heading
    pos = _front_matter_end(text)
    length = len(text)
    find = text.find
    while pos < length:
        newline = find("\n", pos)
        if newline < 0:
            newline = length
        line = text[pos:newline]
        line_start, pos = pos, newline + 1
        if line[-1:] == "\r":
            line = line[:-1]
        stripped = line.lstrip(" \t")
        indent_chars = len(line) - len(stripped)
        indent = indent_chars
        if indent_chars and "\t" in line[:indent_chars]:
            indent = _columns(line[:indent_chars])

        if fence:
            # A closing fence: same character, at least as long, nothing after it but blanks.
            if stripped.startswith(fence):
                run = _run(stripped, fence[0])
                if not stripped[run:].strip(" \t"):
                    fence = ""
            continue

        if not stripped:
            para_start = -1
            continue

        first = stripped[0]
        if first in "`~" and stripped.startswith(("```", "~~~")):
            run = _run(stripped, first)
            if first == "~" or "`" not in stripped[run:]:
                fence = first * run
                para_start = -1
                continue

        if indent >= 4:
            continue  # a paragraph continuation line, or else an indented code block

        if first == "#":
            run = _run(stripped, "#")
            if run <= 6 and (run == len(stripped) or stripped[run] in " \t"):
                title = _atx_title(stripped[run:])
                if title:
                    headings.append(Heading(line_start + indent_chars, run, title))
                para_start = -1
                continue

        underline = first in "=-" and para_start >= 0 and para_setext
        if underline and not stripped.rstrip(" \t").strip(first):
            title = " ".join(text[para_start:line_start].split())
            headings.append(Heading(para_start, 1 if first == "=" else 2, title))
            para_start = -1
            continue

        if first in "*-_" and _is_thematic_break(stripped):
            para_start = -1
            continue

        if first in _CONTAINER_FIRST and _starts_container(stripped):
            para_start, para_setext = line_start + indent_chars, False
        elif para_start < 0:
            para_start, para_setext = line_start + indent_chars, True
    return headings

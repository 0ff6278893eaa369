"""HTML to readable text with a linear-time tokenizer, keeping h1-h6 as headings.

No library fits (`python bench/handwritten_parsers.py`: 4 MB of HTML, best of 3 to 7 runs on
a loaded 2-core machine): `html.parser` is 1.5x slower and quadratic on unclosed tags (`<a`
repeated: 10x the time for 4x the input), lxml is faster (0.6-0.85x the time in 4 of 5
runs) and linear but comes only with the optional `docs` extra, reports element lines
instead of character offsets and follows libxml2's rules instead of HTML5's (other text on 3
of 17 edge pages), and selectolax, 7-12x faster, gives plain text with neither tag events for
the text builder nor offsets.
"""

from __future__ import annotations

import codecs
import html
import re

from chunkyard.core.types import Document, Heading
from chunkyard.extract.errors import (
    DEFAULT_MAX_EXTRACTED_CHARS,
    ExtractionError,
    TextTooLong,
    too_long,
)

# Elements whose content is never shown to a reader.
SKIPPED = frozenset(
    [
        "script",
        "style",
        "template",
        "noscript",
        "title",
        "svg",
        "math",
        "iframe",
        "noembed",
        "noframes",
        "object",
    ]
)
# Elements whose content is raw text up to their end tag (no tags inside), per HTML5.
RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"}
)
ESCAPABLE_RAW_TEXT = frozenset({"textarea", "title"})  # character references still apply
# Blocks separated by a blank line.
PARAGRAPH_BLOCKS = frozenset(
    [
        "p",
        "dl",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "main",
        "figure",
        "hr",
        "form",
        "fieldset",
        "address",
        "details",
        "body",
    ]
)
# Blocks that only start a new line.
LINE_BLOCKS = frozenset(
    {"div", "dt", "dd", "caption", "figcaption", "summary", "legend", "option", "center"}
)
HEADINGS = {f"h{level}": level for level in range(1, 7)}
# A list item is indented two spaces per level of nesting, up to this many levels: deeper
# items are indented like the deepest shown, so deeply nested lists (100,000 <ul><li> in a
# 144 KB file) give text linear in the markup, not quadratic.
MAX_LIST_INDENT = 8

# HTML treats these labels as windows-1252 (the WHATWG encoding standard).
_CP1252_ALIASES = frozenset({"ascii", "us-ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1"})
# The only codecs a `<meta charset>` may pick: Python's codecs for the encodings of the WHATWG
# encoding standard, each of which decodes bytes to text. A declared label is looked up and
# kept only when it names one of these, so codecs that decode escapes or transforms
# (`unicode_escape`, `raw_unicode_escape`, `utf-7`, `punycode`, `idna`, `rot13`, `hex`, ...)
# are never used: they put lone surrogates and NUL into the text. A label naming any other
# codec is ignored (the document is read as UTF-8), as HTML ignores a label it does not know.
_DECLARABLE_CODECS = frozenset(
    {"utf-8", "cp866", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp874", "tis-620",
     "gbk", "gb2312", "gb18030", "big5", "big5hkscs", "cp950", "euc_jp", "iso2022_jp",
     "shift_jis", "cp932", "euc_kr", "cp949"}
    | {f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)}
    | {f"cp{n}" for n in range(1250, 1259)}
)
# A `<meta>` can only be read if the bytes are ASCII-compatible; HTML reads a declared UTF-16
# or UTF-32 as UTF-8.
_READ_AS_UTF8 = ("utf-16", "utf-32")


def decode_html(data: bytes, label: str) -> str:
    """The document's text: a BOM or `<meta charset>` decides the encoding, else UTF-8."""
    encoding = "utf-8"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    else:
        declared = _declared_charset(data[:2048])
        if declared is not None:
            encoding = declared
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.upper()
        raise ExtractionError(f"{label}: not valid {name} at byte offset {exc.start}") from None


def _declared_charset(head: bytes) -> str | None:
    lowered = head.lower()
    at = lowered.find(b"charset=")
    if at < 0:
        return None
    value = lowered[at + len(b"charset=") : at + 60].lstrip(b"\"' ")
    name = bytearray()
    for byte in value:
        if not (chr(byte).isalnum() or chr(byte) in "-_.:"):
            break
        name.append(byte)
    label = name.decode("ascii", "replace")
    if label in _CP1252_ALIASES:
        return "cp1252"
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return None
    if codec in _DECLARABLE_CODECS:
        return codec
    if codec in ("ascii", "iso8859-1"):
        return "cp1252"
    if codec.startswith(_READ_AS_UTF8):
        return "utf-8"
    return None  # not a text encoding of the web: ignored


# Why not html.parser.HTMLParser: on CPython 3.11 it is quadratic on unterminated markup
# (50 KB of "<a " takes 40 s), so one upload could stall a worker. The tokenizer below follows
# the HTML5 rules that matter for text (comments, raw-text elements, quoted attribute values,
# end of input inside a tag) with forward scans only; its regexes are possessive, so nothing
# backtracks.

# The rest of a tag after its name, up to and including ">": quoted values may hold ">".
_TAG_REST = re.compile(r"""(?:[^>"'=]++|=\s*+"[^"]*+"|=\s*+'[^']*+'|=|["'])*+>""")
_TAG_NAME = re.compile(r"[^\s/>]*+")
_STRAY_TEXT = re.compile(r"(?:<(?![!?/A-Za-z])[^<]*+)++")
_LONG_DECIMAL_REF = re.compile(r"&#([0-9]{8,});?")


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    # int() refuses decimal strings over 4300 digits; any reference over 7 digits is invalid.
    text = _LONG_DECIMAL_REF.sub(_long_decimal_ref, text)
    return html.unescape(text)


def _long_decimal_ref(match: re.Match[str]) -> str:
    digits = match.group(1).lstrip("0") or "0"
    return "\ufffd" if len(digits) > 7 else f"&#{digits};"


def _raw_text_end(name: str) -> re.Pattern[str]:
    return re.compile(r"</" + re.escape(name) + r"(?=[\s/>])", re.IGNORECASE)


_RAW_TEXT_ENDS = {name: _raw_text_end(name) for name in RAW_TEXT}


def _tokenize(markup: str, sink: _TextBuilder) -> None:
    """Feed `sink` the start tags, end tags and decoded text of `markup`, in one pass."""
    length = len(markup)
    pos = 0
    while pos < length:
        lt = markup.find("<", pos)
        if lt < 0:
            sink.handle_data(_unescape(markup[pos:]))
            return
        if lt > pos:
            sink.handle_data(_unescape(markup[pos:lt]))
        pos = lt
        following = markup[pos + 1 : pos + 2]
        if markup.startswith("<!--", pos):
            if markup.startswith(">", pos + 4) or markup.startswith("->", pos + 4):
                pos = markup.index(">", pos + 4) + 1  # "<!-->" and "<!--->" are empty comments
                continue
            end = markup.find("-->", pos + 4)
            if end < 0:
                return  # an unclosed comment runs to the end of the document
            pos = end + 3
        elif following in ("!", "?") or markup.startswith("</>", pos):
            # Doctype, CDATA outside SVG, processing instructions: bogus comments up to ">".
            end = markup.find(">", pos + 2)
            if end < 0:
                return
            pos = end + 1
        elif following == "/" or (following.isascii() and following.isalpha()):
            closing = following == "/"
            name_start = pos + 2 if closing else pos + 1
            name_match = _TAG_NAME.match(markup, name_start)
            assert name_match is not None  # the pattern matches the empty string
            name = name_match.group().lower()
            rest = _TAG_REST.match(markup, name_match.end())
            if rest is None:
                return  # end of input inside a tag: HTML5 drops the tag and stops
            pos = rest.end()
            if not name:  # "</ foo>" and the like are bogus comments
                continue
            if closing:
                sink.handle_endtag(name)
                continue
            sink.handle_starttag(name)
            if name in RAW_TEXT:
                pos = _raw_text(markup, pos, name, sink)
            elif rest.group().endswith("/>"):
                sink.handle_endtag(name)
        else:
            # A "<" that starts no tag is text; take every such "<" and the text after it.
            stray = _STRAY_TEXT.match(markup, pos)
            assert stray is not None  # markup[pos] is a "<" that starts no tag
            sink.handle_data(_unescape(stray.group()))
            pos = stray.end()


def _raw_text(markup: str, pos: int, name: str, sink: _TextBuilder) -> int:
    """Pass the content of a raw-text element to `sink`; return the offset after its end tag."""
    match = _RAW_TEXT_ENDS[name].search(markup, pos)
    end = len(markup) if match is None else match.start()
    content = markup[pos:end]
    sink.handle_data(_unescape(content) if name in ESCAPABLE_RAW_TEXT else content)
    if match is None:
        return end
    sink.handle_endtag(name)
    close = _TAG_REST.match(markup, match.end())
    return len(markup) if close is None else close.end()


class _TextBuilder:
    """Collects readable text; whitespace and breaks are written lazily, just before text."""

    def __init__(self, max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.headings: list[Heading] = []
        self._length = 0
        self._trailing_newlines = 0
        self._ends_blank = True
        self._pending_breaks = 0
        self._pending_space = False
        self._pending_prefix = ""
        self._skip = 0
        self._pre = 0
        self._pre_fresh = False
        self._lists = 0
        self._tables: list[list[int]] = []  # per open table: [cells in this row, inside a cell]
        self._heading_level = 0
        self._heading_part = -1  # index in `parts` where the open heading's text starts
        self._heading_start = -1

    # -- writing -----------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        self._length += len(text)
        if self._length > self.max_chars:
            raise TextTooLong(self.max_chars)
        self.parts.append(text)
        stripped = text.rstrip("\n")
        if stripped:
            self._trailing_newlines = len(text) - len(stripped)
        else:
            self._trailing_newlines += len(text)
        self._ends_blank = text[-1].isspace()

    def _flush_breaks(self) -> None:
        if self._length and self._pending_breaks > self._trailing_newlines:
            self._write("\n" * (self._pending_breaks - self._trailing_newlines))
            self._pending_space = False
        self._pending_breaks = 0

    def _emit(self, text: str) -> None:
        """Write visible text, preceded by whatever break, list marker or space is pending."""
        if self._pending_breaks:
            self._flush_breaks()
        if self._pending_prefix:
            self._write(self._pending_prefix)
            self._pending_prefix = ""
            self._pending_space = False
        if self._pending_space and self._length and not self._ends_blank:
            self._write(" ")
        self._pending_space = False
        if self._heading_level and self._heading_start < 0:
            self._heading_start = self._length
            self._heading_part = len(self.parts)
        self._write(text)

    def _block(self, breaks: int) -> None:
        if self._tables and self._tables[-1][1] and not self._pre:
            self._pending_space = True  # blocks inside a table cell keep the row on one line
            return
        self._pending_breaks = max(self._pending_breaks, breaks)

    # -- headings ----------------------------------------------------------------------------

    def _open_heading(self, level: int) -> None:
        self._close_heading()
        self._heading_level = level
        self._heading_start = -1

    def _close_heading(self) -> None:
        if self._heading_level and self._heading_start >= 0:
            title = " ".join("".join(self.parts[self._heading_part :]).split())
            if title:
                self.headings.append(Heading(self._heading_start, self._heading_level, title))
        self._heading_level = 0
        self._heading_start = -1

    # -- tokenizer callbacks -----------------------------------------------------------------

    def handle_starttag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skip += 1
            return
        if self._skip:
            return
        if tag in HEADINGS:
            self._block(2)
            self._open_heading(HEADINGS[tag])
        elif tag in ("ul", "ol"):
            self._block(1 if self._lists else 2)  # a nested list continues its parent
            self._lists += 1
        elif tag in PARAGRAPH_BLOCKS:
            self._block(2)
        elif tag in LINE_BLOCKS:
            self._block(1)
        elif tag == "li":
            self._block(1)
            self._pending_prefix = "  " * min(max(self._lists - 1, 0), MAX_LIST_INDENT) + "- "
        elif tag == "br":
            self._line_break()
        elif tag == "pre":
            self._block(2)
            self._pre += 1
            self._pre_fresh = True
        elif tag == "table":
            self._block(2)
            self._tables.append([0, 0])
        elif tag == "tr":
            if self._tables:
                self._tables[-1][:] = [0, 0]
            self._block(1)
        elif tag in ("td", "th") and self._tables:
            row = self._tables[-1]
            if row[0]:
                self._pending_space = False
                self._emit(" | ")
            row[0] += 1
            row[1] = 1

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skip = max(self._skip - 1, 0)
            return
        if self._skip:
            return
        if tag in HEADINGS:
            self._close_heading()
            self._block(2)
        elif tag in ("ul", "ol"):
            self._lists = max(self._lists - 1, 0)
            self._block(1 if self._lists else 2)
        elif tag in PARAGRAPH_BLOCKS:
            self._block(2)
        elif tag in LINE_BLOCKS or tag == "li":
            self._block(1)
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
            self._block(2)
        elif tag == "table":
            if self._tables:
                self._tables.pop()
            self._block(2)
        elif tag == "tr":
            self._block(1)
        elif tag in ("td", "th") and self._tables:
            self._tables[-1][1] = 0

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
        if self._pre:
            if self._pre_fresh and data.startswith("\n"):
                data = data[1:]  # a newline right after <pre> is not content
            self._pre_fresh = False
            if data:
                self._emit(data)
            return
        if data[0].isspace():
            self._pending_space = True
        words = data.split()
        if words:
            self._emit(" ".join(words))
            if data[-1].isspace():
                self._pending_space = True

    def _line_break(self) -> None:
        if not self._length:
            return
        if self._tables and self._tables[-1][1] and not self._pre:
            self._pending_space = True  # keep the table row on one line
            return
        self._flush_breaks()
        self._write("\n")
        self._pending_space = False

    def result(self) -> tuple[str, list[Heading]]:
        self._close_heading()
        return "".join(self.parts), self.headings


def html_to_text(
    markup: str, max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS
) -> tuple[str, list[Heading]]:
    """Readable text of an HTML document and its h1-h6 headings (offsets into that text);
    `TextTooLong` as soon as the text passes `max_chars`."""
    builder = _TextBuilder(max_chars)
    # HTML normalises line endings before parsing; <pre> content should not keep CRs.
    _tokenize(markup.replace("\r\n", "\n").replace("\r", "\n"), builder)
    return builder.result()


def extract_html(data: bytes, filename: str, label: str,
                 max_chars: int = DEFAULT_MAX_EXTRACTED_CHARS) -> Document:
    """An HTML file converted to text, its headings recorded."""
    markup = decode_html(data, label)
    try:
        text, headings = html_to_text(markup, max_chars)
    except TextTooLong as exc:
        raise too_long(label, exc) from None
    return Document(text, "html", filename, headings=headings)

"""The two hand-written parsers against the libraries that could replace them: speed, source
offsets, and time on adversarial input.

Usage::

    python bench/handwritten_parsers.py           # ~4 MB per input, best of 3 runs
    python bench/handwritten_parsers.py --quick   # ~1 MB, a smoke run

HTML (`chunkyard.extract.html`): the hand-written tokenizer against Python's `html.parser`,
lxml's parser (libxml2) and selectolax (lexbor). The stdlib and lxml rows drive the same
`_TextBuilder` the extractor uses, through their callback interfaces (`HTMLParser` handlers,
an lxml parser target), so the row times the tokenizer swap alone and "same text" says
whether the result would change; selectolax has no event interface, so its row is
`HTMLParser(markup).text()`, the whole work of a different extractor. Input: HTML generated
from the markdown files under /work/shared/evaldata (headings, paragraphs with links and
entities, lists, tables, pre, script), repeated to the target size.

Markdown (`chunkyard.core.markdown_blocks`): `parse_blocks` against markdown-it-py's
CommonMark parser, once with block rules only (inline disabled: the same job) and once in
full. Input: the evaldata markdown files, repeated.

Offsets: whether the peer can say where in the source each token starts. Checked, not
assumed: for html.parser every start tag's `getpos()` is turned into a character offset and
compared with the tag in the source; for markdown-it every top-level heading's `token.map`
(line numbers) is turned into the offset of its first character and compared with
`markdown_headings`. lxml reports element lines only (`sourceline`), selectolax nothing.

Adversarial input: each parser on a pathological input of n and of 4n units (n grown until a
run takes 20 ms); a linear parser takes about 4x as long at 4n, a quadratic one about 16x. A
case whose n already takes over `--budget` seconds is not run at 4n. A missing peer is skipped
with a printed line.
"""

from __future__ import annotations

import argparse
import gc
import html as html_escape
import time
from collections.abc import Callable
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from chunkyard.core.markdown_blocks import markdown_headings, parse_blocks
from chunkyard.extract.html import _TextBuilder, html_to_text

EVALDATA = Path("/work/shared/evaldata")
FALLBACK_MARKDOWN = (
    "# Title\n\nSome *prose* with a [link](http://example.com) & more.\n\n"
    "## Section\n\n- item one\n- item two\n  - nested\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "```python\nprint('x')\n```\n\n> a quote\n> over two lines\n\n"
)


# -- inputs ---------------------------------------------------------------------------------


def markdown_source() -> str:
    files = sorted(EVALDATA.rglob("*.md"))
    if not files:
        print(f"(no markdown under {EVALDATA}: using a generated sample)")
        return FALLBACK_MARKDOWN
    return "\n\n".join(f.read_text(encoding="utf-8") for f in files)


def repeat_to(text: str, size: int) -> str:
    return (text + "\n\n") * max(1, size // (len(text) + 2) + 1)


def html_from_markdown(markdown: str) -> str:
    """A plain web page per markdown paragraph kind: enough tag variety for a tokenizer."""
    out = ["<!DOCTYPE html><html><head><title>t</title><style>p{}</style></head><body>"]
    for n, para in enumerate(markdown.split("\n\n")):
        para = para.strip()
        if not para:
            continue
        lines = para.splitlines()
        esc = html_escape.escape
        if para.startswith("#"):
            level = min(len(para) - len(para.lstrip("#")), 6)
            out.append(f"<h{level} id=\"s{n}\">{esc(para.lstrip('# '))}</h{level}>")
        elif para.startswith(("- ", "* ")):
            items = "".join(f"<li>{esc(line[2:])}</li>\n" for line in lines)
            out.append(f"<ul class=\"l\">\n{items}</ul>")
        elif para.startswith("|"):
            rows = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in line.split("|")) + "</tr>\n"
                for line in lines
            )
            out.append(f"<table>\n{rows}</table>")
        elif para.startswith("```"):
            out.append(f"<pre><code>{esc(para.strip('`'))}</code></pre>")
        else:
            words = esc(para).split(" ")
            if len(words) > 6:
                words[3] = f'<a href="https://example.com/{n}?a=1&amp;b=2">{words[3]}</a>'
                words[5] = f"<b>{words[5]}</b>&nbsp;&mdash;"
            out.append(f"<div><p>{' '.join(words)}</p></div>")
        if n % 50 == 0:
            out.append("<script>if (a < b && c > d) { x = '</p>'; }</script><!-- note -->")
    out.append("</body></html>")
    return "\n".join(out)


# Small pages where HTML5 parsing rules matter; the extractor's tests pin its answers.
HTML_EDGE_CASES = [
    "a<b", "<!-->x", "<div><!-- unclosed", "<plaintext><b>x</b>", "x</html>after", "a\x00b",
    "<textarea><p>x</p></textarea>", "<xmp><b>x</b></xmp>", "<svg><p>x</p></svg>y",
    "<table><p>x</p><tr><td>c</table>", "<scr<script>ipt>x", "<p>&#99999999999;</p>",
    "<b>a<p>b</b>c", "<p>x</p\n>y", "<a title=\"x>y\">t</a>", "</br>a",
    "<div>" * 300 + "deep",
]


# -- timing ---------------------------------------------------------------------------------


def best(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return min(times)


# -- HTML peers -----------------------------------------------------------------------------


class _StdlibTokenizer(HTMLParser):
    """html.parser feeding the extractor's own text builder."""

    def __init__(self, sink: _TextBuilder) -> None:
        super().__init__(convert_charrefs=True)
        self.sink = sink

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.sink.handle_starttag(tag)

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        self.sink.handle_starttag(tag)
        self.sink.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self.sink.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        self.sink.handle_data(data)


def stdlib_text(markup: str) -> str:
    builder = _TextBuilder()
    parser = _StdlibTokenizer(builder)
    parser.feed(markup.replace("\r\n", "\n").replace("\r", "\n"))
    parser.close()
    return builder.result()[0]


class _LxmlTarget:
    """An lxml parser target feeding the extractor's own text builder."""

    def __init__(self) -> None:
        self.sink = _TextBuilder()

    def start(self, tag: str, attrib: Any) -> None:
        self.sink.handle_starttag(tag)

    def end(self, tag: str) -> None:
        self.sink.handle_endtag(tag)

    def data(self, data: str) -> None:
        self.sink.handle_data(data)

    def comment(self, text: str) -> None:
        pass

    def close(self) -> str:
        return self.sink.result()[0]


def lxml_peer() -> Callable[[str], str] | None:
    try:
        from lxml import etree  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        print("skip lxml: not installed (pip install lxml to measure it)")
        return None

    def run(markup: str) -> str:
        parser = etree.HTMLParser(target=_LxmlTarget())
        parser.feed(markup)
        result: str = parser.close()
        return result

    return run


def selectolax_peer() -> Callable[[str], str] | None:
    try:
        from selectolax.lexbor import LexborHTMLParser as Lexbor
    except ImportError:
        print("skip selectolax: not installed (pip install selectolax to measure it)")
        return None

    def run(markup: str) -> str:
        text: str = Lexbor(markup).text()
        return text

    return run


def stdlib_offsets(markup: str) -> tuple[int, int]:
    """(start tags whose getpos() is the offset of their "<" in `markup`, start tags)."""
    line_starts = [0]
    for i, ch in enumerate(markup):
        if ch == "\n":
            line_starts.append(i + 1)
    hits = [0, 0]

    class Probe(HTMLParser):
        def handle_starttag(self, tag: str, attrs: Any) -> None:
            line, col = self.getpos()
            offset = line_starts[line - 1] + col
            hits[1] += 1
            hits[0] += markup[offset : offset + 1 + len(tag)].lower() == "<" + tag

    probe = Probe(convert_charrefs=True)
    probe.feed(markup)
    probe.close()
    return hits[0], hits[1]


# -- markdown peers -------------------------------------------------------------------------


def markdown_it_peers() -> tuple[Any, Any] | None:
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        print("skip markdown-it-py: not installed (pip install markdown-it-py to measure it)")
        return None
    blocks_only = MarkdownIt("commonmark")
    blocks_only.disable("inline")
    return blocks_only, MarkdownIt("commonmark")


def markdown_it_heading_offsets(md: Any, text: str) -> tuple[int, int]:
    """(top-level headings whose first-character offset, derived from `token.map`, equals a
    `markdown_headings` start, headings markdown-it found)."""
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)
    ours = {h.start for h in markdown_headings(text)}
    found = agree = 0
    for token in md.parse(text):
        if token.type == "heading_open" and token.level == 0 and token.map:
            start = line_starts[token.map[0]]
            line = text[start : text.find("\n", start)]
            start += len(line) - len(line.lstrip(" \t"))
            found += 1
            agree += start in ours
    return agree, found


# -- adversarial input ----------------------------------------------------------------------

HTML_ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "'<' x n": lambda n: "<" * n,
    "'<a' x n (tags never closed)": lambda n: "<a" * n,
    "'</' x n": lambda n: "</" * n,
    "'<!--' then n chars, unclosed": lambda n: "<!--" + "a-" * n,
    "'<a b=\"' then n chars, unclosed": lambda n: '<a b="' + "x " * n,
    "'&#' x n": lambda n: "&#" * n,
    "'<![CDATA[' x n": lambda n: "<![CDATA[" * n,
    "'<p>' x n (open blocks)": lambda n: "<p>x" * n,
}
MARKDOWN_ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "'>' x n on one line": lambda n: ">" * n + " x\n",
    "'- ' x n on one line (nested lists)": lambda n: "- " * n + "x\n",
    "n lines, each one deeper list": lambda n: "".join(
        "  " * (i % 200) + "- x\n" for i in range(n)
    ),
    "'[' x n": lambda n: "[" * n + "a",
    "'*a' x n (open emphasis)": lambda n: "*a " * n,
    "'`' runs 1..k (code spans)": lambda n: " ".join("`" * (i % 300 + 1) for i in range(n)),
    "'<div>' lines x n": lambda n: "<div>\n" * n,
    "'| a |' rows x n": lambda n: "| a | b |\n|---|---|\n" + "| a | b |\n" * n,
}


def scaling(parse: Callable[[str], object], make: Callable[[int], str], n: int,
            budget: float) -> str:
    """Time at n units (grown 4x at a time until a run takes 20 ms, so timer noise does not
    decide), then at 4n."""
    def timed(units: int) -> float:
        text = make(units)  # built outside the timed run
        return best(lambda: parse(text), 2)

    small = timed(n)
    while small < 0.02 and n < 1_000_000:
        n *= 4
        small = timed(n)
    if small > budget:
        return f"n={n:<8} {small:7.3f} s, 4n not run (over the {budget:g} s budget)"
    large = timed(4 * n)
    ratio = large / small if small > 0 else float("inf")
    verdict = "linear" if ratio < 6 else "superlinear" if ratio < 12 else "QUADRATIC"
    return (f"n={n:<8} {small * 1e3:8.1f} ms -> {large * 1e3:8.1f} ms at 4n  x{ratio:5.1f}  "
            f"{verdict}")


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true", help="~1 MB inputs")
    args.add_argument("--runs", type=int, default=3)
    args.add_argument("--budget", type=float, default=2.0,
                      help="seconds an adversarial case may take at n before 4n is skipped")
    opts = args.parse_args()
    size = 1_000_000 if opts.quick else 4_000_000
    n = 1_000 if opts.quick else 4_000

    markdown = repeat_to(markdown_source(), size)
    markup = repeat_to(html_from_markdown(markdown_source()), size)
    print(f"inputs: markdown {len(markdown) / 1e6:.1f} M chars, HTML {len(markup) / 1e6:.1f} M "
          f"chars; best of {opts.runs} runs; ratio = peer time / chunkyard time")

    print("\n== HTML: text and headings of a page ==")
    ours_text = html_to_text(markup)[0]
    base = best(lambda: html_to_text(markup), opts.runs)
    print(f"{'chunkyard tokenizer':<34}{base:8.3f} s   1.00x   "
          "source offsets: yes (it scans by str index)")
    html_peers: list[tuple[str, Callable[[str], str] | None, str]] = [
        ("html.parser + same builder", stdlib_text, ""),
        ("lxml (libxml2) + same builder", lxml_peer(), "line only (sourceline)"),
        ("selectolax .text() (own output)", selectolax_peer(), "none"),
    ]
    for name, peer, offsets in html_peers:
        if peer is None:
            continue
        seconds = best(partial(peer, markup), opts.runs)
        if not offsets:
            agree, tags = stdlib_offsets(markup)
            offsets = f"line/col: {agree}/{tags} start tags exact"
        same = "same text" if peer(markup) == ours_text else "text differs"
        if "builder" in name:
            differ = [e for e in HTML_EDGE_CASES if peer(e) != html_to_text(e)[0]]
            same += f", differs on {len(differ)}/{len(HTML_EDGE_CASES)} edge pages"
            same += f" {[e[:24] for e in differ]}" if differ else ""
        print(f"{name:<34}{seconds:8.3f} s {seconds / base:6.2f}x   {same}; "
              f"source offsets: {offsets}")

    print(f"\n-- HTML adversarial: n >= {n} units, then 4n --")
    adversarial_html: list[tuple[str, Callable[[str], object] | None]] = [
        ("chunkyard", html_to_text), ("html.parser", stdlib_text), ("lxml", lxml_peer()),
        ("selectolax", selectolax_peer()),
    ]
    for case, make in HTML_ADVERSARIAL.items():
        print(case)
        for name, parse in adversarial_html:
            if parse is not None:
                print(f"  {name:<14}{scaling(parse, make, n, opts.budget)}")

    print("\n== Markdown: block structure ==")
    base = best(lambda: parse_blocks(markdown), opts.runs)
    print(f"{'chunkyard parse_blocks':<34}{base:8.3f} s   1.00x   source offsets: yes (chars)")
    peers = markdown_it_peers()
    if peers is not None:
        blocks_only, full = peers
        agree, found = markdown_it_heading_offsets(blocks_only, markdown)
        for name, md in (("markdown-it-py, block rules only", blocks_only),
                         ("markdown-it-py, full parse", full)):
            seconds = best(partial(md.parse, markdown), opts.runs)
            print(f"{name:<34}{seconds:8.3f} s {seconds / base:6.2f}x   source offsets: "
                  f"line ranges only; {agree}/{found} heading starts derived from them match")

        print(f"\n-- Markdown adversarial: n >= {n} units, then 4n --")
        for case, make in MARKDOWN_ADVERSARIAL.items():
            print(case)
            for name, parse in (("chunkyard", parse_blocks), ("md-it blocks", blocks_only.parse),
                                ("md-it full", full.parse)):
                print(f"  {name:<14}{scaling(parse, make, n, opts.budget)}")


if __name__ == "__main__":
    main()

"""Sentence segmentation as character spans, in one linear pass with no backtracking regex."""

from __future__ import annotations

import re

from chunkyard.core.types import ChunkingError

__all__ = ["split_sentences"]

# Terminators that end a sentence only when whitespace (or the end) follows them.
_TERMINATORS = frozenset(".!?…")
# Full-width terminators: CJK text puts no space after them, so they end a sentence outright.
_FULL_WIDTH_TERMINATORS = frozenset("。！？")
_ALL_TERMINATORS = _TERMINATORS | _FULL_WIDTH_TERMINATORS
# Closing quotes and brackets that still belong to the sentence they follow.
_CLOSERS = frozenset("\"'”’»›)]}」』）】〉》〕〗〙〛")
# Opening quotes and brackets stripped before looking a word up as an abbreviation.
_OPENERS = "\"'“‘«‹([{「『（【〈《〔〖〘〚"

# Never followed by a sentence break: titles, Latin and reference abbreviations. Lower case,
# without the final dot.
_ABBREVIATIONS = frozenset(
    {
        *("mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "rev", "hon", "gen", "col"),
        *("lt", "sgt", "capt", "cmdr", "gov", "sen", "rep", "pres", "mt"),
        *("e.g", "eg", "i.e", "ie", "vs", "cf", "viz", "al", "etc", "approx", "ca"),
        *("fig", "figs", "eq", "eqs", "vol", "vols", "pp", "ch", "sec", "dept"),
    }
)
# Often end a sentence too, so they break only when a capital letter follows.
_ABBREVIATIONS_UNLESS_CAPITAL = frozenset(
    {
        *("inc", "ltd", "co", "corp", "bros", "llc", "plc", "est"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
# Break unless a number follows: "No. 5", "p. 12", "Art. 3".
_ABBREVIATIONS_BEFORE_NUMBER = frozenset({"no", "nos", "p", "art"})
# Longest word looked at behind a dot; longer words are never abbreviations, and the cap keeps the
# backward look constant-time.
_MAX_ABBREVIATION = 12

_LINE_BREAKS = frozenset("\n\r\u2028\x0b\x0c\x1c\x1d\x1e\x85")
# What can end a sentence: a run of terminators, or whitespace from a line break on (a blank
# line). Linear: the only repetitions end the match when they stop, nothing backtracks.
_EVENT = re.compile("[" + "".join(sorted(_ALL_TERMINATORS)) + "]+"
                    "|[\n\r\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85]\\s*")
_NON_SPACE = re.compile(r"\S")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split `text[start:end]` into sentences, as `(start, end)` offsets into `text`.

    Spans are in order, do not overlap, begin and end on non-whitespace characters and together
    cover every non-whitespace character in the range. A sentence ends:

    - after `.`, `!`, `?` or `…` (a run of them, plus closing quotes or brackets) followed by
      whitespace or the end of the range;
    - after `。`, `！` or `？` (plus closers) whatever follows, since CJK text has no spaces;
    - at a blank line (two line breaks with only whitespace between; CRLF counts as one).

    A single `.` does not end a sentence after an abbreviation (`e.g.`, `Mr.`, `etc.`), a single
    capital initial (`J. R. R. Tolkien`), a list number opening the sentence or a line
    (`1. Item`), or a dotted acronym or company/month abbreviation (`U.S.`, `Inc.`, `Jan.`)
    unless a capital letter follows. An ellipsis or closing quote followed by a lower-case word
    does not end one either (`"Stop!" he said.`). Decimals (`3.14`) never break because no
    whitespace follows the dot. Sentences have no length cap.
    """
    length = len(text)
    if end is None:
        end = length
    if not 0 <= start <= end <= length:
        raise ChunkingError(f"bad range [{start}, {end}) for a text of {length} characters")

    spans: list[tuple[int, int]] = []
    sentence_start = -1  # -1 while between sentences
    last = start  # one past the latest non-whitespace character seen
    pos = start
    # Only terminators and line breaks can end a sentence: the regex skips everything else in
    # C, so Python runs once per such event rather than once per character.
    find_event = _EVENT.search
    while pos < end:
        event = find_event(text, pos, end)
        at = event.start() if event else end
        if pos < at:  # words and spaces, no line break: they only move the sentence's bounds
            if sentence_start < 0:
                first = _NON_SPACE.search(text, pos, at)
                if first is not None:
                    sentence_start = first.start()
            k = at
            while k > pos and text[k - 1].isspace():
                k -= 1
            if k > pos:
                last = k
        if event is None:
            break
        i = at
        if text[i] not in _ALL_TERMINATORS:
            # A run of whitespace from its first line break: a blank line ends the sentence.
            run = event.group()
            line_breaks = 2 * run.count("\u2029") - run.count("\r\n")
            line_breaks += sum(run.count(c) for c in _LINE_BREAKS if c in run)
            if line_breaks >= 2 and sentence_start >= 0:
                spans.append((sentence_start, last))
                sentence_start = -1
            pos = event.end()
            continue

        if sentence_start < 0:
            sentence_start = i
        j = event.end()
        full_width = any(c in _FULL_WIDTH_TERMINATORS for c in event.group())
        closers_at = j
        while j < end and text[j] in _CLOSERS:
            j += 1
        last = j
        if full_width:
            ends = True
        elif j < end and not text[j].isspace():
            ends = False
        else:
            ends = not _run_continues(text, sentence_start, i, closers_at, j, end)
        if ends:
            spans.append((sentence_start, j))
            sentence_start = -1
        pos = j

    if sentence_start >= 0:
        spans.append((sentence_start, last))
    return spans


def _run_continues(
    text: str, sentence_start: int, run: int, closers_at: int, after: int, end: int
) -> bool:
    """Whether the terminators at `[run, closers_at)`, closers up to `after`, end no sentence."""
    terminators = text[run:closers_at]
    # Lower case after an ellipsis or after closing quotes goes on the same sentence:
    # 'I thought... maybe not.' and '"Stop!" he said.'
    ellipsis = "…" in terminators or terminators.startswith("..")
    if (ellipsis or after > closers_at) and _next_visible(text, after, end).islower():
        return True
    return terminators == "." and _dot_continues(text, sentence_start, run, after, end)


def _dot_continues(text: str, sentence_start: int, dot: int, after: int, end: int) -> bool:
    """Whether the `.` at `dot`, with whitespace or the end at `after`, is not a sentence end."""
    word_start = dot
    while word_start > sentence_start and not text[word_start - 1].isspace():
        word_start -= 1
        if dot - word_start > _MAX_ABBREVIATION:
            return False
    while word_start < dot and text[word_start] in _OPENERS:
        word_start += 1
    word = text[word_start:dot]
    if not word:
        return False
    lower = word.lower()
    if lower in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isupper():
        return True
    # "1." opening a sentence or a line is a list marker, not a sentence of its own.
    if (
        word.isdigit()
        and len(word) <= 3
        and (word_start == sentence_start or text[word_start - 1] in _LINE_BREAKS)
    ):
        return True
    is_acronym = "." in word and all(0 < len(p) <= 2 and p.isalpha() for p in word.split("."))
    if not (
        is_acronym
        or lower in _ABBREVIATIONS_UNLESS_CAPITAL
        or lower in _ABBREVIATIONS_BEFORE_NUMBER
    ):
        return False
    following = _next_visible(text, after, end)
    if lower in _ABBREVIATIONS_BEFORE_NUMBER:
        return following.isdigit()
    return not following.isupper()


def _next_visible(text: str, position: int, end: int) -> str:
    """The first non-whitespace character within 64 characters from `position`, or ""."""
    # Bounded: the caller runs once per candidate break and must stay linear on long whitespace.
    stop = min(end, position + 64)
    while position < stop:
        if not text[position].isspace():
            return text[position]
        position += 1
    return ""

"""Sentence spans: English and CJK rules, abbreviations, blank lines, coverage and linear time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkyard.core.sentences import split_sentences
from chunkyard.core.types import ChunkingError
from growth import assert_linear


def sentences(text: str, start: int = 0, end: int | None = None) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, start, end)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world. How are you? Fine!", ["Hello world.", "How are you?", "Fine!"]),
        ("No terminator at the end", ["No terminator at the end"]),
        ("One.Two. Three", ["One.Two.", "Three"]),
        ("Wait?! Really... yes. Wow!!! Done", ["Wait?!", "Really... yes.", "Wow!!!", "Done"]),
        ("It ended… Then more", ["It ended…", "Then more"]),
    ],
)
def test_basic_terminators(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("Fruit, e.g. apples, i.e. red. Next.", ["Fruit, e.g. apples, i.e. red.", "Next."]),
        ("Cats, dogs, etc. Also birds.", ["Cats, dogs, etc. Also birds."]),
        ("(e.g. this) works. Yes.", ["(e.g. this) works.", "Yes."]),
        ("J. R. R. Tolkien wrote it. Then", ["J. R. R. Tolkien wrote it.", "Then"]),
        ("John F. Kennedy spoke. Later", ["John F. Kennedy spoke.", "Later"]),
        ("See No. 5 and p. 12 now. Ok", ["See No. 5 and p. 12 now.", "Ok"]),
        ("The answer is no. Then we left.", ["The answer is no.", "Then we left."]),
        ("He lives in the U.S. The end.", ["He lives in the U.S.", "The end."]),
        ("The U.S. economy grew. Ok", ["The U.S. economy grew.", "Ok"]),
        ("Acme Inc. The firm. Acme Inc. is big.", ["Acme Inc.", "The firm.", "Acme Inc. is big."]),
        ("Wait Mr.", ["Wait Mr."]),
    ],
)
def test_abbreviations_and_initials(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pi is 3.14 today. Next", ["Pi is 3.14 today.", "Next"]),
        ("It costs $1,234.56 in total. Ok.", ["It costs $1,234.56 in total.", "Ok."]),
        ("Version 2.0.1 is out. Update", ["Version 2.0.1 is out.", "Update"]),
        (".5 is a half. Yes", [".5 is a half.", "Yes"]),
    ],
)
def test_decimals_do_not_split(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_cjk_terminators_split_without_spaces() -> None:
    text = "今天天气很好。我们去公园吧！好吗？走"
    assert sentences(text) == ["今天天气很好。", "我们去公园吧！", "好吗？", "走"]


def test_cjk_closing_quote_stays_with_its_sentence() -> None:
    text = "他说：“走吧。”然后离开了。「好。」"
    assert sentences(text) == ["他说：“走吧。”", "然后离开了。", "「好。」"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('She said "Go." Then he left.', ['She said "Go."', "Then he left."]),
        ('"Stop!" he said. "Why?" Ask', ['"Stop!" he said.', '"Why?"', "Ask"]),
        ("(It rained.) The end", ["(It rained.)", "The end"]),
        ("He said 'fine.' then left. Ok", ["He said 'fine.' then left.", "Ok"]),
        ("Es ist «gut.» Ja", ["Es ist «gut.»", "Ja"]),
    ],
)
def test_closing_quotes_and_brackets(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_blank_lines_end_sentences_crlf_included() -> None:
    text = "Title line\r\n\r\nFirst para still\r\ngoing. Second.\r\n \t\r\nLast"
    assert sentences(text) == ["Title line", "First para still\r\ngoing.", "Second.", "Last"]


def test_single_line_break_does_not_end_a_sentence() -> None:
    assert sentences("one line\nand the next") == ["one line\nand the next"]
    assert sentences("old mac\r\rbreaks") == ["old mac", "breaks"]


def test_numbered_list_markers_are_not_sentences() -> None:
    assert sentences("1. First item\n2. Second item") == ["1. First item\n2. Second item"]
    assert sentences("He was 5. Then 6.") == ["He was 5.", "Then 6."]


@pytest.mark.parametrize("text", ["", " ", "   \n\n\t  \r\n", "\u3000\u00a0"])
def test_empty_and_whitespace_only(text: str) -> None:
    assert split_sentences(text) == []


def test_offsets_index_the_whole_text_within_a_range() -> None:
    text = "Skip this. Keep one. Keep two. Skip that."
    start = text.index("Keep")
    end = text.index("Skip that")
    spans = split_sentences(text, start, end)
    assert [text[a:b] for a, b in spans] == ["Keep one.", "Keep two."]
    assert spans[0][0] == start


def test_range_end_cuts_a_sentence_cleanly() -> None:
    text = "A long sentence here. Another"
    assert sentences(text, 0, 8) == ["A long s"]


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (4, 2), (0, 99)])
def test_bad_range_raises(start: int, end: int) -> None:
    with pytest.raises(ChunkingError):
        split_sentences("short text", start, end)


@pytest.mark.parametrize("char", ["*", ".", "!", " ", "中", "。", "…", "\n"])
def test_one_megabyte_of_one_character_is_linear(char: str) -> None:
    assert_linear(lambda n: split_sentences(char * n), 1_000_000)
    text = char * 1_000_000
    spans = split_sentences(text)
    # One run of anything without a break is one sentence (or none for whitespace).
    assert spans == ([] if char.isspace() else [(0, len(text))])


def test_many_candidate_breaks_are_linear() -> None:
    # Every dot here makes the splitter look back at a word and ahead at the next one; a
    # quadratic look would take minutes on this, a linear one a fraction of a second.
    assert_linear(lambda n: split_sentences("Mr. A. B. e.g. U.S. x. " * n), 10_000)
    assert len(split_sentences("Mr. A. B. e.g. U.S. x. " * 10_000)) == 10_000


PIECES = st.sampled_from(
    [
        *"aZ3 .!?…。！？\"')]」”（(“\n\r\t",
        *("Mr.", "e.g.", "U.S.", "3.14", "etc.", "J.", "1.", "No.", "..."),
        *("\r\n", "\n\n", "\u3000", "\u2029", "中文"),
    ]
)
TEXTS = st.lists(PIECES, max_size=80).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, data=st.data())
def test_spans_are_ordered_trimmed_and_cover_every_visible_character(
    text: str, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(text)), label="start")
    end = data.draw(st.integers(start, len(text)), label="end")
    spans = split_sentences(text, start, end)
    covered: set[int] = set()
    previous_end = start
    for a, b in spans:
        assert previous_end <= a < b <= end, (spans, start, end)
        assert not text[a].isspace() and not text[b - 1].isspace()
        covered.update(range(a, b))
        previous_end = b
    visible = {i for i in range(start, end) if not text[i].isspace()}
    assert visible <= covered
    # Nothing outside the range, and only whitespace is ever left out.
    assert all(start <= i < end for i in covered)

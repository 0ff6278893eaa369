"""The CSV format of evaluation questions: what a row must hold, and each refusal's words."""

from __future__ import annotations

import json

import pytest

from chunkyard.evaluation import questions_csv
from chunkyard.evaluation.questions_csv import CsvProblems, parse, write

HEADER = "question,references,corpus_id\n"


def _row(question: str = "Why?", references: object = None, corpus: str = "doc") -> str:
    refs = [{"content": "abc", "start_index": 0, "end_index": 3}] if references is None \
        else references
    encoded = json.dumps(refs) if not isinstance(refs, str) else refs
    return _csv_line([question, encoded, corpus])


def _csv_line(cells: list[str]) -> str:
    return ",".join('"' + c.replace('"', '""') + '"' for c in cells) + "\n"


def test_a_written_file_parses_back() -> None:
    text = write([("Why?", "doc", [(0, 3, "abc"), (5, 9, "defg")]),
                  ('A "quoted", question', "other.md", [(1, 2, "x")])])
    rows = parse(text)
    assert [(r.row, r.question, r.corpus_id) for r in rows] == [
        (2, "Why?", "doc"), (3, 'A "quoted", question', "other.md")]
    assert [(x.start, x.end, x.content) for x in rows[0].references] == [
        (0, 3, "abc"), (5, 9, "defg")]


@pytest.mark.parametrize(("line", "words"), [
    (_row(question="  "), "the question is blank"),
    (_row(question="x" * 2001), "more than 2000"),
    (_row(corpus=" "), "corpus_id is blank"),
    (_row(references="[{"), "not JSON"),
    (_row(references=[]), "non-empty JSON list"),
    (_row(references={"start_index": 0}), "non-empty JSON list"),
    (_row(references=[{"start_index": 0, "end_index": 1}] * 51), "more than 50"),
    (_row(references=[1]), "reference 1 is not an object"),
    (_row(references=[{"start_index": "0", "end_index": 3}]), "whole-number"),
    (_row(references=[{"start_index": True, "end_index": 3}]), "whole-number"),
    (_row(references=[{"start_index": 4, "end_index": 4}]), "spans 4 to 4"),
    (_row(references=[{"start_index": -1, "end_index": 4}]), "at least 0"),
    (_row(references=[{"start_index": 0, "end_index": 4, "content": 7}]), "not text"),
    ('"Why?","[]","doc","extra"\n', "more than the 3 columns"),
])
def test_a_bad_row_is_named_with_what_is_wrong(line: str, words: str) -> None:
    with pytest.raises(CsvProblems) as refused:
        parse(HEADER + _row() + line)
    assert str(refused.value).startswith("row 3: ")
    assert words in str(refused.value)


def test_the_header_and_emptiness() -> None:
    with pytest.raises(CsvProblems, match="no references column"):
        parse("question,corpus_id\nWhy?,doc\n")
    with pytest.raises(CsvProblems, match="no questions"):
        parse(HEADER)


def test_many_bad_rows_are_listed_up_to_a_bound() -> None:
    bad = _row(question=" ") * 15
    with pytest.raises(CsvProblems) as refused:
        parse(HEADER + bad)
    assert len(refused.value.problems) == 15
    assert str(refused.value).count("row ") == questions_csv.MAX_LISTED_PROBLEMS
    assert str(refused.value).endswith("and 5 more")

"""Evaluation questions as CSV, in the format of the shared evaluation set
(`shared/evaldata/chroma-chunking/questions.csv`): a header `question,references,corpus_id`,
then one row per question; `references` is a JSON list of `{"content", "start_index",
"end_index"}` (character offsets into the corpus's text, end excluded) and `corpus_id` names the
document the references point into.

Pure text in, text out: which document a `corpus_id` names, and whether `content` is the text
at its offsets, is the service's to check (`questions.py`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chunkyard.evaluation.schemas import MAX_QUESTION_CHARS, MAX_REFERENCES

COLUMNS = ("question", "references", "corpus_id")
# Row problems named in one refusal; the rest are counted.
MAX_LISTED_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class CsvReference:
    start: int
    end: int
    content: str | None  # the excerpt's text, when the row gives it (checked on import)


@dataclass(frozen=True, slots=True)
class CsvQuestion:
    row: int  # the line's number in the file as a spreadsheet counts it (the header is 1)
    question: str
    corpus_id: str
    references: tuple[CsvReference, ...]


class CsvProblems(ValueError):
    """What is wrong with a file, row by row (the import stores nothing)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        super().__init__(listed + (f"; and {more} more" if more > 0 else ""))


def parse(text: str) -> list[CsvQuestion]:
    """The questions of a CSV file's text; CsvProblems naming every bad row otherwise."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CsvProblems([f"the header has no {', '.join(missing)} column "
                           f"(expected {','.join(COLUMNS)})"])
    questions: list[CsvQuestion] = []
    problems: list[str] = []
    for record in reader:
        row = reader.line_num
        try:
            questions.append(_question(row, record))
        except ValueError as exc:
            problems.append(f"row {row}: {exc}")
    if problems:
        raise CsvProblems(problems)
    if not questions:
        raise CsvProblems(["the file has a header but no questions"])
    return questions


def _question(row: int, record: dict[str, Any]) -> CsvQuestion:
    if None in record:
        raise ValueError(f"it has more than the {len(COLUMNS)} columns of the header")
    question = (record.get("question") or "").strip()
    if not question:
        raise ValueError("the question is blank")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is {len(question)} characters, more than "
                         f"{MAX_QUESTION_CHARS}")
    corpus_id = (record.get("corpus_id") or "").strip()
    if not corpus_id:
        raise ValueError("corpus_id is blank: it names the document the references are in")
    try:
        raw = json.loads(record.get("references") or "")
    except json.JSONDecodeError:
        raise ValueError("references is not JSON (a list of {content, start_index, "
                         "end_index})") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError("references must be a non-empty JSON list")
    if len(raw) > MAX_REFERENCES:
        raise ValueError(f"it has {len(raw)} references, more than {MAX_REFERENCES}")
    return CsvQuestion(row, question, corpus_id,
                       tuple(_reference(n, item) for n, item in enumerate(raw, 1)))


def _reference(number: int, item: Any) -> CsvReference:
    if not isinstance(item, dict):
        raise ValueError(f"reference {number} is not an object")
    start, end, content = item.get("start_index"), item.get("end_index"), item.get("content")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise ValueError(f"reference {number} needs whole-number start_index and end_index")
    assert isinstance(start, int) and isinstance(end, int)
    if start < 0 or end <= start:
        raise ValueError(f"reference {number} spans {start} to {end}: start_index must be at "
                         "least 0 and end_index more than start_index")
    if content is not None and not isinstance(content, str):
        raise ValueError(f"reference {number}'s content is not text")
    return CsvReference(start, end, content)


def write(rows: Iterable[tuple[str, str, list[tuple[int, int, str]]]]) -> str:
    """CSV text of (question, corpus_id, [(start, end, content)]) rows, header first."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for question, corpus_id, references in rows:
        refs = [{"content": content, "start_index": start, "end_index": end}
                for start, end, content in references]
        writer.writerow([question, json.dumps(refs), corpus_id])
    return out.getvalue()

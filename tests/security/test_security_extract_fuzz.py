"""Fuzzing the extractors' text rules: whatever the bytes and the declared charset, HTML
extraction gives safe text (nothing a tokenizer or PostgreSQL refuses) or an
ExtractionError, never another exception; and the safe-text rule keeps every length. The
same files, chunked as a job chunks them in a capped job process (500 MB per case), end as
safe chunks or as a document that fails alone with a sentence."""

from __future__ import annotations

import asyncio
import encodings.aliases
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from security_helpers import html_declaring

from chunkyard.documents.stored import StoredFile
from chunkyard.extract import ExtractionError, extract_bytes
from chunkyard.extract.safe_text import make_safe
from chunkyard.worker.job_process import DocumentFailed, JobProcesses

UNSAFE = re.compile("[\x00\ud800-\udfff]")
# Any code point, surrogates included (hypothesis leaves them out by default), NUL often.
ANY_TEXT = st.text(alphabet=st.one_of(st.characters(exclude_categories=()),
                                      st.sampled_from("\x00\ud800\udfff<>&;#")),
                   max_size=300)
# Every codec name and alias Python knows, and some labels of no codec.
LABELS = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
                | {"utf-7", "unicode_escape", "rot13", "x-user-defined", "bogus", ""})


@settings(max_examples=300, deadline=2000)
@given(label=st.sampled_from(LABELS), body=st.binary(max_size=300))
def test_any_charset_and_bytes_give_safe_text_or_an_extraction_error(
    label: str, body: bytes
) -> None:
    try:
        document = extract_bytes(html_declaring(label, body), "fuzz.html")
    except ExtractionError:
        return
    assert not UNSAFE.search(document.text)
    document.text.encode("utf-8")
    for heading in document.headings:
        assert not UNSAFE.search(heading.title)


@settings(max_examples=300, deadline=2000)
@given(body=ANY_TEXT)
def test_any_markup_gives_safe_text(body: str) -> None:
    data = ("<html><body>" + body + "</body></html>").encode("utf-8", "surrogatepass")
    try:
        document = extract_bytes(data, "fuzz.html")
    except ExtractionError:
        return
    assert not UNSAFE.search(document.text)


@given(text=ANY_TEXT)
def test_make_safe_keeps_length_and_leaves_nothing_unsafe(text: str) -> None:
    safe, warnings = make_safe(text)
    assert len(safe) == len(text)
    assert not UNSAFE.search(safe)
    assert bool(warnings) == bool(UNSAFE.search(text))
    assert all(a == b for a, b in zip(safe, text, strict=True) if not UNSAFE.match(b))


CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PDF = (CORPUS / "report.pdf").read_bytes()
DOCX = (CORPUS / "memo.docx").read_bytes()


def mutated(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    """`data` with each (position, bytes) edit overwriting bytes there."""
    out = bytearray(data)
    for position, patch in edits:
        at = position % len(out)
        out[at:at + len(patch)] = patch
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 10**7), st.binary(min_size=1, max_size=8)),
                 min_size=1, max_size=6)


@settings(max_examples=60, deadline=10_000)
@given(edits=EDITS, name=st.sampled_from(["report.pdf", "memo.docx"]))
def test_damaged_pdf_and_docx_give_safe_text_or_an_extraction_error(
    edits: list[tuple[int, bytes]], name: str
) -> None:
    data = mutated(PDF if name == "report.pdf" else DOCX, edits)
    try:
        document = extract_bytes(data, name, max_chars=1_000_000)
    except ExtractionError:
        return
    assert not UNSAFE.search(document.text)
    assert len(document.text) <= 1_000_000


# -- the same files through a capped job process: bounded memory per case ---------------------

FILES = st.one_of(
    st.tuples(st.just("fuzz.html"), st.builds(html_declaring, st.sampled_from(LABELS),
                                               st.binary(max_size=300))),
    st.tuples(st.sampled_from(["report.pdf", "memo.docx"]), EDITS).map(
        lambda pair: (pair[0], mutated(PDF if pair[0] == "report.pdf" else DOCX, pair[1]))),
)


@pytest.fixture(scope="module")
def job_processes() -> Iterator[JobProcesses]:
    processes = JobProcesses(500, 1)
    yield processes
    processes.close_now()


def test_fuzzed_files_chunk_or_fail_alone_in_a_capped_job_process(
    job_processes: JobProcesses, tmp_path: Path
) -> None:
    # What a job does with each: extract and chunk in a child whose address space is capped
    # at 500 MB. Each case ends as safe chunks, or as a sentence (never a traceback) and a
    # child ready for the next case.
    outcomes: list[str] = []

    async def chunk(path: Path) -> list[str]:
        source = StoredFile(uuid.uuid4(), path, path.name, "0" * 64)
        async with job_processes.chunk(source, {"strategy": "recursive", "params": {}}) as out:
            return [chunk.text async for batch in out.batches for chunk in batch]

    @settings(max_examples=40, deadline=20_000)
    @given(file=FILES)
    def case(file: tuple[str, bytes]) -> None:
        name, data = file
        path = tmp_path / name
        path.write_bytes(data)
        try:
            texts = asyncio.run(chunk(path))
        except DocumentFailed as failed:
            reason = str(failed)
            assert reason and "\n" not in reason and "Traceback" not in reason, reason
            outcomes.append("failed")
            return
        assert not any(UNSAFE.search(text) for text in texts)
        outcomes.append("chunked")

    case()
    assert "chunked" in outcomes and len(job_processes.pids()) == 1

"""Text, code and error behaviour of extract_file / extract_bytes."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from chunkyard.core.types import ChunkingError
from chunkyard.extract import ExtractionError, extract_bytes, extract_file

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.mark.parametrize("name", ["prose.txt", "unicode.txt", "sample.py", "guide.md"])
def test_text_files_round_trip_exactly(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    document = extract_file(CORPUS / name)
    assert document.text == raw.decode("utf-8")
    assert document.text.encode("utf-8") == raw
    assert document.filename == name


def test_unicode_corpus_keeps_crlf_and_combining_marks() -> None:
    document = extract_file(CORPUS / "unicode.txt")
    assert document.kind == "text"
    assert document.text.count("\r\n") == 6
    assert "\n" not in document.text.replace("\r\n", "")
    assert "e\u0301" in document.text  # combining acute, not normalised to é
    assert "👩🏽‍🔧" in document.text
    assert "日本語" in document.text


def test_bom_is_dropped_and_nothing_else_changes(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two\r\n\r\n\ttabbed  \n")
    document = extract_file(path)
    assert document.text == "line one\r\nline two\r\n\r\n\ttabbed  \n"
    assert document.kind == "text"


def test_only_a_leading_bom_is_dropped() -> None:
    document = extract_bytes(b"a\xef\xbb\xbfb", "x.txt")
    assert document.text == "a\ufeffb"


def test_empty_file_is_empty_text() -> None:
    assert extract_bytes(b"", "empty.txt").text == ""
    assert extract_bytes(b"\xef\xbb\xbf", "bom-only.txt").text == ""


def test_source_code_kind_and_language() -> None:
    document = extract_file(CORPUS / "sample.py")
    assert document.kind == "code"
    assert document.language == "python"
    assert document.headings == []
    assert extract_bytes(b"let x = 1;\n", "app.tsx").language == "typescript"
    assert extract_bytes(b"x = 1\n", "lib.js").language == "javascript"
    assert extract_bytes(b"fn main() {}\n", "main.rs").language == "rust"
    assert extract_bytes(b"FROM python:3.11\n", "Dockerfile").language == "dockerfile"


def test_other_text_files_are_text_without_language() -> None:
    document = extract_bytes(b"a,b\n1,2\n", "data.csv")
    assert (document.kind, document.language) == ("text", None)
    assert extract_bytes(b"no extension at all\n", "README").kind == "text"


def test_undecodable_bytes_name_the_file_and_byte_offset() -> None:
    data = "héllo wörld".encode() + b" \xff\xfe tail"
    with pytest.raises(ExtractionError) as info:
        extract_bytes(data, "notes.txt")
    message = str(info.value)
    offset = data.index(b"\xff")
    assert message == f"notes.txt: not valid UTF-8 at byte offset {offset} (byte 0xff)"
    assert "\n" not in message


def test_undecodable_offset_counts_the_bom() -> None:
    with pytest.raises(ExtractionError, match="byte offset 5 "):
        extract_bytes(b"\xef\xbb\xbfab\xc3(", "bom.md")


def test_latin1_file_is_an_error_not_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(ExtractionError, match=r"latin1\.txt: not valid UTF-8 at byte offset 3"):
        extract_file(path)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "ZIP archive"),
        (b"\x7fELF\x02\x01\x01\x00", "ELF executable"),
        (b"plain start\x00\x00\x01\x02 then junk", "NUL bytes"),
        (b"\xff\xfeh\x00i\x00", "UTF-16"),
        (b"GIF89a\x01\x00", "GIF image"),
    ],
)
def test_binary_content_in_a_text_file_is_unsupported(data: bytes, what: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_bytes(data, "looks-like.txt")
    message = str(info.value)
    assert message.startswith("looks-like.txt: unsupported file type (")
    assert what in message


def test_nul_byte_late_in_a_large_text_file_is_still_binary() -> None:
    data = b"a" * 100_000 + b"\x00" + b"b" * 10
    with pytest.raises(ExtractionError, match="unsupported file type"):
        extract_bytes(data, "big.log")


def test_extraction_error_is_a_chunking_error() -> None:
    assert issubclass(ExtractionError, ChunkingError)
    assert issubclass(ExtractionError, ValueError)


def test_missing_file_is_an_extraction_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(ExtractionError) as info:
        extract_file(path)
    assert str(info.value).startswith(f"{path}: cannot read the file (")
    assert "No such file" in str(info.value)


def test_directory_is_an_extraction_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="is a directory"):
        extract_file(tmp_path)


def test_accepts_str_paths() -> None:
    document = extract_file(str(CORPUS / "prose.txt"))
    assert document.text.startswith("The Lighthouse Keeper's Ledger\n")


@pytest.mark.parametrize("prefix", [b"", b"\xef\xbb\xbf"])
def test_large_text_file_needs_at_most_twice_its_size(tmp_path: Path, prefix: bytes) -> None:
    size = 16 * 1024 * 1024
    path = tmp_path / "large.txt"
    path.write_bytes(prefix + b"0123456789abcde\n" * (size // 16))
    tracemalloc.start()
    try:
        document = extract_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(document.text) == size
    # The bytes and the str (1 byte per character for ASCII) at the same time, no third copy.
    assert peak < 2.5 * size, f"peak {peak / size:.2f}x the file size"


@pytest.mark.parametrize("strategy", ["recursive", "markdown", "hierarchical"])
def test_text_named_like_a_file_chunks_like_that_file(strategy: str) -> None:
    """A preview of pasted text with a file name is what a job stores for that file."""
    from chunkyard import chunk_text, iter_chunks

    text = (
        "# Guide\n\nIntro words here.\n\n## Setup\n\nInstall it. " + "Step words. " * 80
        + "\n\nSetext title\n------------\n\nMore text " * 5
    )
    pasted = chunk_text(text, strategy, filename="guide.md", chunk_size=48)
    stored = list(iter_chunks(extract_bytes(text.encode(), "guide.md"), strategy,
                              {"chunk_size": 48}))
    assert [(c.start, c.end, c.tokens, c.metadata) for c in pasted] == [
        (c.start, c.end, c.tokens, c.metadata) for c in stored
    ]
    assert any(c.metadata.get("headings") for c in stored)

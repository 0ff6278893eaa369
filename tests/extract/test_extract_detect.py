"""detect_kind: content signatures first, then the extension, then an HTML sniff."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkyard.extract import detect_kind, language_for

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.mark.parametrize(
    ("filename", "head", "kind"),
    [
        ("notes.txt", b"hello", "text"),
        ("NOTES.TXT", b"hello", "text"),
        ("README", b"hello", "text"),
        ("guide.md", b"# Title", "markdown"),
        ("guide.markdown", b"# Title", "markdown"),
        ("main.py", b"import os", "code"),
        ("config.yml", b"a: 1", "code"),
        ("index.html", b"<p>hi</p>", "html"),
        ("index.htm", b"hello", "html"),
        ("page", b"\n  <!doctype HTML><html>", "html"),
        ("page.dat", b"<html lang=en><body>", "html"),
        ("notes.txt", b"<!DOCTYPE html><html>", "text"),
        ("report.pdf", b"anything", "pdf"),
        ("report.bin", b"%PDF-1.7\n", "pdf"),
        ("memo.docx", b"anything", "docx"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n", "binary"),
        ("archive.md", b"PK\x03\x04\x14\x00", "binary"),
        ("prog.py", b"\x7fELF\x02", "binary"),
        ("data.txt", b"abc\x00def", "binary"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "binary"),
        ("bom.txt", b"\xef\xbb\xbfhello", "text"),
    ],
)
def test_detect_kind(filename: str, head: bytes, kind: str) -> None:
    assert detect_kind(filename, head) == kind


def test_docx_zip_detected_from_a_prefix_or_the_whole_file() -> None:
    data = (CORPUS / "memo.docx").read_bytes()
    assert detect_kind("upload", data) == "docx"
    assert detect_kind("upload", data[:4096]) == "docx"


@pytest.mark.parametrize(
    ("filename", "language"),
    [
        ("a.py", "python"),
        ("a.js", "javascript"),
        ("a.ts", "typescript"),
        ("a.tsx", "typescript"),
        ("a.jsx", "javascript"),
        ("A.JAVA", "java"),
        ("a.go", "go"),
        ("a.rs", "rust"),
        ("a.h", "c"),
        ("a.hpp", "cpp"),
        ("a.cs", "csharp"),
        ("a.kt", "kotlin"),
        ("a.sh", "shell"),  # one name for shell scripts and ```sh fences
        ("a.yaml", "yaml"),
        ("Makefile", "make"),
        ("notes.txt", None),
        ("guide.md", None),
    ],
)
def test_language_for(filename: str, language: str | None) -> None:
    assert language_for(filename) == language

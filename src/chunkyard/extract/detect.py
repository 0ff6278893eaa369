"""Decide what kind of document a file is from its name and its first bytes."""

from __future__ import annotations

import io
import zipfile

from chunkyard.extract.filekinds import (
    HTML_EXTENSIONS,
    MARKDOWN_EXTENSIONS,
    TEXT_EXTENSIONS,
    extension,
    language_for,
)

# Checked in order; the first prefix that matches names the content.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", ""),  # UTF-8 BOM: text, stop looking
    (b"\x00\x00\xfe\xff", "UTF-32 text (convert it to UTF-8)"),
    (b"\xff\xfe\x00\x00", "UTF-32 text (convert it to UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (convert it to UTF-8)"),
    (b"\xff\xfe", "UTF-16 text (convert it to UTF-8)"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"PK\x07\x08", "ZIP archive"),
    (b"\x7fELF", "ELF executable"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office document (.doc/.xls/.ppt)"),
    (b"\xca\xfe\xba\xbe", "Java class or Mach-O binary"),
    (b"\xcf\xfa\xed\xfe", "Mach-O binary"),
    (b"\xce\xfa\xed\xfe", "Mach-O binary"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x00asm", "WebAssembly module"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"{\\rtf", ""),  # RTF is text; extracted as is
)


def binary_type(head: bytes) -> str | None:
    """A human name for binary content ("PNG image"), or None when `head` may be text."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name or None
    if head[4:8] == b"ftyp":
        return "MP4/QuickTime media"
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return "RIFF media"
    if b"\x00" in head:
        return "binary data (NUL bytes)"
    return None


def is_docx_zip(head: bytes) -> bool:
    """Whether zip content holds `word/document.xml`; `head` may be the whole file or a prefix."""
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(head)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        # A prefix of a zip has no central directory; fall back to the local header names.
        return b"word/document.xml" in head or b"word/_rels/" in head


def looks_like_html(head: bytes) -> bool:
    """Whether content starts like an HTML document (doctype, <html> or a <head>/<body>)."""
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return True
    return start.startswith(b"<") and (b"<html" in start or b"<body" in start)


def detect_kind(filename: str, head: bytes) -> str:
    """The kind of document: "text", "markdown", "code", "html", "pdf", "docx" or "binary".

    `head` is the start of the file (a few KB) or the whole file. Content signatures win
    over the name for PDF, DOCX and binary data; otherwise the extension decides, and a
    file with an unknown extension is sniffed for HTML before falling back to "text".
    """
    ext = extension(filename)
    if head.startswith(b"%PDF-") or ext == "pdf":
        return "pdf"
    if is_docx_zip(head) or ext == "docx":
        return "docx"
    if binary_type(head) is not None:
        return "binary"
    if ext in HTML_EXTENSIONS:
        return "html"
    if ext in MARKDOWN_EXTENSIONS:
        return "markdown"
    if language_for(filename) is not None:
        return "code"
    if ext not in TEXT_EXTENSIONS and looks_like_html(head):
        return "html"
    return "text"

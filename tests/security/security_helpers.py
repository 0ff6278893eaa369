"""Hostile files for the security tests, built byte by byte."""

from __future__ import annotations

import io
import zlib


def html_declaring(charset: str, body: bytes) -> bytes:
    """An HTML page whose `<meta charset>` says `charset`, with `body` in a paragraph."""
    return (b'<!doctype html><html><head><meta charset="' + charset.encode() + b'">'
            b"<title>t</title></head><body><h1>Poison</h1><p>" + body + b"</p></body></html>")


def nested_lists(depth: int) -> bytes:
    """An HTML page of `depth` nested, never closed `<ul><li>` lists."""
    return b"<html><body>" + b"<ul><li>x" * depth + b"</body></html>"


def pdf_with_content(content: bytes, pages: int = 1, *, deflate: bool = False) -> bytes:
    """A PDF of `pages` pages that all draw one content stream `content` in Helvetica
    (stored deflated when `deflate`)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
        + b"] /Count " + str(pages).encode() + b" >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = str(4 + pages).encode()
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 3 0 R >> >> /Contents " + stream + b" 0 R >>"] * pages
    stored = zlib.compress(content, 9) if deflate else content
    filters = b" /Filter /FlateDecode" if deflate else b""
    objects.append(b"<< /Length " + str(len(stored)).encode() + filters + b" >>\nstream\n"
                   + stored + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
              "%%EOF\n".encode())
    return out.getvalue()


def pdf_with_nul(tag: str) -> bytes:
    """A PDF whose text has a NUL between words (pypdf extracts the 0 byte as U+0000)."""
    return pdf_with_content(b"BT /F1 12 Tf 72 700 Td (before\\000after " + tag.encode()
                            + b") Tj ET")


def pdf_drawing(characters: int, pages: int) -> bytes:
    """A small PDF whose `pages` pages share one deflated stream drawing `characters`
    characters of text (words of 9 letters), each page drawing them all."""
    words = characters // 10
    lines = b"".join(b"(wordwordw ) Tj " for _ in range(words))
    return pdf_with_content(b"BT /F1 12 Tf 72 700 Td " + lines + b"ET", pages, deflate=True)

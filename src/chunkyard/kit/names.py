"""One rule for the names people give things (collections, uploaded files): they are shown in
lists, headers and the UI, so no character may change how the text around them reads.

Refused: control characters (C0, DEL, C1 such as NEL), line and paragraph separators
(U+2028, U+2029), the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
U+2066-U+2069: "Trojan Source" reordering), lone surrogates and noncharacters. Other format
characters stay allowed (the zero-width joiner of emoji sequences, soft hyphens).
"""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SEPARATORS = frozenset("\u2028\u2029")


def unsafe_character(name: str) -> str | None:
    """A description of the first character a name must not have (e.g. "U+202E"), or None."""
    for c in name:
        code = ord(c)
        if (
            c in _BIDI_CONTROLS
            or c in _SEPARATORS
            or unicodedata.category(c) in ("Cc", "Cs")
            or 0xFDD0 <= code <= 0xFDEF
            or (code & 0xFFFE) == 0xFFFE
        ):
            return f"U+{code:04X}"
    return None

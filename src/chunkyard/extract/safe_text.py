"""The one rule for text that cannot be tokenized or stored: lone surrogates and NUL become U+FFFD.

Every text that enters the system passes here (an extracted file in `files.py`, and so the
CLI's; text pasted into a preview or compare in `pasted.py: pasted_document`; the library's
`chunk_text` chunks its caller's text as it is, so that its offsets index that text):
UTF-8 cannot encode a lone surrogate (a tokenizer raises `UnicodeEncodeError` on it), and
PostgreSQL stores no NUL in `text` or `jsonb`. Each such code point is replaced by one code
point, U+FFFD REPLACEMENT CHARACTER, so the text keeps its length and every offset into it
(headings, pages, chunks) stays exact against the text that is stored and shown.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
# A surrogate in a Python str is always lone (a pair would be one astral code point).
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def make_safe(text: str) -> tuple[str, list[str]]:
    """`text` with every NUL and lone surrogate replaced by U+FFFD (same length), and the
    warnings to show with it (none when nothing was replaced)."""
    if text.isascii():
        if "\x00" not in text:
            return text, []
    elif _UNSAFE.search(text) is None:
        return text, []
    safe, replaced = _UNSAFE.subn(REPLACEMENT, text)
    return safe, [replacement_warning(replaced)]


def safe_string(text: str) -> str:
    """`text` under the same rule, without the warning (for a heading title and the like,
    whose replaced characters the text's warning already counts)."""
    return make_safe(text)[0]


def replacement_warning(replaced: int) -> str:
    """The sentence a document carries when the rule changed its text."""
    what = "character" if replaced == 1 else "characters"
    return (f"{replaced} {what} that cannot be stored (NUL or a lone UTF-16 surrogate) "
            f"replaced by U+FFFD")

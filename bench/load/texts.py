"""Texts for the load runs: markdown of a given size, different every call (so a preview
is never a cache hit and an upload never a duplicate)."""

from __future__ import annotations

import random
import uuid

_WORDS = ("chunk", "retrieval", "embedding", "boundary", "token", "overlap", "heading",
          "paragraph", "sentence", "document", "vector", "search", "query", "answer")

def text_of(kilobytes: int) -> str:
    """Markdown of about `kilobytes` KB, different every call."""
    rng = random.Random()
    parts, size = [], 0
    while size < kilobytes * 1024:
        if rng.random() < 0.1:
            line = f"## {' '.join(rng.choices(_WORDS, k=3)).title()} {uuid.uuid4().hex[:6]}"
        else:
            line = " ".join(rng.choices(_WORDS, k=rng.randint(20, 60))) + "."
        parts.append(line)
        size += len(line) + 2
    return "\n\n".join(parts)

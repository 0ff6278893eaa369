"""The chunk invariants of SPEC section 1, as one reusable check."""

from __future__ import annotations

from collections.abc import Sequence

from chunkyard import Chunk
from chunkyard.core.sizing import get_tokenizer


def check_invariants(text: str, chunks: Sequence[Chunk], chunk_size: int, overlap: int = 0,
                     tokenizer: str = "cl100k", ordered_leaves: bool = True) -> None:
    """Fail with a precise message when any SPEC section 1 invariant does not hold."""
    tok = get_tokenizer(tokenizer)
    covered = 0  # every non-whitespace character before this offset is covered
    prev: Chunk | None = None
    for i, c in enumerate(chunks):
        assert c.index == i, f"chunk {i} has index {c.index}"
        assert 0 <= c.start < c.end <= len(text), f"chunk {i} bad offsets {c.start}..{c.end}"
        assert c.text == text[c.start:c.end], f"chunk {i} text differs from source slice"
        assert c.text.strip(), f"chunk {i} is empty or whitespace"
        exact = tok.count(c.text)
        assert c.tokens == exact, f"chunk {i} reports {c.tokens} tokens, tokenizer says {exact}"
        assert exact <= chunk_size, f"chunk {i} has {exact} tokens > cap {chunk_size}"
        assert "strategy" in c.metadata
        if prev is not None and ordered_leaves:
            assert c.start >= prev.start, f"chunk {i} starts before chunk {i - 1}"
            if c.start < prev.end:
                shared = tok.count(text[c.start:prev.end])
                assert shared <= overlap, (
                    f"chunks {i - 1},{i} overlap by {shared} tokens > {overlap}"
                )
        gap = text[covered:c.start]
        assert not gap.strip(), (
            f"non-whitespace text dropped before chunk {i}: {gap.strip()[:40]!r}"
        )
        covered = max(covered, c.end)
        prev = c
    tail = text[covered:]
    assert not tail.strip(), f"non-whitespace text dropped at the end: {tail.strip()[:40]!r}"

"""Chunking previews: run a configuration on a text off the event loop, with a per-user cache.

The cache key is (sha256(text), filename, strategy, canonical params): canonical means the
validated parameters with every default filled in, so `{}` and `{"chunk_size": 512}` share an
entry. Entries hold every chunk (the response slices to `max_chunks`), and are bounded per
user by characters held and by count, least recently used first out. It is per user so that
`cached: true` never tells one user what another has previewed.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from chunkyard.core.compare import SMALL_FRACTION, clean_end
from chunkyard.core.pipeline import document_from_text
from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk

# A preview's text is at most this long; longer texts belong in a collection.
MAX_PREVIEW_CHARS = 2_000_000
ENTRIES_PER_USER = 32
CHARS_PER_USER = 8_000_000
MAX_USERS = 256


@dataclass(frozen=True, slots=True)
class PreviewResult:
    chunks: list[Chunk]
    metrics: dict[str, Any]

    @property
    def weight(self) -> int:
        return sum(len(c.text) for c in self.chunks) + 1


def cache_key(text: str, filename: str | None, strategy: str, params: dict[str, Any]) -> str:
    canonical = json.dumps(
        [hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), filename or "",
         strategy, params],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class PreviewCache:
    """Per-user LRU caches of preview results, bounded per user and in number of users."""

    def __init__(
        self,
        entries_per_user: int = ENTRIES_PER_USER,
        chars_per_user: int = CHARS_PER_USER,
        max_users: int = MAX_USERS,
    ) -> None:
        self.entries_per_user = entries_per_user
        self.chars_per_user = chars_per_user
        self.max_users = max_users
        self._users: OrderedDict[uuid.UUID, OrderedDict[str, PreviewResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user: uuid.UUID, key: str) -> PreviewResult | None:
        with self._lock:
            entries = self._users.get(user)
            if entries is None or key not in entries:
                return None
            self._users.move_to_end(user)
            entries.move_to_end(key)
            return entries[key]

    def put(self, user: uuid.UUID, key: str, result: PreviewResult) -> None:
        if result.weight > self.chars_per_user:
            return
        with self._lock:
            entries = self._users.setdefault(user, OrderedDict())
            self._users.move_to_end(user)
            entries[key] = result
            entries.move_to_end(key)
            held = sum(r.weight for r in entries.values())
            while len(entries) > self.entries_per_user or held > self.chars_per_user:
                _, dropped = entries.popitem(last=False)
                held -= dropped.weight
            while len(self._users) > self.max_users:
                self._users.popitem(last=False)


def _p95(sorted_counts: list[int]) -> int:
    if not sorted_counts:
        return 0
    return sorted_counts[max(math.ceil(0.95 * len(sorted_counts)), 1) - 1]


def run_preview(
    text: str, filename: str | None, strategy: str, params: dict[str, Any]
) -> PreviewResult:
    """Chunk `text` (blocking, CPU-bound: call it in a worker thread) and measure the chunks.

    The metrics are those of `core.compare` for one configuration.
    """
    built = create_strategy(strategy, params)
    doc = document_from_text(text, filename)
    cap = built.params.chunk_size
    started = time.perf_counter()
    chunks = list(built.chunks(doc))
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    counts = sorted(c.tokens for c in chunks)
    n = len(counts)
    small = sum(1 for c in chunks if c.tokens < cap * SMALL_FRACTION)
    mid = sum(1 for c in chunks if not clean_end(text, c.end))
    metrics = {
        "chunk_count": n,
        "tokens_mean": round(sum(counts) / n, 2) if n else 0.0,
        "tokens_min": counts[0] if n else 0,
        "tokens_max": counts[-1] if n else 0,
        "tokens_p95": _p95(counts),
        "small_share": round(small / n, 4) if n else 0.0,
        "mid_sentence_share": round(mid / n, 4) if n else 0.0,
        "time_ms": round(elapsed_ms, 3),
    }
    return PreviewResult(chunks, metrics)

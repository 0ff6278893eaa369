"""Identifiers and the stable partition key: time-ordered UUIDs, and the key from a document id."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from uuid import UUID

PARTITION_COUNT = 100
"""The chunks table has exactly this many LIST partitions, for keys 0..PARTITION_COUNT-1."""

_lock = threading.Lock()
_last_ms = 0
_last_seq = 0


def uuid7() -> UUID:
    """A version-7 UUID (RFC 9562): 48-bit Unix milliseconds, then randomness.

    Ids made in one process are strictly increasing (a 12-bit counter inside one millisecond),
    so ordering rows by id orders them by creation: keyset pagination by id lists documents in
    upload order, and chunks of a collection come document by document in that order.
    """
    global _last_ms, _last_seq
    rand = int.from_bytes(os.urandom(10), "big")
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            seq = (rand >> 62) & 0x7FF  # random start, top bit clear: room to count up
        else:
            ms = _last_ms
            seq = _last_seq + 1
            if seq > 0xFFF:  # 4096 ids in one millisecond: borrow the next millisecond
                ms += 1
                seq = 0
        _last_ms, _last_seq = ms, seq
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= seq << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return UUID(int=value)


def partition_key_for(document_id: UUID) -> int:
    """The chunk partition (0..99) of a document: stable across processes, machines, versions.

    The first 8 bytes of BLAKE2b over the UUID's 16 bytes, modulo 100. Never Python's `hash()`,
    which is salted per process. Keyed on the document, not the collection, so a large
    collection spreads over all partitions instead of filling one.
    """
    digest = hashlib.blake2b(document_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") % PARTITION_COUNT


def partition_table_name(key: int, table: str = "chunks") -> str:
    """The name of the child partition holding `key`, e.g. `chunks_p07`."""
    if not 0 <= key < PARTITION_COUNT:
        raise ValueError(f"partition key must be in 0..{PARTITION_COUNT - 1}, got {key}")
    return f"{table}_p{key:02d}"

"""Stable chunk ids: derived from the document, the configuration, the text and its occurrence.

A chunk's id is the first 32 hex digits of the SHA-256 of the UTF-8 bytes of

    "<document id>|<configuration hash>|<occurrence>|<chunk text>"

where the document id is the UUID in its lowercase hyphenated form, the configuration hash is
the 64 hex digits of `config_hash_for` (the SHA-256 of the configuration's canonical JSON),
and the occurrence is the 0-based decimal number of chunks with the same text before it in
the same document, in chunk order. Nothing positional (index, offsets) goes in: the same
text in the same document under the same configuration keeps its id across re-runs, and an
edit early in a document leaves the ids of later chunks whose text did not change as they
were. Revision 0007 of the migrations computes the same rule in SQL; it must never change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from uuid import UUID

ID_LENGTH = 32


def _encoded(text: str) -> bytes:
    # A lone surrogate (SQLite can hold one) is encoded as it is rather than refused.
    return text.encode("utf-8", "surrogatepass")


def stable_chunk_id(document_id: UUID, config_hash: str, text: str, occurrence: int) -> str:
    """The id of the `occurrence`-th chunk (0-based) with `text` in the document."""
    digest = hashlib.sha256(f"{document_id}|{config_hash}|{occurrence}|".encode("ascii"))
    digest.update(_encoded(text))
    return digest.hexdigest()[:ID_LENGTH]


class StableIds:
    """Gives a document's chunks their ids in chunk order, counting equal texts as it goes
    (the texts are kept only as 16-byte digests, so a long document costs little)."""

    __slots__ = ("_prefix", "_seen")

    def __init__(self, document_id: UUID, config_hash: str) -> None:
        # The hash of the part every id of the document starts with, copied for each chunk.
        self._prefix = hashlib.sha256(f"{document_id}|{config_hash}|".encode("ascii"))
        self._seen: dict[bytes, int] = {}

    def next_id(self, text: str) -> str:
        """The id of the next chunk, whose text is `text`."""
        data = _encoded(text)
        key = hashlib.blake2b(data, digest_size=16).digest()
        occurrence = self._seen.get(key, 0)
        self._seen[key] = occurrence + 1
        digest = self._prefix.copy()
        digest.update(b"%d|" % occurrence)
        digest.update(data)
        return digest.hexdigest()[:ID_LENGTH]


def stable_chunk_ids(document_id: UUID, config_hash: str, texts: Iterable[str]) -> list[str]:
    """The ids of a document's chunks, given their texts in chunk order."""
    ids = StableIds(document_id, config_hash)
    return [ids.next_id(text) for text in texts]

"""The partition key: stable (never the salted hash()), evenly spread, carried by documents."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter

import pytest

from chunkyard.storage.keys import PARTITION_COUNT, partition_key_for, partition_table_name, uuid7
from chunkyard.storage.models import Document

# Pinned: a change here moves every stored chunk to another partition.
GOLDEN = {
    "00000000-0000-0000-0000-000000000000": 66,
    "00000000-0000-0000-0000-000000000001": 2,
    "0190f1a2-7b3c-7def-8123-456789abcdef": 39,
    "ffffffff-ffff-ffff-ffff-ffffffffffff": 95,
    "123e4567-e89b-12d3-a456-426614174000": 65,
}


@pytest.mark.parametrize(("value", "key"), sorted(GOLDEN.items()))
def test_partition_key_is_pinned(value: str, key: int) -> None:
    assert partition_key_for(uuid.UUID(value)) == key


def test_partition_key_is_the_same_in_other_processes() -> None:
    # Python's hash() of the same value differs between these two processes.
    code = (
        "import uuid; from chunkyard.storage.keys import partition_key_for as k; "
        f"print([k(uuid.UUID(u)) for u in {sorted(GOLDEN)!r}], hash('salt'))"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout.split("] ")
        for seed in ("1", "2")
    ]
    assert outputs[0][0] == outputs[1][0] == str([GOLDEN[u] for u in sorted(GOLDEN)])[:-1]
    assert outputs[0][1] != outputs[1][1]


def test_keys_spread_evenly_over_the_partitions() -> None:
    counts = Counter(partition_key_for(uuid7()) for _ in range(100_000))
    assert set(counts) == set(range(PARTITION_COUNT))
    mean = 100_000 / PARTITION_COUNT
    assert max(counts.values()) / mean < 1.15
    assert min(counts.values()) / mean > 0.85


def test_uuid7_is_version_7_and_increasing() -> None:
    values = [uuid7() for _ in range(10_000)]
    assert all(v.version == 7 and v.variant == uuid.RFC_4122 for v in values)
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_document_gets_its_id_and_key() -> None:
    document = Document(collection_id=uuid7(), filename="a", size_bytes=1, content_sha256="0")
    assert document.id.version == 7
    assert document.partition_key == partition_key_for(document.id)
    given = uuid.UUID("00000000-0000-0000-0000-000000000001")
    assert Document(id=given, collection_id=given, filename="a", size_bytes=1,
                    content_sha256="0").partition_key == 2


def test_document_refuses_a_wrong_key() -> None:
    given = uuid.UUID("00000000-0000-0000-0000-000000000001")
    with pytest.raises(ValueError, match="partition_key"):
        Document(id=given, partition_key=3, collection_id=given, filename="a", size_bytes=1,
                 content_sha256="0")


def test_partition_table_names() -> None:
    assert partition_table_name(0) == "chunks_p00"
    assert partition_table_name(99) == "chunks_p99"
    with pytest.raises(ValueError):
        partition_table_name(100)

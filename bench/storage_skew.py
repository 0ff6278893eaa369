"""Partition skew on PostgreSQL with 1,000 collections of Zipf-distributed sizes.

Usage::

    python bench/storage_skew.py                      # 50,000 documents, Zipf s = 1.0
    python bench/storage_skew.py --zipf 1.2 --seed 3

Loads, into a fresh database (dropped afterwards): 1,000 collections whose sizes follow
Zipf's law (the k-th largest holds a share proportional to 1/k^s; 50,000 documents in all,
every collection at least one), and for every document a log-normal number of chunks
(median 20, 1..400) written with COPY. Then runs `partition_report` (what
`chunkyard partitions report` prints) and checks the skew (max/mean rows per partition)
against the target of 1.5.

For contrast it also prints the skew the same data would have with the partition key taken
from the collection id instead of the document id (computed, not loaded).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
from collections import Counter

from sqlalchemy import text

from chunkyard.storage.dialect import ChunkRow, PostgresDialect
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.keys import PARTITION_COUNT, partition_key_for, uuid7
from chunkyard.storage.partitions import format_report, partition_report
from storage_common import Stopwatch, bench_database

TARGET = 1.5


def zipf_sizes(collections: int, total: int, s: float) -> list[int]:
    """Sizes proportional to 1/k^s that add up to `total`, each at least 1."""
    weights = [1 / k**s for k in range(1, collections + 1)]
    scale = (total - collections) / sum(weights)
    sizes = [1 + int(w * scale) for w in weights]
    for k in range(total - sum(sizes)):  # hand out the rounding remainder, largest first
        sizes[k % collections] += 1
    return sizes


async def main(collections_total: int, documents_total: int, s: float, seed: int) -> None:
    rng = random.Random(seed)
    sizes = zipf_sizes(collections_total, documents_total, s)
    async with bench_database("skew") as settings:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        watch = Stopwatch()
        user = uuid7()
        collections = [uuid7() for _ in sizes]
        documents = [(uuid7(), c) for c, size in zip(collections, sizes, strict=True)
                     for _ in range(size)]
        chunk_counts = [max(1, min(400, round(rng.lognormvariate(math.log(20), 0.8))))
                        for _ in documents]
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO users (id, username, password_hash) VALUES (:id, 'bench', 'x')"),
                {"id": user})
            await connection.execute(
                text("INSERT INTO collections (id, owner_id, name, config) "
                     "VALUES (:id, :owner, :name, '{}')"),
                [{"id": c, "owner": user, "name": f"c{n}"} for n, c in enumerate(collections)])
            await connection.execute(text(
                "INSERT INTO chunk_configs (id, config_hash) VALUES (1, repeat('c', 64))"))
            raw = await connection.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(
                "documents",
                records=[(d, c, partition_key_for(d), "doc.md", 1000, "0" * 64, "chunked", n)
                         for (d, c), n in zip(documents, chunk_counts, strict=True)],
                columns=["id", "collection_id", "partition_key", "filename", "size_bytes",
                         "content_sha256", "status", "chunk_count"],
            )
        dialect = PostgresDialect()
        metadata = {"strategy": "recursive"}
        batch: list[ChunkRow] = []
        for (document, collection), count in zip(documents, chunk_counts, strict=True):
            key = partition_key_for(document)
            batch += [ChunkRow(key, collection, document, 1, f"{i:032x}", i, f"chunk {i}", 0,
                               10, 3, metadata) for i in range(count)]
            if len(batch) >= 200_000:
                async with sessions() as session:
                    await session.execute(text("SELECT 1"))
                    await dialect.insert_chunks(session, batch)
                    await session.commit()
                batch = []
        if batch:
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
                await dialect.insert_chunks(session, batch)
                await session.commit()
        load_seconds = watch.lap()

        async with engine.connect() as connection:
            report = await partition_report(connection)
        await engine.dispose()

    print(f"{collections_total:,} collections, Zipf s={s}: largest {sizes[0]:,} documents, "
          f"median {sorted(sizes)[len(sizes) // 2]}, smallest {sizes[-1]}; "
          f"{len(documents):,} documents, {sum(chunk_counts):,} chunks "
          f"(loaded in {load_seconds:.1f} s)")
    print()
    print("\n".join(format_report(report).splitlines()[:4]))
    by_documents = max(p.documents for p in report.partitions) / (
        report.total_documents / PARTITION_COUNT)
    print(f"documents per partition: skew {by_documents:.3f}")
    by_collection: Counter[int] = Counter()
    for (_, collection), count in zip(documents, chunk_counts, strict=True):
        by_collection[partition_key_for(collection)] += count
    naive = max(by_collection.values()) / (sum(chunk_counts) / PARTITION_COUNT)
    print(f"for contrast, keyed by collection id instead: skew {naive:.2f}")
    verdict = "met" if report.skew <= TARGET else "NOT met"
    print(f"target skew <= {TARGET}: {verdict} (skew {report.skew:.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collections", type=int, default=1000)
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.collections, args.documents, args.zipf, args.seed))

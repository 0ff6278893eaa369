"""Read latency with 5 million chunks on PostgreSQL: document pages and collection keyset pages.

Usage::

    python bench/storage_pagination.py                     # 50,000 documents x 100 chunks
    python bench/storage_pagination.py --documents 5000    # a quick run (500,000 chunks)

Loads, into a fresh database (dropped afterwards): 10 collections of `--documents / 10`
documents each (ids and partition keys made by the application, written with COPY), and 100
chunks of ~160 characters per document, generated in the server (`INSERT ... SELECT` over
`generate_series`, one statement per partition on two connections); then VACUUM ANALYZE.

Measures, through the repository functions the API calls (SQLAlchemy session, ORM objects):

* ``document page``: `list_document_chunks(limit=100)` for `--samples` random documents;
  p50/p99 against the 20 ms p99 target.
* ``collection keyset``: `list_collection_chunks(limit=100)` walking one whole collection
  (500,000 chunks: 5,000 pages) with the cursor; the first 100 pages against the last 100;
  then the first and the last page alone, `--samples` times each, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from sqlalchemy import text

from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.keys import PARTITION_COUNT, partition_key_for, uuid7
from chunkyard.storage.repositories import list_collection_chunks, list_document_chunks
from storage_common import Stopwatch, bench_database, ms, percentile

DOCUMENT_TARGET_P99 = 0.020
COLLECTIONS = 10
CHUNKS_PER_DOCUMENT = 100


def _summary(label: str, values: list[float]) -> str:
    return (f"  {label:<26} p50 {ms(statistics.median(values)):>10}   "
            f"p99 {ms(percentile(values, 99)):>10}   max {ms(max(values)):>10}   "
            f"(n={len(values)})")


async def main(documents_total: int, samples: int) -> None:
    async with bench_database("pages") as settings:
        engine = create_engine(settings, pool_size=4)
        sessions = create_session_factory(engine)
        watch = Stopwatch()

        # -- load ----------------------------------------------------------------------------
        user, collections = uuid7(), [uuid7() for _ in range(COLLECTIONS)]
        per_collection = documents_total // COLLECTIONS
        documents = [(uuid7(), c) for c in collections for _ in range(per_collection)]
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO users (id, username, password_hash) VALUES (:id, 'bench', 'x')"),
                {"id": user})
            for n, collection in enumerate(collections):
                await connection.execute(text(
                    "INSERT INTO collections (id, owner_id, name, config) "
                    "VALUES (:id, :owner, :name, '{}')"),
                    {"id": collection, "owner": user, "name": f"c{n}"})
            await connection.execute(text(
                "INSERT INTO chunk_configs (id, config_hash) VALUES (1, repeat('c', 64))"))
            raw = await connection.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(
                "documents",
                records=[(d, c, partition_key_for(d), "doc.md", 1000, "0" * 64, "chunked",
                          CHUNKS_PER_DOCUMENT) for d, c in documents],
                columns=["id", "collection_id", "partition_key", "filename", "size_bytes",
                         "content_sha256", "status", "chunk_count"],
            )

        async def fill(keys: list[int]) -> None:
            async with engine.connect() as connection:
                for key in keys:
                    await connection.execute(text(
                        "INSERT INTO chunks (partition_key, collection_id, document_id, "
                        "config_id, stable_id, chunk_index, text, start_offset, "
                        "end_offset, tokens, metadata) "
                        "SELECT d.partition_key, d.collection_id, d.id, 1, "
                        "md5(d.id::text || g::text), g, "
                        "repeat(md5(d.id::text || g::text), 5), g * 160, g * 160 + 160, 40, "
                        "'{\"strategy\": \"recursive\"}'::jsonb "
                        f"FROM documents d CROSS JOIN generate_series(0, "
                        f"{CHUNKS_PER_DOCUMENT - 1}) g "
                        "WHERE d.partition_key = :key ORDER BY d.id, g"), {"key": key})
                    await connection.commit()

        keys = list(range(PARTITION_COUNT))
        await asyncio.gather(fill(keys[0::2]), fill(keys[1::2]))
        load_seconds = watch.lap()
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE chunks"))
            await connection.execute(text("VACUUM ANALYZE documents"))
            total = await connection.scalar(text("SELECT count(*) FROM chunks"))
            size = await connection.scalar(text(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) "
                "FROM pg_inherits WHERE inhparent = 'chunks'::regclass"))
        print(f"loaded {total:,} chunks ({len(documents):,} documents, {COLLECTIONS} "
              f"collections) in {load_seconds:.1f} s, {total / load_seconds:,.0f} rows/s; "
              f"vacuum analyze {watch.lap():.1f} s; chunks with indexes: {size}")

        # -- document pages ------------------------------------------------------------------
        rng = random.Random(7)
        async with sessions() as session:
            for document, _ in rng.sample(documents, 50):  # warm the connection and caches
                await list_document_chunks(session, document, limit=100)
            session.expunge_all()
            latencies = []
            for document, _ in rng.sample(documents, samples):
                start = time.perf_counter()
                page = await list_document_chunks(session, document, limit=100)
                latencies.append(time.perf_counter() - start)
                assert len(page.items) == 100
                session.expunge_all()
        print("document pages (100 chunks of a random document):")
        print(_summary("list_document_chunks", latencies))
        p99 = percentile(latencies, 99)
        print(f"  target p99 < {ms(DOCUMENT_TARGET_P99)}: "
              f"{'met' if p99 < DOCUMENT_TARGET_P99 else 'NOT met'} "
              f"({DOCUMENT_TARGET_P99 / p99:.1f}x headroom)")

        # -- collection keyset pages ---------------------------------------------------------
        collection = collections[0]
        async with sessions() as session:
            pages: list[float] = []
            cursors: list[str | None] = [None]
            cursor = None
            seen = 0
            while True:
                start = time.perf_counter()
                page = await list_collection_chunks(session, collection, limit=100, cursor=cursor)
                pages.append(time.perf_counter() - start)
                seen += len(page.items)
                session.expunge_all()
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
                cursors.append(cursor)
            assert seen == per_collection * CHUNKS_PER_DOCUMENT, seen
            print(f"collection keyset pages (one collection, {seen:,} chunks, "
                  f"{len(pages):,} pages of 100), walking it with the cursor:")
            print(_summary("first 100 pages", pages[:100]))
            print(_summary("last 100 pages", pages[-100:]))
            print(_summary("all pages", pages))
            first: list[float] = []
            last: list[float] = []
            for _ in range(samples // 4):
                for where, bucket in ((cursors[0], first), (cursors[-1], last)):
                    start = time.perf_counter()
                    await list_collection_chunks(session, collection, limit=100, cursor=where)
                    bucket.append(time.perf_counter() - start)
                    session.expunge_all()
            print(_summary("first page, repeated", first))
            print(_summary("last page, repeated", last))
            ratio = statistics.median(last) / statistics.median(first)
            print(f"  last / first page (p50): {ratio:.2f}x")
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.documents, args.samples))

"""Bulk chunk writes on PostgreSQL: COPY vs executemany, and whole document replacements.

Usage::

    python bench/storage_copy.py                 # 200,000 rows of ~500 characters
    python bench/storage_copy.py --rows 500000 --text-chars 2000

Measures, on a fresh database (dropped afterwards), rows per second for:

* ``copy``: `PostgresDialect.insert_chunks` (asyncpg COPY of binary records) in one
  transaction, the path `replace_document_chunks` takes;
* ``executemany``: the same rows through SQLAlchemy's Core `insert()` executemany (asyncpg,
  batched "insertmanyvalues"), the usual ORM-side alternative;
* ``replace``: `replace_document_chunks` end to end, one transaction per document as a job
  does it (lock, delete old chunks, configuration lookup, COPY, document update, commit).

Each is timed `--runs` times, interleaved, on an emptied table after a CHECKPOINT (best and
median shown); ratios are against the target of 100,000 rows/s from the storage issue. Row
building (ChunkRow objects) is outside the timed region; serializing them (metadata JSON) and
sending them is inside.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

from sqlalchemy import text

from chunkyard.core.stable_ids import stable_chunk_id
from chunkyard.core.types import Chunk as CoreChunk
from chunkyard.storage.dialect import ChunkRow, PostgresDialect
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.keys import partition_key_for
from chunkyard.storage.models import Base, Collection, Document, User
from chunkyard.storage.repositories import ensure_chunk_config, replace_document_chunks
from storage_common import Stopwatch, bench_database

TARGET = 100_000


def _text(n: int, chars: int) -> str:
    base = f"Chunk {n}: the quick brown fox jumps over the lazy dog, then naps. "
    return (base * (chars // len(base) + 1))[:chars]


async def main(rows_total: int, per_document: int, chars: int, runs: int) -> None:
    documents_total = rows_total // per_document
    async with bench_database("copy") as settings:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        async with sessions() as session:
            user = User(username="bench", password_hash="x")
            session.add(user)
            await session.flush()
            collection = Collection(owner_id=user.id, name="bench", config={})
            session.add(collection)
            await session.flush()
            documents = [
                Document(collection_id=collection.id, filename=f"{n}.md", size_bytes=1,
                         content_sha256="0" * 64)
                for n in range(documents_total)
            ]
            session.add_all(documents)
            config_id = await ensure_chunk_config(session, "c" * 64)
            await session.commit()

        metadata = {"strategy": "recursive", "headings": ["Guide", "Install"]}
        rows = [
            ChunkRow(partition_key_for(d.id), collection.id, d.id, config_id,
                     stable_chunk_id(d.id, "c" * 64, _text(i, chars), 0), i,
                     _text(i, chars), i * chars, (i + 1) * chars, chars // 4, metadata)
            for d in documents for i in range(per_document)
        ]
        as_dicts: list[dict[str, Any]] = [
            {"partition_key": r.partition_key, "collection_id": r.collection_id,
             "document_id": r.document_id, "config_id": r.config_id, "stable_id": r.stable_id,
             "chunk_index": r.chunk_index, "text": r.text, "start_offset": r.start_offset,
             "end_offset": r.end_offset, "tokens": r.tokens, "metadata": r.metadata}
            for r in rows
        ]
        chunks_by_document = [
            [CoreChunk(index=i, text=_text(i, chars), start=i * chars, end=(i + 1) * chars,
                       tokens=chars // 4, metadata=metadata) for i in range(per_document)]
        ] * documents_total
        table = Base.metadata.tables["chunks"]
        dialect = PostgresDialect()

        async def empty() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("TRUNCATE chunks"))
            async with engine.connect() as connection:
                # Start every run with the WAL of the previous one written out, so that no run
                # pays for another's checkpoint (needs a superuser or pg_checkpoint; else skip).
                try:
                    await connection.execute(text("CHECKPOINT"))
                except Exception:
                    await connection.rollback()

        async def copy() -> None:
            async with sessions() as session:
                await session.execute(text("SELECT 1"))  # start the transaction
                await dialect.insert_chunks(session, rows)
                await session.commit()

        async def executemany() -> None:
            async with sessions() as session:
                await session.execute(table.insert(), as_dicts)
                await session.commit()

        async def replace() -> None:
            for document, chunks in zip(documents, chunks_by_document, strict=True):
                async with sessions() as session:
                    await replace_document_chunks(session, document.id, chunks, "c" * 64)
                    await session.commit()

        results: dict[str, list[float]] = {"copy": [], "executemany": [], "replace": []}
        for _ in range(runs):
            for name, job in (("copy", copy), ("executemany", executemany),
                              ("replace", replace)):
                await empty()
                watch = Stopwatch()
                await job()
                results[name].append(len(rows) / watch.lap())
        await engine.dispose()

    print(f"{len(rows):,} chunk rows ({documents_total:,} documents x {per_document}), "
          f"text {chars} characters, {runs} runs each (rows/s: best, median)")
    for name, rates in results.items():
        best, median = max(rates), statistics.median(rates)
        print(f"  {name:<12} {best:>10,.0f} {median:>10,.0f}   "
              f"{best / TARGET:.2f}x the {TARGET:,} rows/s target")
    print(f"  copy / executemany: {max(results['copy']) / max(results['executemany']):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--per-document", type=int, default=100)
    parser.add_argument("--text-chars", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.per_document, args.text_chars, args.runs))

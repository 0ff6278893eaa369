"""Partition health: rows per partition, skew, hot and cold partitions, text and JSON output."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import text
from storage_helpers import create_collection, create_document, make_chunks, open_db

from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.keys import PARTITION_COUNT
from chunkyard.storage.partitions import (
    format_report,
    partition_report,
    run_partition_report,
)
from chunkyard.storage.repositories import replace_document_chunks


def test_empty_database(fresh_settings: Settings) -> None:
    migrate.run_upgrade(fresh_settings)
    report = run_partition_report(fresh_settings)
    assert report.total_rows == 0 and report.total_documents == 0
    assert report.skew == 1.0
    assert report.hot == [] and report.cold == []
    assert len(report.partitions) == PARTITION_COUNT
    assert "skew (max/mean) 1.000" in format_report(report)


async def test_report_counts_rows_and_documents(fresh_settings: Settings) -> None:
    await migrate.upgrade(fresh_settings)
    async with open_db(fresh_settings) as (_, sessions), sessions() as session:
        collection = await create_collection(session)
        documents = [await create_document(session, collection) for _ in range(60)]
        for n, document in enumerate(documents):
            await replace_document_chunks(session, document, make_chunks(1 + n % 7), "f" * 64)
        await session.commit()
        rows: Counter[int] = Counter()
        docs: Counter[int] = Counter()
        for n, document in enumerate(documents):
            rows[document.partition_key] += 1 + n % 7
            docs[document.partition_key] += 1
        report = await partition_report(session, top=3)

    assert report.total_rows == sum(rows.values())
    assert report.total_documents == 60
    assert [p.rows for p in report.partitions] == [rows[k] for k in range(PARTITION_COUNT)]
    assert [p.documents for p in report.partitions] == [docs[k] for k in range(PARTITION_COUNT)]
    mean = sum(rows.values()) / PARTITION_COUNT
    assert report.mean_rows == mean
    assert report.skew == round(max(rows.values()) / mean, 4)
    assert report.max_rows == max(rows.values()) and report.min_rows == 0
    assert [p.rows for p in report.hot] == sorted(rows.values(), reverse=True)[:3]
    assert all(p.rows == 0 for p in report.cold) and len(report.cold) == 3
    assert report.partitioned == (report.backend == "postgresql")

    as_text = format_report(report)
    assert f"chunks: {report.total_rows} rows, 60 documents in 100 partitions" in as_text
    assert f"skew (max/mean) {report.skew:.3f}" in as_text
    assert "chunks_p00" in as_text and "chunks_p99" in as_text
    as_json = json.loads(format_report(report, as_json=True))
    assert as_json["skew"] == report.skew
    assert len(as_json["partitions"]) == 100
    assert as_json["hot"][0]["rows"] == report.max_rows


async def test_estimated_report_on_postgresql(fresh_postgres_settings: Settings) -> None:
    settings = fresh_postgres_settings
    await migrate.upgrade(settings)
    async with open_db(settings) as (engine, sessions):
        async with sessions() as session:
            collection = await create_collection(session)
            for _ in range(50):
                document = await create_document(session, collection)
                await replace_document_chunks(session, document, make_chunks(20), "f" * 64)
            await session.commit()
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE chunks"))
            exact = await partition_report(connection)
            estimate = await partition_report(connection, exact=False)
    assert not estimate.exact and exact.exact
    assert estimate.total_rows == exact.total_rows == 1000
    assert [p.rows for p in estimate.partitions] == [p.rows for p in exact.partitions]

"""Partition health: chunk rows and documents per partition, skew, hot and cold partitions.

`partition_report` gives the numbers (the service turns them into metrics); `format_report`
prints them for `chunkyard partitions report [--json]`. The partition key itself is
`keys.partition_key_for` (re-exported here).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from chunkyard.settings import Settings, get_settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine
from chunkyard.storage.keys import PARTITION_COUNT, partition_key_for, partition_table_name
from chunkyard.storage.models import Document

__all__ = [
    "PARTITION_COUNT",
    "PartitionReport",
    "PartitionStat",
    "format_report",
    "partition_key_for",
    "partition_report",
    "run_partition_report",
]


@dataclass(frozen=True, slots=True)
class PartitionStat:
    key: int
    table: str  # the child table on PostgreSQL (on SQLite, the name it would have)
    rows: int  # chunk rows
    documents: int
    ratio: float  # rows / mean rows per partition (1.0 = exactly average)


@dataclass(frozen=True, slots=True)
class PartitionReport:
    backend: str  # "postgresql" or "sqlite"
    partitioned: bool  # True when the backend really partitions the table
    exact: bool  # False when row counts are the planner's estimates
    partitions: list[PartitionStat]  # all PARTITION_COUNT keys, in key order
    total_rows: int
    total_documents: int
    mean_rows: float
    max_rows: int
    min_rows: int
    skew: float  # max / mean; 1.0 for a perfect spread (and for an empty table)
    hot: list[PartitionStat] = field(default_factory=list)  # the fullest, fullest first
    cold: list[PartitionStat] = field(default_factory=list)  # the emptiest, emptiest first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def partition_report(
    session: AsyncSession | AsyncConnection, *, exact: bool = True, top: int = 5
) -> PartitionReport:
    """Rows per partition, skew (max/mean) and the `top` hot and cold partitions.

    `exact=False` uses PostgreSQL's planner statistics instead of counting (instant on a big
    table; good for metrics scraped often). SQLite always counts, with GROUP BY partition_key.
    """
    dialect = dialect_for(session)
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    rows = await dialect.chunk_rows_per_partition(connection, exact=exact)
    result = await connection.execute(
        select(Document.partition_key, func.count()).group_by(Document.partition_key)
    )
    documents = {int(key): int(count) for key, count in result.all()}
    counts = [rows.get(key, 0) for key in range(PARTITION_COUNT)]
    total = sum(counts)
    mean = total / PARTITION_COUNT
    stats = [
        PartitionStat(
            key=key,
            table=partition_table_name(key),
            rows=counts[key],
            documents=documents.get(key, 0),
            ratio=round(counts[key] / mean, 4) if mean else 0.0,
        )
        for key in range(PARTITION_COUNT)
    ]
    by_rows = sorted(stats, key=lambda s: (s.rows, s.key))
    top = max(0, min(top, PARTITION_COUNT)) if total else 0  # nothing is hot in an empty table
    return PartitionReport(
        backend=dialect.name,
        partitioned=dialect.partitioned,
        exact=exact or not dialect.partitioned,
        partitions=stats,
        total_rows=total,
        total_documents=sum(documents.values()),
        mean_rows=mean,
        max_rows=max(counts),
        min_rows=min(counts),
        skew=round(max(counts) / mean, 4) if mean else 1.0,
        hot=by_rows[::-1][:top] if top else [],
        cold=by_rows[:top] if top else [],
    )


def format_report(report: PartitionReport, as_json: bool = False) -> str:
    """The report as JSON (`as_json`) or as a table for a terminal."""
    if as_json:
        return json.dumps(report.to_dict(), indent=2)
    lines = [
        f"chunks: {report.total_rows} rows, {report.total_documents} documents in "
        f"{PARTITION_COUNT} partitions ({report.backend}"
        f"{'' if report.partitioned else ', not partitioned: keys only'}"
        f"{'' if report.exact else ', estimated rows'})",
        f"mean {report.mean_rows:.1f} rows, max {report.max_rows}, min {report.min_rows}, "
        f"skew (max/mean) {report.skew:.3f}",
        "hot:  " + ", ".join(f"{s.table} {s.rows} ({s.ratio:.2f}x)" for s in report.hot),
        "cold: " + ", ".join(f"{s.table} {s.rows} ({s.ratio:.2f}x)" for s in report.cold),
        "",
        f"{'partition':<11}{'rows':>12}{'documents':>12}{'ratio':>8}",
    ]
    lines += [
        f"{s.table:<11}{s.rows:>12}{s.documents:>12}{s.ratio:>8.2f}" for s in report.partitions
    ]
    return "\n".join(lines)


def run_partition_report(
    settings: Settings | None = None, *, exact: bool = True, top: int = 5
) -> PartitionReport:
    """`partition_report` for the configured database, callable from synchronous code."""

    async def _run() -> PartitionReport:
        engine = create_engine(settings or get_settings())
        try:
            async with engine.connect() as connection:
                return await partition_report(connection, exact=exact, top=top)
        finally:
            await engine.dispose()

    return asyncio.run(_run())

"""Data safety around migrations: backups, row counts and the chunk-text checksum.

A migration step that rewrites or drops tables holding rows (its "guarded" tables) runs like
this (see `migrate`): keep writers out of those tables, take a timestamped backup, count their
rows and checksum all chunk texts, run the step, count and checksum again in the same
transaction, and roll the transaction back with a clear message if anything differs (or if
any other table disappeared). A downgrade that would lose data is refused unless
the caller passes `allow_data_loss=True` (and is still backed up first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from chunkyard.storage.dialect import dialect_for, is_partition_table

# Alembic's bookkeeping table changes with every step by design.
_IGNORED_TABLES = {"alembic_version"}


class MigrationSafetyError(RuntimeError):
    """A migration step was stopped (and rolled back) to protect data."""


class DataLossRefused(MigrationSafetyError):
    """The step would lose data and `allow_data_loss` was not given."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application tables, row counts of the guarded ones, and the chunk-text checksum."""

    tables: frozenset[str] = frozenset()
    rows: dict[str, int] = field(default_factory=dict)
    chunk_text_checksum: int | None = None  # None when chunks is not guarded or absent

    @property
    def total_rows(self) -> int:
        """Rows counted (in the guarded tables)."""
        return sum(self.rows.values())


def _application_tables(connection: Connection) -> list[str]:
    names = inspect(connection).get_table_names()
    return sorted(n for n in names if n not in _IGNORED_TABLES and not is_partition_table(n))


async def table_rows(connection: AsyncConnection, tables: Sequence[str]) -> dict[str, int]:
    """Row counts of those of `tables` that exist."""
    existing = set(await connection.run_sync(_application_tables))
    counts: dict[str, int] = {}
    for table in tables:
        if table in existing:
            counts[table] = int(await connection.scalar(text(f'SELECT count(*) FROM "{table}"'))
                                or 0)
    return counts


async def take_snapshot(connection: AsyncConnection, guarded: Sequence[str]) -> Snapshot:
    """Lists the application tables, counts the `guarded` ones and checksums the chunk texts.

    Only guarded tables are counted: the runner keeps writers out of them (see
    `StorageDialect.lock_tables`), while other tables may change under a live service.
    """
    tables = await connection.run_sync(_application_tables)
    rows = await table_rows(connection, guarded)
    checksum = None
    if "chunks" in rows:
        checksum = await dialect_for(connection).chunk_text_checksum(connection)
    return Snapshot(tables=frozenset(tables), rows=rows, chunk_text_checksum=checksum)


def compare_snapshots(
    before: Snapshot, after: Snapshot, *, may_drop: Sequence[str] = ()
) -> list[str]:
    """What differs between two snapshots, one line each; empty when the data is intact.

    Tables created by the step are not compared; tables it drops must be listed in `may_drop`
    (their loss was already accepted by the data-loss check).
    """
    problems = [
        f"{table}: the table disappeared"
        + (f" ({before.rows[table]} rows before)" if table in before.rows else "")
        for table in sorted(before.tables - after.tables)
        if table not in may_drop
    ]
    for table, rows in sorted(before.rows.items()):
        if table in after.rows and after.rows[table] != rows:
            problems.append(f"{table}: {rows} rows before, {after.rows[table]} after")
    if (
        before.chunk_text_checksum is not None
        and after.chunk_text_checksum is not None
        and before.chunk_text_checksum != after.chunk_text_checksum
    ):
        problems.append(
            f"chunks: text checksum {before.chunk_text_checksum} before, "
            f"{after.chunk_text_checksum} after"
        )
    return problems


def backup_label(from_revision: str | None, to_revision: str | None) -> str:
    """A timestamped, filesystem-safe name for the backup taken before a step."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"chunkyard-{stamp}-{from_revision or 'base'}-to-{to_revision or 'base'}"

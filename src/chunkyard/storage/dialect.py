"""The one seam between PostgreSQL and SQLite: locks, bulk writes, checksums, backups.

Everything that differs between the two backends at run time lives here, behind
`StorageDialect`; the rest of the storage code asks `dialect_for(...)` and never tests the
dialect name itself. PostgreSQL: `SELECT ... FOR UPDATE` row locks, COPY through the asyncpg
connection, per-partition statistics, `pg_dump`. SQLite: `BEGIN IMMEDIATE` (one writer at a
time), executemany, `GROUP BY`, the sqlite3 backup API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import Insert

from chunkyard.storage.engine import SQLITE_WRITE_OPTION
from chunkyard.storage.keys import PARTITION_COUNT, partition_table_name
from chunkyard.storage.models import Base, Chunk, utcnow

CHUNK_COPY_COLUMNS = (
    "partition_key",
    "collection_id",
    "document_id",
    "config_id",
    "stable_id",
    "chunk_index",
    "text",
    "start_offset",
    "end_offset",
    "tokens",
    "metadata",
)

# Name of the AFTER DELETE trigger on documents that removes a document's chunks.
DOCUMENT_DELETE_TRIGGER = "trg_documents_delete_chunks"

_PARTITION_NAME = re.compile(r"^chunks_p(\d{2})$")


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One chunk row to insert, in `CHUNK_COPY_COLUMNS` order."""

    partition_key: int
    collection_id: UUID
    document_id: UUID
    config_id: int
    stable_id: str
    chunk_index: int
    text: str
    start_offset: int
    end_offset: int
    tokens: int
    metadata: Mapping[str, Any]


def is_partition_table(name: str) -> bool:
    """True for the child partitions `chunks_p00` .. `chunks_p99`."""
    return _PARTITION_NAME.match(name) is not None


def text_hash(value: str) -> int:
    """The per-row term of the chunk-text checksum: 60 bits of MD5 (as PostgreSQL computes it)."""
    return int(hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()[:15], 16)


class StorageDialect(ABC):
    """What the storage layer needs from a backend that SQL alone does not express."""

    name: ClassVar[str]
    partitioned: ClassVar[bool]

    # -- transactions and locks ----------------------------------------------------------

    @abstractmethod
    async def begin_write(self, session: AsyncSession) -> None:
        """Prepare `session` for a write transaction (call before the transaction's first read)."""

    async def migration_lock(self, connection: AsyncConnection) -> None:
        """Keep other migration runners out until the end of the transaction."""
        return None

    async def lock_tables(self, connection: AsyncConnection, tables: Sequence[str]) -> None:
        """Keep writers (not readers, nor a backup) out of `tables` until the transaction ends.

        SQLite needs nothing: a migration step holds the database's one write lock.
        """
        return None

    # -- writes --------------------------------------------------------------------------

    @abstractmethod
    async def insert_chunks(self, session: AsyncSession, rows: Sequence[ChunkRow]) -> None:
        """Insert chunk rows in the session's transaction, as fast as the backend allows."""

    @abstractmethod
    def insert_ignoring_conflicts(self, table: Table) -> Insert:
        """`INSERT ... ON CONFLICT DO NOTHING` for `table`."""

    # -- inspection ----------------------------------------------------------------------

    async def chunk_rows_per_partition(
        self, connection: AsyncConnection, *, exact: bool = True
    ) -> dict[int, int]:
        """Chunk rows per partition key (keys without rows may be missing)."""
        result = await connection.execute(
            select(Chunk.partition_key, func.count()).group_by(Chunk.partition_key)
        )
        return {int(key): int(count) for key, count in result.all()}

    async def chunk_text_checksum(self, connection: AsyncConnection) -> int:
        """Sum over chunk rows of `text_hash(text)`: equal before and after a safe migration."""
        total = 0
        result = await connection.stream(text("SELECT text FROM chunks"))
        async for partition in result.partitions(5000):
            total += sum(text_hash(row[0]) for row in partition)
        return total

    @abstractmethod
    def schema_problems(self, connection: Connection) -> list[str]:
        """Backend-specific schema checks the model comparison cannot see (partitions, trigger)."""

    # -- backups -------------------------------------------------------------------------

    @abstractmethod
    async def backup(
        self, engine: AsyncEngine, directory: Path, label: str, tables: Sequence[str]
    ) -> str:
        """Back up the database (at least `tables`); returns where the backup is, for humans."""


class PostgresDialect(StorageDialect):
    name = "postgresql"
    partitioned = True

    # Advisory lock id held by a migration step (any fixed 64-bit number; this spells CHNKYRD).
    MIGRATION_LOCK_ID = 0x43484E4B595244

    async def migration_lock(self, connection: AsyncConnection) -> None:
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:id)"), {"id": self.MIGRATION_LOCK_ID}
        )

    async def lock_tables(self, connection: AsyncConnection, tables: Sequence[str]) -> None:
        existing = [
            t for t in tables
            if await connection.scalar(text("SELECT to_regclass(:t)"), {"t": t}) is not None
        ]
        if existing:
            # SHARE blocks INSERT/UPDATE/DELETE but lets pg_dump read; the step's own DDL
            # then takes the stronger locks it needs.
            names = ", ".join(f'"{t}"' for t in existing)
            await connection.execute(text(f"LOCK TABLE {names} IN SHARE MODE"))

    async def begin_write(self, session: AsyncSession) -> None:
        # Row locks (an UPDATE's, or SELECT ... FOR UPDATE) are all PostgreSQL needs.
        return None

    async def insert_chunks(self, session: AsyncSession, rows: Sequence[ChunkRow]) -> None:
        if not rows:
            return
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # an asyncpg.Connection
        # SQLAlchemy's asyncpg adapter starts its transaction lazily, on the first statement;
        # a COPY sent before that would run (and commit) on its own.
        if not driver.is_in_transaction():
            raise RuntimeError("insert_chunks needs a transaction that has run a statement")
        dumps = json.dumps
        # A generator, not a list: asyncpg encodes and sends the records in pieces, so the
        # server ingests one piece while Python serializes the next (about 1.3x faster).
        records = (
            (
                r.partition_key,
                r.collection_id,
                r.document_id,
                r.config_id,
                r.stable_id,
                r.chunk_index,
                r.text,
                r.start_offset,
                r.end_offset,
                r.tokens,
                dumps(r.metadata, ensure_ascii=False),
            )
            for r in rows
        )
        await driver.copy_records_to_table(
            "chunks", records=records, columns=list(CHUNK_COPY_COLUMNS)
        )

    def insert_ignoring_conflicts(self, table: Table) -> Insert:
        return pg_dialect.insert(table).on_conflict_do_nothing()

    async def chunk_rows_per_partition(
        self, connection: AsyncConnection, *, exact: bool = True
    ) -> dict[int, int]:
        if exact:
            return await super().chunk_rows_per_partition(connection, exact=True)
        # The planner's estimate (kept by ANALYZE and autovacuum): free, for metrics.
        result = await connection.execute(
            text(
                "SELECT c.relname, c.reltuples FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass('chunks')"
            )
        )
        counts: dict[int, int] = {}
        for relname, reltuples in result.all():
            match = _PARTITION_NAME.match(relname)
            if match:
                counts[int(match.group(1))] = max(int(reltuples), 0)  # -1: never analyzed
        return counts

    async def chunk_text_checksum(self, connection: AsyncConnection) -> int:
        # The same sum as `text_hash`, computed in the server instead of over the wire.
        value = await connection.scalar(
            text(
                "SELECT coalesce(sum(('x' || substr(md5(text), 1, 15))::bit(60)::bigint), 0) "
                "FROM chunks"
            )
        )
        return int(value or 0)

    def schema_problems(self, connection: Connection) -> list[str]:
        problems: list[str] = []
        strategy = connection.scalar(
            text(
                "SELECT pg_get_partkeydef(c.oid) FROM pg_class c "
                "WHERE c.oid = to_regclass('chunks')"
            )
        )
        if strategy is None:
            return ["chunks: the table is not partitioned (expected LIST (partition_key))"]
        if strategy.replace('"', "").upper() != "LIST (PARTITION_KEY)":
            problems.append(f"chunks: partitioned by {strategy}, expected LIST (partition_key)")
        rows = connection.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass('chunks') ORDER BY c.relname"
            )
        ).all()
        found: dict[int, str] = {}
        for relname, bound in rows:
            values = re.findall(r"'?(-?\d+)'?", bound.split("IN", 1)[-1]) if bound else []
            expected_name = None
            if len(values) == 1 and 0 <= int(values[0]) < PARTITION_COUNT:
                key = int(values[0])
                expected_name = partition_table_name(key)
                found[key] = relname
            if relname != expected_name:
                problems.append(f"chunks: unexpected partition {relname} ({bound})")
        missing = [k for k in range(PARTITION_COUNT) if k not in found]
        if missing:
            names = ", ".join(partition_table_name(k) for k in missing)
            problems.append(f"chunks: missing partitions {names}")
        if not connection.scalar(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgname = :name "
                "AND tgrelid = to_regclass('documents') AND tgenabled <> 'D'"
            ),
            {"name": DOCUMENT_DELETE_TRIGGER},
        ):
            problems.append(f"documents: trigger {DOCUMENT_DELETE_TRIGGER} missing or disabled")
        return problems

    async def backup(
        self, engine: AsyncEngine, directory: Path, label: str, tables: Sequence[str]
    ) -> str:
        why_not_pg_dump = "pg_dump is not installed"
        pg_dump = shutil.which("pg_dump")
        if pg_dump:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{label}.pgdump"
            url = engine.url
            env = dict(os.environ)
            if url.password:
                env["PGPASSWORD"] = str(url.password)
            process = await asyncio.create_subprocess_exec(
                pg_dump,
                "--format=custom",
                "--no-owner",
                f"--file={path}",
                f"--dbname={_libpq_url(url)}",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await process.communicate()
            if process.returncode == 0:
                return f"{path} (restore with: pg_restore --clean --dbname=... {path})"
            path.unlink(missing_ok=True)
            # e.g. a pg_dump older than the server: fall back to a copy inside the database.
            lines = stderr.decode(errors="replace").strip().splitlines()
            why_not_pg_dump = f"pg_dump failed: {lines[-1] if lines else process.returncode}"
        schema = f"chunkyard_backup_{re.sub(r'[^0-9a-z_]', '_', label.lower())}"
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            for table in tables:
                await connection.execute(
                    text(f'CREATE TABLE "{schema}"."{table}" AS TABLE "{table}"')
                )
        return (f"schema {schema} in the database (tables {', '.join(tables)}; "
                f"{why_not_pg_dump})")


class SQLiteDialect(StorageDialect):
    name = "sqlite"
    partitioned = False

    async def begin_write(self, session: AsyncSession) -> None:
        # SQLite has one writer at a time. A transaction that read first and writes later can
        # fail with "database is locked" if another writer committed in between, so a
        # writer takes the write lock up front with BEGIN IMMEDIATE (see engine.py).
        if not session.in_transaction():
            await session.connection(execution_options={SQLITE_WRITE_OPTION: True})

    async def insert_chunks(self, session: AsyncSession, rows: Sequence[ChunkRow]) -> None:
        if not rows:
            return
        table = Base.metadata.tables["chunks"]
        # The composite primary key (id, partition_key) that PostgreSQL's partitioning needs
        # leaves SQLite without an auto-increment id, so ids are assigned here, under the
        # write lock that the transaction holds (see `begin_write`).
        connection = await session.connection()
        last = await connection.scalar(select(func.coalesce(func.max(table.c.id), 0)))
        first = int(last or 0) + 1
        # Straight to the driver's executemany, the values bound by the columns' own types:
        # SQLAlchemy's per-row parameter handling costs more than SQLite's insert itself.
        dialect = connection.dialect

        def binder(name: str) -> Any:
            process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            return process or (lambda value: value)

        uuid, json_, timestamp = binder("document_id"), binder("metadata"), binder("created_at")
        created_at = timestamp(utcnow())
        columns = (*CHUNK_COPY_COLUMNS, "id", "created_at")
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        await connection.exec_driver_sql(
            f"INSERT INTO chunks ({names}) VALUES ({marks})",
            [
                (
                    r.partition_key, uuid(r.collection_id), uuid(r.document_id), r.config_id,
                    r.stable_id, r.chunk_index, r.text, r.start_offset, r.end_offset, r.tokens,
                    json_(r.metadata), first + n, created_at,
                )
                for n, r in enumerate(rows)
            ],
        )

    def insert_ignoring_conflicts(self, table: Table) -> Insert:
        return sqlite_dialect.insert(table).on_conflict_do_nothing()

    def schema_problems(self, connection: Connection) -> list[str]:
        found = connection.scalar(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": DOCUMENT_DELETE_TRIGGER},
        )
        if not found:
            return [f"documents: trigger {DOCUMENT_DELETE_TRIGGER} missing"]
        return []

    async def backup(
        self, engine: AsyncEngine, directory: Path, label: str, tables: Sequence[str]
    ) -> str:
        database = engine.url.database
        if not database or database == ":memory:":
            return "no backup (in-memory database)"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{label}.sqlite3"
        await asyncio.to_thread(_sqlite_backup, Path(database), path)
        return f"{path} (restore by copying it over {database})"


def _sqlite_backup(source: Path, target: Path) -> None:
    # The backup API copies a consistent snapshot even while other connections use the file.
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _libpq_url(url: URL) -> str:
    """A libpq connection URI for `url`, without the password (passed in PGPASSWORD)."""
    plain = url.set(drivername="postgresql", password=None, query={})
    return plain.render_as_string(hide_password=False)


_DIALECTS: dict[str, StorageDialect] = {
    "postgresql": PostgresDialect(),
    "sqlite": SQLiteDialect(),
}


def dialect_for(
    bind: AsyncSession | AsyncConnection | AsyncEngine | Connection | str,
) -> StorageDialect:
    """The storage dialect of a session, connection, engine or dialect name."""
    if isinstance(bind, str):
        name = bind
    elif isinstance(bind, AsyncSession):
        name = bind.get_bind().dialect.name
    else:
        name = bind.dialect.name
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"unsupported database dialect {name!r}") from None

"""Migrations: upgrade and check on both backends, drift detection, and no data loss:
100,000 chunks up and down, refused downgrades, backups, rollback on a mismatch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from storage_helpers import create_collection, create_document, make_chunks, open_db

import chunkyard.storage.migrations as shipped
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.dialect import dialect_for, text_hash
from chunkyard.storage.keys import partition_key_for, uuid7
from chunkyard.storage.repositories import config_hash_for, replace_document_chunks
from chunkyard.storage.safety import DataLossRefused, MigrationSafetyError

HEAD = "0009"


def _is_sqlite(settings: Settings) -> bool:
    return settings.resolved_database_url.startswith("sqlite")


async def _scalar(settings: Settings, sql: str) -> Any:
    async with open_db(settings) as (engine, _), engine.connect() as connection:
        return await connection.scalar(text(sql))


# -- upgrade and check ----------------------------------------------------------------------


def test_upgrade_and_check(fresh_settings: Settings) -> None:
    first = migrate.run_check(fresh_settings)
    assert any("run `chunkyard db upgrade`" in line for line in first)
    assert "table chunks: missing from the database" in first

    result = migrate.run_upgrade(fresh_settings)
    assert [(s.from_revision, s.to_revision) for s in result.steps] == [
        (None, "0001"), ("0001", "0002"), ("0002", "0003"), ("0003", "0004"),
        ("0004", "0005"), ("0005", "0006"), ("0006", "0007"), ("0007", "0008"),
        ("0008", "0009"),
    ]
    assert "upgrade base -> 0001" in result.summary()
    assert migrate.run_current_revision(fresh_settings) == HEAD == migrate.head_revision()
    assert migrate.run_check(fresh_settings) == []

    again = migrate.run_upgrade(fresh_settings)
    assert again.steps == []
    assert again.summary() == f"database already at revision {HEAD}"


def test_postgresql_has_100_partitions(fresh_postgres_settings: Settings) -> None:
    migrate.run_upgrade(fresh_postgres_settings)

    async def partitions() -> list[tuple[str, str]]:
        async with open_db(fresh_postgres_settings) as (engine, _), engine.connect() as c:
            rows = await c.execute(text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'chunks'::regclass ORDER BY c.relname"))
            return [(str(a), str(b)) for a, b in rows.all()]

    found = asyncio.run(partitions())
    assert found == [(f"chunks_p{k:02d}", f"FOR VALUES IN ('{k}')") for k in range(100)]
    assert asyncio.run(_scalar(
        fresh_postgres_settings, "SELECT pg_get_partkeydef('chunks'::regclass)"
    )) == "LIST (partition_key)"


DRIFT = {
    "postgresql": (
        [
            "ALTER TABLE chunks ALTER COLUMN tokens TYPE bigint",
            "ALTER TABLE chunks DETACH PARTITION chunks_p07",
            "DROP INDEX ix_documents_collection_id_id",
            "ALTER TABLE collections ADD COLUMN color text",
            "ALTER TABLE documents DROP CONSTRAINT ck_documents_partition_key",
        ],
        [
            "column chunks.tokens: type is BIGINT() in the database, Integer() in the models",
            "chunks: missing partitions chunks_p07",
            "index ix_documents_collection_id_id on documents (collection_id, id): "
            "missing from the database",
            "column collections.color: not in the models",
            "check constraint ck_documents_partition_key on documents: "
            "missing from the database",
        ],
    ),
    "sqlite": (
        [
            "ALTER TABLE collections ADD COLUMN color text",
            "DROP INDEX ix_documents_collection_id_id",
            "DROP TRIGGER trg_documents_delete_chunks",
        ],
        [
            "column collections.color: not in the models",
            "index ix_documents_collection_id_id on documents (collection_id, id): "
            "missing from the database",
            "documents: trigger trg_documents_delete_chunks missing",
        ],
    ),
}


def test_check_reports_drift(backend: str, fresh_settings: Settings) -> None:
    migrate.run_upgrade(fresh_settings)
    statements, expected = DRIFT[backend]

    async def alter() -> None:
        async with open_db(fresh_settings) as (engine, _), engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))

    asyncio.run(alter())
    assert sorted(migrate.run_check(fresh_settings)) == sorted(expected)


async def test_concurrent_upgrades_apply_each_step_once(fresh_settings: Settings) -> None:
    results = await asyncio.gather(migrate.upgrade(fresh_settings),
                                   migrate.upgrade(fresh_settings))
    applied = sorted(s.to_revision or "" for r in results for s in r.steps)
    assert applied == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"]
    assert await migrate.check(fresh_settings) == []


# -- 100,000 chunks up and down --------------------------------------------------------------


async def _load_revision_0001(
    settings: Settings, documents: int, per_document: int
) -> None:
    """Users, a collection, documents and chunks written with revision 0001's schema."""
    sqlite = _is_sqlite(settings)

    def uid(value: UUID) -> Any:
        return value.hex if sqlite else value

    user, collection = uuid7(), uuid7()
    hashes = [hashlib.sha256(f"config {n}".encode()).hexdigest() for n in range(3)]
    async with open_db(settings) as (_, sessions), sessions() as session:
        await session.execute(
            text("INSERT INTO users (id, username, password_hash) VALUES (:id, :u, 'x')"),
            {"id": uid(user), "u": f"u-{secrets.token_hex(4)}"},
        )
        await session.execute(
            text("INSERT INTO collections (id, owner_id, name, config) "
                 "VALUES (:id, :owner, 'c', :config)"),
            {"id": uid(collection), "owner": uid(user), "config": json.dumps({"s": 1})},
        )
        document_ids = [uuid7() for _ in range(documents)]
        await session.execute(
            text("INSERT INTO documents (id, collection_id, partition_key, filename, "
                 "size_bytes, content_sha256) VALUES (:id, :c, :k, 'f.md', 10, :sha)"),
            [{"id": uid(d), "c": uid(collection), "k": partition_key_for(d), "sha": "0" * 64}
             for d in document_ids],
        )
        rows = []
        for n, document in enumerate(document_ids):
            for i in range(per_document):
                body = f"Chunk {i} of document {n}: ünïcødé {secrets.token_hex(4)}"
                rows.append((partition_key_for(document), collection, document,
                             hashes[(n + i) % 3], i, body, i * 100, i * 100 + len(body),
                             len(body) // 4, json.dumps({"strategy": "recursive", "i": i})))
        columns = ["partition_key", "collection_id", "document_id", "config_hash",
                   "chunk_index", "text", "start_offset", "end_offset", "tokens", "metadata"]
        if sqlite:
            await session.execute(
                text(f"INSERT INTO chunks (id, {', '.join(columns)}) VALUES "
                     f"(:id, {', '.join(':' + c for c in columns)})"),
                [{"id": n + 1, **dict(zip(columns, row, strict=True)),
                  "collection_id": row[1].hex, "document_id": row[2].hex}
                 for n, row in enumerate(rows)],
            )
        else:
            raw = await (await session.connection()).get_raw_connection()
            await raw.driver_connection.copy_records_to_table(
                "chunks", records=rows, columns=columns
            )
        await session.commit()


async def _fingerprint(settings: Settings) -> tuple[int, str]:
    """Row count and a digest of every chunk column (config as its hash), in id order."""
    async with open_db(settings) as (engine, _), engine.connect() as connection:
        revision = await connection.run_sync(migrate._current)
        configs = revision != "0001"  # chunk_configs exists from revision 0002 on
        config = "cc.config_hash" if configs else "c.config_hash"
        join = "JOIN chunk_configs cc ON cc.id = c.config_id" if configs else ""
        query = (
            f"SELECT c.id, c.partition_key, c.collection_id, c.document_id, {config}, "
            "c.chunk_index, c.text, c.start_offset, c.end_offset, c.tokens, c.metadata, "
            f"c.created_at FROM chunks c {join}")
        if not _is_sqlite(settings):  # the same digest, computed in the server
            row = (await connection.exec_driver_sql(
                f"SELECT count(*), md5(string_agg(q::text, '|' ORDER BY q.id)) FROM ({query}) q"
            )).one()
            return int(row[0]), str(row[1])
        rows = (await connection.exec_driver_sql(f"{query} ORDER BY c.id")).all()
        return len(rows), hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


@pytest.mark.slow
async def test_100000_chunks_survive_upgrade_and_downgrade(fresh_settings: Settings) -> None:
    await migrate.upgrade(fresh_settings, revision="0001")
    await _load_revision_0001(fresh_settings, documents=1000, per_document=100)
    before = await _fingerprint(fresh_settings)
    assert before[0] == 100_000

    up = await migrate.upgrade(fresh_settings)
    assert [s.to_revision for s in up.steps] == ["0002", "0003", "0004", "0005", "0006",
                                                "0007", "0008", HEAD]
    step = up.steps[0]
    assert step.checked is not None and step.checked.rows["chunks"] == 100_000
    assert step.backup and Path(step.backup.split(" ")[0]).exists()
    assert await _fingerprint(fresh_settings) == before
    assert await _scalar(fresh_settings, "SELECT count(*) FROM chunk_configs") == 3
    assert await migrate.check(fresh_settings) == []

    down = await migrate.downgrade(fresh_settings, revision="0001")
    assert [s.to_revision for s in down.steps] == [
        "0008", "0007", "0006", "0005", "0004", "0003", "0002", "0001"]
    assert await _fingerprint(fresh_settings) == before

    await migrate.upgrade(fresh_settings)
    assert await _fingerprint(fresh_settings) == before


# -- refusing to lose data -------------------------------------------------------------------


async def _some_chunks(settings: Settings, config: dict[str, Any] | None = None) -> None:
    async with open_db(settings) as (_, sessions), sessions() as session:
        document = await create_document(session, await create_collection(session))
        config = config or {"strategy": "markdown", "params": {}}
        await replace_document_chunks(session, document, make_chunks(30),
                                      config_hash_for(config), config=config)
        await session.commit()


async def test_downgrade_that_loses_data_needs_the_flag(fresh_settings: Settings) -> None:
    await migrate.upgrade(fresh_settings)
    await _some_chunks(fresh_settings)
    with pytest.raises(DataLossRefused, match="configuration JSON of 1 configurations"):
        await migrate.downgrade(fresh_settings, revision="0001")
    # Each step is its own transaction: 0009 -> 0002 loses nothing and stands (0007 -> 0006
    # rewrites the chunks, so it took a backup first).
    assert await migrate.current_revision(fresh_settings) == "0002"
    suffix = ".sqlite3" if _is_sqlite(fresh_settings) else ".pgdump"
    backups = [b.name.split("Z-")[1] for b in (fresh_settings.data_dir / "backups").iterdir()]
    assert backups == ["0007-to-0006" + suffix]

    result = await migrate.downgrade(fresh_settings, revision="0001", allow_data_loss=True)
    assert await migrate.current_revision(fresh_settings) == "0001"
    assert result.steps[0].backup is not None
    assert any((fresh_settings.data_dir / "backups").iterdir())
    assert await _scalar(fresh_settings, "SELECT count(*) FROM chunks") == 30


async def test_downgrade_to_an_empty_database_needs_the_flag(fresh_settings: Settings) -> None:
    await migrate.upgrade(fresh_settings, revision="0001")
    await migrate.downgrade(fresh_settings, revision="base")  # no rows: nothing to lose
    await migrate.upgrade(fresh_settings)
    await _some_chunks(fresh_settings)
    await migrate.downgrade(fresh_settings, revision="0001", allow_data_loss=True)
    with pytest.raises(DataLossRefused) as refused:
        await migrate.downgrade(fresh_settings, revision="base")
    assert "chunks: 30 rows would be dropped" in str(refused.value)
    assert await migrate.current_revision(fresh_settings) == "0001"
    await migrate.downgrade(fresh_settings, revision="base", allow_data_loss=True)
    assert await migrate.current_revision(fresh_settings) is None


# -- rollback when a step damages data ------------------------------------------------------


def _sabotage(monkeypatch: pytest.MonkeyPatch, sql: str) -> None:
    """Make each migration step also run `sql`, as a buggy migration would."""
    real = migrate._run_step

    async def run_step(connection: AsyncConnection, *args: Any) -> None:
        await real(connection, *args)
        await connection.execute(text(sql))

    monkeypatch.setattr(migrate, "_run_step", run_step)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM chunks WHERE chunk_index >= 25", "chunks: 30 rows before, 25 after"),
        ("UPDATE chunks SET text = 'x' || text WHERE chunk_index = 3", "chunks: text checksum"),
    ],
)
async def test_a_step_that_damages_data_is_rolled_back(
    fresh_settings: Settings, monkeypatch: pytest.MonkeyPatch, sql: str, message: str
) -> None:
    await migrate.upgrade(fresh_settings)
    await _some_chunks(fresh_settings, config={"strategy": "x"})
    await migrate.downgrade(fresh_settings, revision="0001", allow_data_loss=True)
    before = await _fingerprint(fresh_settings)

    _sabotage(monkeypatch, sql)
    with pytest.raises(MigrationSafetyError) as stopped:
        await migrate.upgrade(fresh_settings)
    assert "rolled back and the database is unchanged" in str(stopped.value)
    assert message in str(stopped.value)
    assert "Backup taken before the step:" in str(stopped.value)

    assert await migrate.current_revision(fresh_settings) == "0001"
    assert await _fingerprint(fresh_settings) == before
    backups = list((fresh_settings.data_dir / "backups").iterdir())
    # The downgrade's two (0007 -> 0006 and 0002 -> 0001 rewrite chunks) and the failed
    # upgrade's.
    assert len(backups) == 3
    assert all(b.stat().st_size > 0 for b in backups)

    monkeypatch.undo()
    await migrate.upgrade(fresh_settings)
    assert await migrate.current_revision(fresh_settings) == HEAD


async def test_checksum_is_the_same_in_the_server_and_in_python(settings: Settings) -> None:
    await _some_chunks(settings)
    async with open_db(settings) as (engine, _), engine.connect() as connection:
        checksum = await dialect_for(connection).chunk_text_checksum(connection)
        texts = (await connection.execute(text("SELECT text FROM chunks"))).scalars().all()
    assert checksum == sum(text_hash(t) for t in texts)


async def test_new_revisions_continue_the_numbering(settings: Settings, tmp_path: Path) -> None:
    # A copy of the migrations, so the package's own versions directory stays untouched.
    copy = tmp_path / "migrations"
    shutil.copytree(Path(shipped.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = Path(await migrate.make_revision("nothing changed", settings,
                                            script_location=str(copy)))
    assert path.name == "r0010_nothing_changed.py"
    source = path.read_text()
    assert "revision: str = '0010'" in source
    assert "down_revision: str | None = '0009'" in source
    upgrade = source.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "pass" in upgrade and "op." not in upgrade  # the models match the database
    assert "rewrites_on_upgrade" in source


# Steps that alter the users table (0005 adds users.disabled_at).
ALTERS_USERS = frozenset({"0005"})


async def test_writes_to_other_tables_during_a_step_are_not_a_mismatch(
    fresh_postgres_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A live service keeps signing users up while chunks are migrated: only the tables the
    # step rewrites are counted (and kept free of writers), so that is no reason to roll back.
    settings = fresh_postgres_settings
    await migrate.upgrade(settings, revision="0001")
    await _load_revision_0001(settings, documents=10, per_document=10)
    real = migrate._run_step

    async def run_step(connection: AsyncConnection, *args: Any) -> None:
        await real(connection, *args)
        if args[-1] in ALTERS_USERS:
            # That step holds its lock on users until it commits: a live sign-up waits for it
            # (the step does not wait for the sign-up), but one made here, inside the step,
            # would wait forever.
            return
        async with open_db(settings) as (engine, _), engine.begin() as other:
            await other.execute(text(
                "INSERT INTO users (id, username, password_hash) VALUES (:id, :name, 'x')"),
                {"id": uuid7(), "name": f"live-{secrets.token_hex(4)}"})

    monkeypatch.setattr(migrate, "_run_step", run_step)
    result = await migrate.upgrade(settings)
    assert [s.to_revision for s in result.steps] == ["0002", "0003", "0004", "0005", "0006",
                                                     "0007", "0008", HEAD]
    assert result.steps[0].checked is not None
    assert result.steps[0].checked.rows == {"chunks": 100}


def test_wrong_directions_and_unknown_revisions(fresh_settings: Settings) -> None:
    migrate.run_upgrade(fresh_settings, revision="0001")
    with pytest.raises(ValueError, match="unknown revision 'nope'"):
        migrate.run_upgrade(fresh_settings, revision="nope")
    with pytest.raises(ValueError, match="not below the current 0001"):
        migrate.run_downgrade(fresh_settings, revision="0002")
    with pytest.raises(ValueError, match="not above the current 0001"):
        migrate.run_upgrade(fresh_settings, revision="base")
    assert migrate.run_upgrade(fresh_settings, revision="0001").steps == []
    assert migrate.run_current_revision(fresh_settings) == "0001"


async def test_downgrading_past_evaluations_needs_the_flag_and_keeps_chunking_operations(
    fresh_settings: Settings,
) -> None:
    from chunkyard.storage.models import EvaluationResult, Operation, OperationKind, utcnow

    await migrate.upgrade(fresh_settings)
    async with open_db(fresh_settings) as (_, sessions), sessions() as session:
        collection = await create_collection(session)
        config = {"strategy": "recursive", "params": {}}
        for kind in (OperationKind.CHUNKING, OperationKind.EVALUATION):
            operation = Operation(collection_id=collection.id, owner_id=collection.owner_id,
                                  kind=kind, status="completed", config=config,
                                  created_at=utcnow())
            session.add(operation)
            await session.flush()
        session.add(EvaluationResult(operation_id=operation.id, summary=[], question_count=0,
                                     questions=[], created_at=utcnow()))
        await session.commit()
    with pytest.raises(DataLossRefused, match="1 evaluations and their scores"):
        await migrate.downgrade(fresh_settings, revision="0008")
    assert await migrate.current_revision(fresh_settings) == "0009"
    await migrate.downgrade(fresh_settings, revision="0008", allow_data_loss=True)
    assert await _scalar(fresh_settings, "SELECT count(*) FROM operations") == 1
    await migrate.upgrade(fresh_settings)
    assert await _scalar(fresh_settings, "SELECT kind FROM operations") == "chunking"
    assert await migrate.check(fresh_settings) == []

"""Initial schema: users, API keys, collections, documents, operations, chunks.

On PostgreSQL `chunks` is LIST-partitioned on `partition_key` into 100 partitions
(`chunks_p00` .. `chunks_p99`); on SQLite it is a plain table. In this revision every chunk
row carries the 64-character hash of its chunking configuration (`config_hash`).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("users", "api_keys", "collections", "documents", "operations", "chunks")

# Tables holding rows that this revision rewrites or drops, per direction: the migration
# runner backs them up and checks row counts and the chunk-text checksum around the step.
rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = TABLES

PARTITIONS = 100


def downgrade_data_loss(connection: Connection) -> list[str]:
    """Downgrading to an empty database drops every table: any row is lost."""
    lost = []
    for table in TABLES:
        rows = connection.scalar(sa.text(f"SELECT count(*) FROM {table}"))
        if rows:
            lost.append(f"{table}: {rows} rows would be dropped")
    return lost


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, nullable: bool = False) -> sa.Column[Any]:
    if nullable:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=True)
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(),
                     nullable=False)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False),
        _timestamp("created_at"),
        _timestamp("last_used_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_keys_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "collections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("config", _json(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_collections_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.UniqueConstraint("owner_id", "name", name="uq_collections_owner_id_name"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("partition_key", sa.SmallInteger(), nullable=False),
        sa.Column("filename", sa.String(1024), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("status", sa.String(20), server_default="pending", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("storage_path", sa.String(1024), nullable=True),
        sa.Column("config_hash", sa.String(64), nullable=True),
        sa.Column("chunked_sha256", sa.String(64), nullable=True),
        sa.Column("chunker_version", sa.String(64), nullable=True),
        sa.Column("chunk_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("chunked_at", nullable=True),
        sa.CheckConstraint(
            f"partition_key >= 0 AND partition_key < {PARTITIONS}",
            name=op.f("ck_documents_partition_key"),
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_documents_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_collection_id_id", "documents", ["collection_id", "id"])
    op.create_table(
        "operations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(20), server_default="pending", nullable=False),
        sa.Column("documents_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("documents_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("documents_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("chunks_created", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("config", _json(), nullable=False),
        sa.Column("document_ids", _json(), nullable=True),
        _timestamp("created_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_operations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_operations_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_operations_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
    )
    op.create_index("ix_operations_collection_id_id", "operations", ["collection_id", "id"])
    op.create_index("ix_operations_owner_id", "operations", ["owner_id"])

    # No foreign keys on chunks: a per-row check halves COPY throughput. The trigger below
    # and the repositories keep chunks and documents consistent.
    op.create_table(
        "chunks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("partition_key", sa.SmallInteger(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint(
            f"partition_key >= 0 AND partition_key < {PARTITIONS}",
            name=op.f("ck_chunks_partition_key"),
        ),
        sa.CheckConstraint(
            "start_offset >= 0 AND end_offset > start_offset", name=op.f("ck_chunks_offsets")
        ),
        sa.PrimaryKeyConstraint("id", "partition_key", name="pk_chunks"),
        sa.UniqueConstraint(
            "document_id",
            "chunk_index",
            "partition_key",
            name="uq_chunks_document_id_chunk_index_partition_key",
        ),
        postgresql_partition_by="LIST (partition_key)",
    )
    op.create_index(
        "ix_chunks_collection_id_document_id_chunk_index",
        "chunks",
        ["collection_id", "document_id", "chunk_index"],
    )
    if postgres:
        for key in range(PARTITIONS):
            op.execute(f"CREATE TABLE chunks_p{key:02d} PARTITION OF chunks FOR VALUES IN ({key})")
    _create_delete_trigger(postgres)


def _create_delete_trigger(postgres: bool) -> None:
    # Deleting a document (directly or by the collection's cascade) deletes its chunks, from
    # the one partition that holds them.
    if postgres:
        op.execute(
            """
            CREATE FUNCTION chunkyard_delete_document_chunks() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM chunks
                WHERE partition_key = OLD.partition_key AND document_id = OLD.id;
                RETURN OLD;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER trg_documents_delete_chunks AFTER DELETE ON documents "
            "FOR EACH ROW EXECUTE FUNCTION chunkyard_delete_document_chunks()"
        )
    else:
        op.execute(
            "CREATE TRIGGER trg_documents_delete_chunks AFTER DELETE ON documents "
            "FOR EACH ROW BEGIN "
            "DELETE FROM chunks WHERE partition_key = OLD.partition_key "
            "AND document_id = OLD.id; END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP TRIGGER trg_documents_delete_chunks" + (" ON documents" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION chunkyard_delete_document_chunks()")
    # Dropping the partitioned table drops its partitions.
    op.drop_table("chunks")
    op.drop_table("operations")
    op.drop_table("documents")
    op.drop_table("collections")
    op.drop_table("api_keys")
    op.drop_table("users")

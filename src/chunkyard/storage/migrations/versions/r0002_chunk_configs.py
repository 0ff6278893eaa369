"""Chunk configurations stored once: `chunk_configs`, and `chunks.config_id` for `config_hash`.

Every chunk row carried a 64-character configuration hash; it now carries a 4-byte id of a
`chunk_configs` row, which also has room for the configuration itself. This rewrites every
chunk row (and on SQLite rebuilds the table), so the runner backs up and checks the data.

Downgrade puts the hash back on every chunk and drops `chunk_configs`. Only the stored
configuration JSON (absent for configurations that came from revision 0001) would be lost,
and `downgrade_data_loss` reports it so the runner refuses without `allow_data_loss`.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ("chunks",)
rewrites_on_downgrade: tuple[str, ...] = ("chunks", "chunk_configs")

_TRIGGER_SQLITE = (
    "CREATE TRIGGER trg_documents_delete_chunks AFTER DELETE ON documents "
    "FOR EACH ROW BEGIN "
    "DELETE FROM chunks WHERE partition_key = OLD.partition_key "
    "AND document_id = OLD.id; END"
)


def downgrade_data_loss(connection: Connection) -> list[str]:
    stored = connection.scalar(
        sa.text("SELECT count(*) FROM chunk_configs WHERE config IS NOT NULL")
    )
    if stored:
        return [f"chunk_configs: the configuration JSON of {stored} configurations "
                "(revision 0001 keeps only their hashes)"]
    return []


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "chunk_configs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chunk_configs"),
        sa.UniqueConstraint("config_hash", name="uq_chunk_configs_config_hash"),
    )
    op.execute(
        "INSERT INTO chunk_configs (config_hash) "
        "SELECT DISTINCT config_hash FROM chunks ORDER BY config_hash"
    )
    op.add_column("chunks", sa.Column("config_id", sa.Integer(), nullable=True))
    if postgres:
        op.execute(
            "UPDATE chunks SET config_id = cc.id FROM chunk_configs cc "
            "WHERE cc.config_hash = chunks.config_hash"
        )
        op.alter_column("chunks", "config_id", existing_type=sa.Integer(), nullable=False)
        op.drop_column("chunks", "config_hash")
        return
    op.execute(
        "UPDATE chunks SET config_id = "
        "(SELECT cc.id FROM chunk_configs cc WHERE cc.config_hash = chunks.config_hash)"
    )
    # SQLite cannot make a column NOT NULL in place: the table is rebuilt (copied). The
    # trigger on documents names chunks and would break the rename at the end of the rebuild.
    op.execute("DROP TRIGGER trg_documents_delete_chunks")
    with op.batch_alter_table("chunks", recreate="always") as batch:
        batch.alter_column("config_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("config_hash")
    op.execute(_TRIGGER_SQLITE)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("chunks", sa.Column("config_hash", sa.String(64), nullable=True))
    if postgres:
        op.execute(
            "UPDATE chunks SET config_hash = cc.config_hash FROM chunk_configs cc "
            "WHERE cc.id = chunks.config_id"
        )
        op.alter_column("chunks", "config_hash", existing_type=sa.String(64), nullable=False)
        op.drop_column("chunks", "config_id")
    else:
        op.execute(
            "UPDATE chunks SET config_hash = "
            "(SELECT cc.config_hash FROM chunk_configs cc WHERE cc.id = chunks.config_id)"
        )
        op.execute("DROP TRIGGER trg_documents_delete_chunks")
        with op.batch_alter_table("chunks", recreate="always") as batch:
            batch.alter_column("config_hash", existing_type=sa.String(64), nullable=False)
            batch.drop_column("config_id")
        op.execute(_TRIGGER_SQLITE)
    op.drop_table("chunk_configs")

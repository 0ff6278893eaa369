"""Operation parts: an operation's documents split into parts that workers run in parallel.

`operation_parts` holds each part's documents, its own counters, and the lease, heartbeat and
attempts that were the operation's in revision 0003 (see `worker/jobs.py`); those three
columns move off `operations`. Only a new table and dropped columns: no row is rewritten.
The lease values matter only while an operation runs, so stop the workers before upgrading
or downgrading; an operation left running by revision 0003 is split into parts when its job
is delivered again (and downgrading drops the parts of running operations).

Revision ID: 0004
Revises: 0003
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def upgrade() -> None:
    op.create_table(
        "operation_parts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "document_ids",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), server_default="pending", nullable=False),
        sa.Column("documents_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("documents_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("chunks_created", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed')",
            name=op.f("ck_operation_parts_status"),
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
            name="fk_operation_parts_operation_id_operations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operation_parts"),
        sa.UniqueConstraint(
            "operation_id", "number", name="uq_operation_parts_operation_id_number"
        ),
    )
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+): none of these columns
    # is indexed or constrained, so SQLite needs no table rebuild.
    op.drop_column("operations", "attempts")
    op.drop_column("operations", "lease_expires_at")
    op.drop_column("operations", "lease_owner")


def downgrade() -> None:
    op.add_column("operations", sa.Column("lease_owner", sa.String(255), nullable=True))
    op.add_column(
        "operations", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "operations",
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.drop_table("operation_parts")

"""Leases on operations, and which operation chunked a document.

`operations.lease_owner`, `lease_expires_at` and `attempts` let a job claim an operation, keep
the claim alive while it runs, and let another delivery take over an operation whose job died
(see `worker/jobs.py`). `documents.chunked_by_operation_id` records the operation that stored
a document's chunks, so a job that takes over counts what its predecessor already did.

Only columns are added (nullable, or with a default), so no row is rewritten. Downgrade drops
them: the values matter only while an operation runs, so stop the workers first.

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def upgrade() -> None:
    op.add_column("operations", sa.Column("lease_owner", sa.String(255), nullable=True))
    op.add_column(
        "operations", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "operations",
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("documents", sa.Column("chunked_by_operation_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+): none of these columns
    # is indexed or constrained, so SQLite needs no table rebuild (which would also drop the
    # trigger on documents).
    op.drop_column("documents", "chunked_by_operation_id")
    op.drop_column("operations", "attempts")
    op.drop_column("operations", "lease_expires_at")
    op.drop_column("operations", "lease_owner")

"""Maintenance runs: one row per run of a scheduled maintenance task (chunkyard/maintenance).

`maintenance_runs` records each run of `analyze`, `skew`, `cleanup` and `reindex`: when it
started and finished, its outcome (running, succeeded, failed, or skipped because another run
held the task's lock) and a one-line detail. `chunkyard maintenance status` and /metrics read
it. Only a new table: no row is rewritten; downgrading drops the record of past runs (the
tasks run again on their next schedule).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def upgrade() -> None:
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "outcome IN ('running', 'succeeded', 'failed', 'skipped')",
            name=op.f("ck_maintenance_runs_outcome"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_runs"),
    )
    op.create_index("ix_maintenance_runs_task_id", "maintenance_runs", ["task", "id"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_runs_task_id", table_name="maintenance_runs")
    op.drop_table("maintenance_runs")

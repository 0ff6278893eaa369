"""Evaluations: an operation's kind, and the scores of a retrieval-scored comparison; and
what a document measured when it was last chunked.

`operations.kind` says what an operation does: `chunking` (every operation so far, the server
default) or `evaluation` (chunk a collection's referenced documents with 1-6 configurations,
embed, retrieve, score; its inputs in `operations.config`). `evaluation_results` holds an
evaluation's scores once it completes: per configuration and per question, as JSON; it goes
with its operation. `documents.text_chars`, `pages` and `chunk_tokens` are set by the next
chunking of each document (null until then). Only new columns (nullable, or with a default)
and a new table: no row is rewritten; downgrading drops evaluations, so it is refused while any
exist unless data loss is allowed (the measurements come back with the next chunking).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def downgrade_data_loss(connection: Connection) -> list[str]:
    stored = connection.scalar(
        sa.text("SELECT count(*) FROM operations WHERE kind = 'evaluation'"))
    if stored:
        return [f"operations: {stored} evaluations and their scores (revision 0008 has no "
                "evaluations)"]
    return []


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("operations", sa.Column("kind", sa.String(20), server_default="chunking",
                                          nullable=False))
    op.add_column("documents", sa.Column("text_chars", sa.BigInteger(), nullable=True))
    op.add_column("documents", sa.Column("pages", sa.Integer(), nullable=True))
    op.add_column("documents", sa.Column("chunk_tokens", sa.BigInteger(), nullable=True))
    op.create_table(
        "evaluation_results",
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("summary", _json(), nullable=False),
        sa.Column("question_count", sa.Integer(), nullable=False),
        sa.Column("questions", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"], ondelete="CASCADE",
                                name=op.f("fk_evaluation_results_operation_id_operations")),
        sa.PrimaryKeyConstraint("operation_id", name=op.f("pk_evaluation_results")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_results")
    op.execute("DELETE FROM operations WHERE kind = 'evaluation'")
    op.drop_column("operations", "kind")
    op.drop_column("documents", "chunk_tokens")
    op.drop_column("documents", "pages")
    op.drop_column("documents", "text_chars")

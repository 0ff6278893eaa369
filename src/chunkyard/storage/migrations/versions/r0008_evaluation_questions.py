"""Evaluation questions: a collection's questions and the excerpts that answer them.

`eval_questions` holds each question (its collection, its text); `eval_references` each excerpt
that answers one: a document and a character range of its extracted text, in order. A
reference goes with its document (ON DELETE CASCADE), a question with its collection. Only new
tables: no row is rewritten; downgrading drops the questions, so it is refused while any
exist unless data loss is allowed (`downgrade_data_loss`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def downgrade_data_loss(connection: Connection) -> list[str]:
    stored = connection.scalar(sa.text("SELECT count(*) FROM eval_questions"))
    if stored:
        return [f"eval_questions: {stored} evaluation questions and their references "
                "(revision 0007 has no evaluation sets)"]
    return []


def upgrade() -> None:
    op.create_table(
        "eval_questions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE",
                                name=op.f("fk_eval_questions_collection_id_collections")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_questions")),
    )
    op.create_index("ix_eval_questions_collection_id_id", "eval_questions",
                    ["collection_id", "id"])
    op.create_table(
        "eval_references",
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.CheckConstraint("start_offset >= 0 AND end_offset > start_offset",
                           name=op.f("ck_eval_references_span")),
        sa.ForeignKeyConstraint(["question_id"], ["eval_questions.id"], ondelete="CASCADE",
                                name=op.f("fk_eval_references_question_id_eval_questions")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name=op.f("fk_eval_references_document_id_documents")),
        sa.PrimaryKeyConstraint("question_id", "position", name=op.f("pk_eval_references")),
    )
    op.create_index("ix_eval_references_document_id", "eval_references", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_eval_references_document_id", table_name="eval_references")
    op.drop_table("eval_references")
    op.drop_index("ix_eval_questions_collection_id_id", table_name="eval_questions")
    op.drop_table("eval_questions")

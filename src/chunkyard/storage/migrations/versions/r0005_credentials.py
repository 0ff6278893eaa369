"""Credentials that can be revoked: sessions, named API keys, disabled users.

`auth_sessions` holds one row per sign-in; its id is the `sid` claim of the session's token,
and a set `revoked_at` ends it (logout, a password change, a disabled user). `api_keys.name`
says what a key is for; `users.disabled_at` marks a user who may no longer sign in.

Only a new table and added columns (nullable, or with a default): no row is rewritten.
Downgrading drops them, and with them the record of every session and revocation: run the
code of revision 0004 with it (its tokens carry no session), and rotate the secret key if a
revoked token must stay refused.

Revision ID: 0005
Revises: 0004
Create Date: 2025-04-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_auth_sessions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.add_column(
        "api_keys", sa.Column("name", sa.String(100), server_default="", nullable=False)
    )
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+): neither column is
    # indexed or constrained, so SQLite needs no table rebuild.
    op.drop_column("users", "disabled_at")
    op.drop_column("api_keys", "name")
    op.drop_index("ix_auth_sessions_user_id", table_name="auth_sessions")
    op.drop_table("auth_sessions")

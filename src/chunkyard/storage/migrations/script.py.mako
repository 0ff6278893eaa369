"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | None = ${repr(branch_labels)}
depends_on: str | None = ${repr(depends_on)}

# Tables holding rows that this revision rewrites or drops, per direction: the migration
# runner backs them up and checks row counts and the chunk-text checksum around the step.
rewrites_on_upgrade: tuple[str, ...] = ()
rewrites_on_downgrade: tuple[str, ...] = ()


def downgrade_data_loss(connection: Connection) -> list[str]:
    """What the downgrade would lose, one line each; a non-empty list needs allow_data_loss."""
    return []


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}

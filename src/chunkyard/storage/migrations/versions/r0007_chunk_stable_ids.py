"""Stable chunk ids: `chunks.stable_id`, derived from document, configuration, text, occurrence.

Every chunk gets the id of `core/stable_ids.py`: the first 32 hex digits of the SHA-256 of
"<document id>|<configuration hash>|<occurrence>|<text>", the occurrence being the number of
chunks of the same document (and configuration) with the same text before it in chunk order.
Existing rows are filled in: on PostgreSQL by one UPDATE (sha256 and a window function, the
same bytes as the Python rule; the column is added to the partitioned table, so to every
partition); on SQLite in Python, document by document in keyset batches, after which the
table is rebuilt to make the column NOT NULL. The rule is written out here rather than
imported so that this step stays what it was.

Downgrade drops the column: nothing is lost, the ids are derived from data that stays.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import hashlib
import uuid

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

rewrites_on_upgrade: tuple[str, ...] = ("chunks",)
rewrites_on_downgrade: tuple[str, ...] = ("chunks",)

_TRIGGER_SQLITE = (
    "CREATE TRIGGER trg_documents_delete_chunks AFTER DELETE ON documents "
    "FOR EACH ROW BEGIN "
    "DELETE FROM chunks WHERE partition_key = OLD.partition_key "
    "AND document_id = OLD.id; END"
)

_FILL_POSTGRES = """
UPDATE chunks AS c
SET stable_id = substr(encode(sha256(convert_to(
    c.document_id::text || '|' || cc.config_hash || '|' || n.occurrence::text || '|' || c.text,
    'UTF8')), 'hex'), 1, 32)
FROM (
    SELECT id, partition_key,
           row_number() OVER (PARTITION BY document_id, config_id, text
                              ORDER BY chunk_index) - 1 AS occurrence
    FROM chunks
) AS n, chunk_configs AS cc
WHERE n.id = c.id AND n.partition_key = c.partition_key AND cc.id = c.config_id
"""

_BATCH = 5000


def _stable_id(document_id: uuid.UUID, config_hash: str, text: str, occurrence: int) -> str:
    data = f"{document_id}|{config_hash}|{occurrence}|{text}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def _fill_sqlite() -> None:
    bind = op.get_bind()
    select = (
        "SELECT c.id, c.document_id, c.chunk_index, cc.config_hash, c.text FROM chunks c "
        "JOIN chunk_configs cc ON cc.id = c.config_id {where} "
        "ORDER BY c.document_id, c.chunk_index LIMIT :limit"
    )
    after: tuple[str, int] | None = None
    document: str | None = None
    seen: dict[tuple[str, str], int] = {}
    while True:
        if after is None:
            rows = bind.execute(sa.text(select.format(where="")), {"limit": _BATCH}).all()
        else:
            rows = bind.execute(
                sa.text(select.format(
                    where="WHERE (c.document_id, c.chunk_index) > (:document, :index)")),
                {"document": after[0], "index": after[1], "limit": _BATCH},
            ).all()
        if not rows:
            return
        updates = []
        for chunk_id, document_id, _index, config_hash, text in rows:
            if document_id != document:
                document, seen = document_id, {}
            key = (config_hash, text)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            updates.append({
                "stable_id": _stable_id(uuid.UUID(document_id), config_hash, text, occurrence),
                "id": chunk_id,
            })
        bind.execute(sa.text("UPDATE chunks SET stable_id = :stable_id WHERE id = :id"),
                     updates)
        after = (rows[-1][1], rows[-1][2])


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("chunks", sa.Column("stable_id", sa.String(32), nullable=True))
    if postgres:
        op.execute(_FILL_POSTGRES)
        op.alter_column("chunks", "stable_id", existing_type=sa.String(32), nullable=False)
        return
    _fill_sqlite()
    # SQLite cannot make a column NOT NULL in place: the table is rebuilt (copied). The
    # trigger on documents names chunks and would break the rename at the end of the rebuild.
    op.execute("DROP TRIGGER trg_documents_delete_chunks")
    with op.batch_alter_table("chunks", recreate="always") as batch:
        batch.alter_column("stable_id", existing_type=sa.String(32), nullable=False)
    op.execute(_TRIGGER_SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("chunks", "stable_id")
        return
    op.execute("DROP TRIGGER trg_documents_delete_chunks")
    with op.batch_alter_table("chunks", recreate="always") as batch:
        batch.drop_column("stable_id")
    op.execute(_TRIGGER_SQLITE)

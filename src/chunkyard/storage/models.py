"""The database models: one set of SQLAlchemy 2 typed models for PostgreSQL and SQLite.

PostgreSQL-only details are table options (`postgresql_partition_by`) that other dialects
ignore; the 100 child partitions of `chunks` and the delete trigger exist only in the
migrations (see `migrations/versions/`), and `migrate.check` knows about them.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chunkyard.storage.keys import PARTITION_COUNT, partition_key_for, uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (binary, indexable), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

# A 64-bit id on PostgreSQL; on SQLite an INTEGER (SQLite's 64-bit integer type).
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so values are stored as UTC and
    given back their `UTC` tzinfo on the way out. Naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (e.g. datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 (SQLAlchemy reads a plain dict)
        uuid.UUID: Uuid(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class DocumentStatus(enum.StrEnum):
    PENDING = "pending"  # uploaded, never chunked
    PROCESSING = "processing"  # a job is chunking it
    CHUNKED = "chunked"  # chunks stored for `config_hash`
    FAILED = "failed"  # the last chunking failed; see `error`


class OperationStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OperationKind(enum.StrEnum):
    CHUNKING = "chunking"  # chunk documents and store their chunks
    EVALUATION = "evaluation"  # score configurations by retrieval; stores no chunks


class PartStatus(enum.StrEnum):
    PENDING = "pending"  # no job has started it yet
    RUNNING = "running"  # a job holds its lease (or held it and died: see `lease_expires_at`)
    COMPLETED = "completed"
    FAILED = "failed"  # its operation failed because of it


def _created_at() -> Mapped[datetime]:
    return mapped_column(default=utcnow, server_default=func.now())


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = _created_at()
    # Set by `chunkyard users disable`: the user cannot sign in, and every session and API
    # key of theirs was revoked at that moment.
    disabled_at: Mapped[datetime | None]

    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )
    collections: Mapped[list[Collection]] = relationship(
        back_populates="owner", lazy="raise", passive_deletes=True
    )


class ApiKey(Base):
    """An API key: only its prefix (for lookup) and a hash of the whole key are stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(255))
    # What the key is for, as its owner named it ("" when unnamed).
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = _created_at()
    # When the key last authenticated a request, to the minute (auth/usage.py).
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys", lazy="raise")


class AuthSession(Base):
    """A signed-in session: its id is the `sid` of the tokens issued at login, so revoking
    the row (logout, a password change, a disabled user) ends the session everywhere."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # The collection's default chunking configuration: {"strategy": ..., "params": {...}}.
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    owner: Mapped[User] = relationship(back_populates="collections", lazy="raise")
    documents: Mapped[list[Document]] = relationship(
        back_populates="collection", lazy="raise", passive_deletes=True
    )
    operations: Mapped[list[Operation]] = relationship(
        back_populates="collection", lazy="raise", passive_deletes=True
    )


class Document(Base):
    """An uploaded file. `partition_key` is derived from `id` (see `keys.partition_key_for`)."""

    __tablename__ = "documents"
    __table_args__ = (
        # Keyset pagination of a collection's documents (ids are time-ordered UUIDs).
        Index("ix_documents_collection_id_id", "collection_id", "id"),
        CheckConstraint(
            f"partition_key >= 0 AND partition_key < {PARTITION_COUNT}", name="partition_key"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE")
    )
    partition_key: Mapped[int] = mapped_column(SmallInteger)
    filename: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(
        String(20), default=DocumentStatus.PENDING, server_default=DocumentStatus.PENDING
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    # Where the original bytes live, relative to the data directory (or an object-store key).
    storage_path: Mapped[str | None] = mapped_column(String(1024))
    # Set by `replace_document_chunks`: what the stored chunks were made from, so a job can
    # skip a document whose content and configuration are unchanged.
    config_hash: Mapped[str | None] = mapped_column(String(64))
    chunked_sha256: Mapped[str | None] = mapped_column(String(64))
    chunker_version: Mapped[str | None] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Measured when it was last chunked: its extracted text's length in characters, its
    # pages (kinds with pages), the tokens of its chunks (null before).
    text_chars: Mapped[int | None] = mapped_column(BigInteger)
    pages: Mapped[int | None] = mapped_column(Integer)
    chunk_tokens: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    chunked_at: Mapped[datetime | None]
    # The operation that stored the current chunks: a job that takes over an interrupted
    # operation counts the documents it had already chunked (no foreign key: the id is a
    # record, and an operation goes away only with its collection's documents).
    chunked_by_operation_id: Mapped[uuid.UUID | None]

    collection: Mapped[Collection] = relationship(back_populates="documents", lazy="raise")

    def __init__(self, **kwargs: Any) -> None:
        # The id is chosen here rather than at flush so that the partition key, and any
        # storage path derived from the id, are known from the start.
        if kwargs.get("id") is None:
            kwargs["id"] = uuid7()
        expected = partition_key_for(kwargs["id"])
        if kwargs.setdefault("partition_key", expected) != expected:
            raise ValueError("partition_key must be partition_key_for(id)")
        super().__init__(**kwargs)


class ChunkConfig(Base):
    """A chunking configuration, stored once and referenced by every chunk made with it."""

    __tablename__ = "chunk_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    config_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Null when only the hash is known (rows migrated from revision 0001).
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created_at()


class Chunk(Base):
    """One chunk (SPEC section 1) of a document.

    On PostgreSQL the table is LIST-partitioned on `partition_key` into 100 partitions, so the
    primary key and every unique constraint include `partition_key`. There are no foreign keys
    on this table on purpose: a per-row foreign key check halves COPY throughput. Integrity is
    kept by the writers instead: chunks are only written by `replace_document_chunks` under a
    lock on their (existing) document, and an AFTER DELETE trigger on `documents` (created by
    the migrations) deletes a document's chunks from its one partition.
    """

    __tablename__ = "chunks"
    __table_args__ = (
        PrimaryKeyConstraint("id", "partition_key"),
        # One set of chunks per document; also serves document-scoped keyset pagination.
        UniqueConstraint("document_id", "chunk_index", "partition_key"),
        # Collection-scoped keyset pagination in chunk order: by document id (time-ordered),
        # then chunk index.
        Index("ix_chunks_collection_id_document_id_chunk_index",
              "collection_id", "document_id", "chunk_index"),
        CheckConstraint(
            f"partition_key >= 0 AND partition_key < {PARTITION_COUNT}", name="partition_key"
        ),
        CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="offsets"),
        {"postgresql_partition_by": "LIST (partition_key)"},
    )

    id: Mapped[int] = mapped_column(BigIntId, Identity())
    partition_key: Mapped[int] = mapped_column(SmallInteger)
    collection_id: Mapped[uuid.UUID]
    document_id: Mapped[uuid.UUID]
    config_id: Mapped[int] = mapped_column(Integer)
    # The chunk's public id (`core/stable_ids.py`): derived from the document, the
    # configuration, the text and its occurrence, never from the position. Not indexed: it is
    # read with the document's chunks (one partition), never looked up alone.
    stable_id: Mapped[str] = mapped_column(String(32))
    chunk_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = _created_at()


class Operation(Base):
    """A chunking job over a collection (all of its documents, or the given ones)."""

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_collection_id_id", "collection_id", "id"),
        CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name="status",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(
        String(20), default=OperationStatus.PENDING, server_default=OperationStatus.PENDING
    )
    kind: Mapped[str] = mapped_column(
        String(20), default=OperationKind.CHUNKING, server_default=OperationKind.CHUNKING
    )
    documents_total: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    documents_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    documents_failed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    chunks_created: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    # A chunking operation: the configuration it chunks with ({"strategy", "params"}). An
    # evaluation: its inputs ({"configs": [...], "k", "embedding_model"}).
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The documents asked for; null means every document of the collection.
    document_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    collection: Mapped[Collection] = relationship(back_populates="operations", lazy="raise")
    parts: Mapped[list[OperationPart]] = relationship(
        back_populates="operation", lazy="raise", passive_deletes=True
    )


class OperationPart(Base):
    """A slice of a running operation's documents, run by one job at a time (worker/jobs.py).

    The operation's counters are the sum of its parts' counters: both are updated in the same
    transactions, so a part that is taken over takes back exactly what it had counted.
    """

    __tablename__ = "operation_parts"
    __table_args__ = (
        # The parts of an operation, in order.
        UniqueConstraint("operation_id", "number"),
        CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed')", name="status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    operation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    # The part's documents (ids as strings), in the order the job walks them.
    document_ids: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(
        String(20), default=PartStatus.PENDING, server_default=PartStatus.PENDING
    )
    documents_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    documents_failed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    chunks_created: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # The lease of the job running it: who holds it and until when; a running part whose
    # lease has expired lost its job and may be taken over.
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    # Jobs that started it and did not hand it back (a job that meets a transient error, or
    # is stopped, gives its attempt back): more than `job_max_attempts` fails the operation.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    operation: Mapped[Operation] = relationship(back_populates="parts", lazy="raise")


class MaintenanceOutcome(enum.StrEnum):
    RUNNING = "running"  # started, not finished (or its process died: see maintenance/record.py)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # another run of the same task held its lock


class MaintenanceRun(Base):
    """One run of a scheduled maintenance task (chunkyard/maintenance): what it did, or why not."""

    __tablename__ = "maintenance_runs"
    __table_args__ = (
        # The newest runs of a task: `maintenance status` and /metrics read them.
        Index("ix_maintenance_runs_task_id", "task", "id"),
        CheckConstraint(
            "outcome IN ('running', 'succeeded', 'failed', 'skipped')", name="outcome"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # One line: what was done (rows deleted, partitions analyzed, the skew), or why it failed.
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")


class EvaluationResult(Base):
    """The scores of a completed evaluation (an operation of kind `evaluation`): `summary`
    per configuration, `questions` per question and configuration (`evaluation/results.py`
    says what each holds)."""

    __tablename__ = "evaluation_results"

    operation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True
    )
    summary: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    question_count: Mapped[int] = mapped_column(Integer)
    # Read only where asked for (it can be megabytes): the per-question page.
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, deferred=True)
    created_at: Mapped[datetime] = _created_at()


class EvalQuestion(Base):
    """A question of a collection's evaluation set; the excerpts that answer it are its
    references (`EvalReference`), which go with their document when it is deleted."""

    __tablename__ = "eval_questions"
    __table_args__ = (
        # Keyset pagination of a collection's questions (ids are time-ordered UUIDs).
        Index("ix_eval_questions_collection_id_id", "collection_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE")
    )
    question: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    collection: Mapped[Collection] = relationship(lazy="raise")
    references: Mapped[list[EvalReference]] = relationship(
        lazy="selectin", order_by="EvalReference.position", cascade="all, delete-orphan",
        passive_deletes=True,
    )


class EvalReference(Base):
    """Characters `start_offset` to `end_offset` of a document's extracted text that answer a
    question (code points, end excluded, as chunk offsets count)."""

    __tablename__ = "eval_references"
    __table_args__ = (
        PrimaryKeyConstraint("question_id", "position"),
        # A deleted document's references are found (and cascaded) through this index.
        Index("ix_eval_references_document_id", "document_id"),
        CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="span"),
    )

    question_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("eval_questions.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)

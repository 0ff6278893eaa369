"""Documents: upload into a collection (content-addressed blobs), list, read and delete.

Every query is scoped by the collection's owner, so another user's document is simply not found
(404). Services only flush; the request commits. Extraction and chunking happen later, in jobs:
an uploaded document is "pending".

Uploads are all-or-nothing: one file over the limit (413), of an unsupported type (415), empty
or badly named (422), or with content already in the collection (409) refuses the whole request
and stores nothing, so a client can fix the one file and send the same request again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.auth.service import Principal
from chunkyard.documents import blobs
from chunkyard.documents.schemas import DocumentOut
from chunkyard.extract import detect_kind
from chunkyard.extract.detect import binary_type, is_docx_zip
from chunkyard.extract.errors import missing_parser
from chunkyard.kit.errors import (
    Conflict,
    Invalid,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from chunkyard.kit.ids import owned_row
from chunkyard.kit.names import unsafe_character
from chunkyard.storage.models import Collection, Document, DocumentStatus
from chunkyard.storage.repositories import Keyset
from chunkyard.storage.repositories import delete_document as storage_delete_document

MAX_FILENAME = 1024
# The longest pasted text a preview chunks, the most text one answer of a document's text view
# holds (a longer one is read in windows), and the longest stored document a comparison
# chunks; a preview of a stored document chunks it whole, whatever its size. Read at call time.
MAX_PREVIEW_CHARS = 2_000_000
_PAGES = Keyset("doc", (Document.id,))


def document_out(document: Document) -> DocumentOut:
    return DocumentOut.model_validate(document)


async def owned_collection(
    session: AsyncSession, owner: Principal, collection_id: str
) -> Collection:
    """The owner's collection, with the same 404 as `GET /collections/{id}` (read through
    `owned_row` here: documents sit below the collections domain, which uses them)."""
    return await owned_row(session, Collection, collection_id, owner.id, what="collection")


async def get_document(session: AsyncSession, owner: Principal, document_id: str) -> Document:
    """The owner's document (its collection's owner); NotFound for a missing one, a malformed
    id or someone else's."""
    return await owned_row(
        session, Document, document_id, owner.id, what="document", via=Document.collection
    )


async def list_documents(
    session: AsyncSession, owner: Principal, collection_id: str, *, limit: int,
    cursor: str | None,
) -> tuple[list[Document], str | None]:
    """A collection's documents in upload order (ids are time-ordered), `limit` at a time."""
    collection = await owned_collection(session, owner, collection_id)
    page = await _PAGES.page(
        session, select(Document).where(Document.collection_id == collection.id),
        limit=limit, cursor=cursor,
    )
    return page.items, page.next_cursor


# -- upload -------------------------------------------------------------------------------------


def clean_filename(raw: bytes | str | None) -> str:
    """The file's own name: directories a client sent along are dropped. A name sent as bytes
    must be UTF-8: any other bytes are refused, never guessed at (the same "café" is b"caf\\xe9"
    in latin-1 and b"caf\\xc3\\xa9" in UTF-8, and a guess stores mojibake)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            shown = raw.decode("utf-8", "backslashreplace")
            raise Invalid(f"files: the name '{shown}' is not UTF-8 (byte 0x{raw[exc.start]:02X} "
                          f"at offset {exc.start}); send file names in UTF-8",
                          code="invalid_filename") from None
    else:
        text = raw or ""
    name = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise Invalid("files: every file needs a name", code="invalid_filename")
    bad = unsafe_character(name)
    if bad is not None:
        raise Invalid(f"files: {name!r}: the name has a control, separator or bidi character "
                      f"({bad})", code="invalid_filename")
    if len(name) > MAX_FILENAME:
        raise Invalid(f"files: a name is longer than {MAX_FILENAME} characters",
                      code="invalid_filename")
    return name


def unsupported_reason(filename: str, head: bytes) -> str | None:
    """Why the content cannot be a document (judged by its bytes, not only its name)."""
    kind = detect_kind(filename, head)
    if kind == "pdf" and not head.startswith(b"%PDF-"):
        return "it is named .pdf but its content is not a PDF"
    if kind == "docx" and not is_docx_zip(head):
        return "it is named .docx but its content is not a Word document"
    if kind == "binary":
        return f"its content is {binary_type(head) or 'binary data'}"
    return missing_parser(kind)


@asynccontextmanager
async def spooled_uploads(
    files: Sequence[tuple[bytes | str | None, BinaryIO]], *, data_dir: Path, limit: int
) -> AsyncIterator[list[tuple[str, blobs.Spooled]]]:
    """Copy `files` (name, readable binary) to temporary files, hashed and checked (size, type,
    name), before any transaction starts: SQLite's one write lock is never held while
    megabytes are hashed. Whatever `store_uploads` did not move into place is thrown away
    when the block ends."""
    spooled: list[tuple[str, blobs.Spooled]] = []
    try:
        for raw_name, source in files:
            name = clean_filename(raw_name)
            source.seek(0)
            item = await anyio.to_thread.run_sync(blobs.spool, source, data_dir, limit)
            if item.too_large:
                raise PayloadTooLarge(
                    f"files: {name!r} is larger than the {limit} bytes a file may have",
                    code="file_too_large",
                )
            spooled.append((name, item))
            if item.size == 0:
                raise Invalid(f"files: {name!r} is empty", code="empty_file")
            reason = unsupported_reason(name, item.head)
            if reason is not None:
                raise UnsupportedMediaType(
                    f"files: {name!r} is not a supported document: {reason}",
                    code="unsupported_file_type",
                )
        yield spooled
    finally:
        blobs.discard([item.path for _, item in spooled])


async def store_uploads(
    session: AsyncSession,
    owner: Principal,
    collection_id: str,
    spooled: list[tuple[str, blobs.Spooled]],
    *,
    data_dir: Path,
) -> list[Document]:
    """The spooled files as pending documents of the owner's collection (all or none)."""
    collection = await owned_collection(session, owner, collection_id)
    # Uploads into one collection take turns from here to their commit, so two at once
    # (the UI sends a few) cannot both find the same content new. SQLite's writers take
    # turns anyway; PostgreSQL locks the collection's row (not against reads or chunking).
    await session.execute(
        select(Collection.id)
        .where(Collection.id == collection.id)
        .with_for_update(key_share=True)
    )
    await _refuse_duplicates(session, collection.id, spooled)
    documents = [
        Document(
            collection_id=collection.id,
            filename=name,
            status=DocumentStatus.PENDING,
            size_bytes=item.size,
            content_sha256=item.sha256,
            storage_path=blobs.relative_blob_path(item.sha256),
            chunk_count=0,
        )
        for name, item in spooled
    ]
    session.add_all(documents)
    await session.flush()

    def commit_all() -> None:
        for _, item in spooled:
            blobs.commit_blob(item.path, data_dir, item.sha256)

    # Before the request commits: a row never points at a missing blob. If the commit
    # fails after this, the blob stays unreferenced (harmless; same content, same path).
    await anyio.to_thread.run_sync(commit_all)
    return documents


async def replace_file(
    session: AsyncSession,
    owner: Principal,
    document_id: str,
    name: str,
    item: blobs.Spooled,
    *,
    data_dir: Path,
) -> tuple[Document, str]:
    """Give the owner's document a new file (a new version of it): its name, size and content
    change, its id and stored chunks stay (they become stale until an operation re-chunks it,
    which keeps the ids of the chunks whose text did not change). A content another document
    of the collection already has is a 409. Returns the document and its old content digest
    (its blob may go once no document refers to it)."""
    document = await get_document(session, owner, document_id)
    # Takes turns with uploads into the collection (see `store_uploads`).
    await session.execute(
        select(Collection.id)
        .where(Collection.id == document.collection_id)
        .with_for_update(key_share=True)
    )
    other = await session.scalar(
        select(Document)
        .where(Document.collection_id == document.collection_id,
               Document.content_sha256 == item.sha256, Document.id != document.id)
        .limit(1)
    )
    if other is not None:
        raise Conflict(
            f"file: {name!r} has the same content as document {other.id} ({other.filename!r}) "
            "already in this collection",
            code="duplicate_document",
        )
    old_sha256 = document.content_sha256
    document.filename = name
    document.size_bytes = item.size
    document.content_sha256 = item.sha256
    document.storage_path = blobs.relative_blob_path(item.sha256)
    if document.status != DocumentStatus.PROCESSING:
        # The old file's failure says nothing about the new one.
        document.status = (DocumentStatus.CHUNKED if document.config_hash is not None
                           else DocumentStatus.PENDING)
        document.error = None
    await session.flush()
    # Before the request commits: a row never points at a missing blob.
    await anyio.to_thread.run_sync(blobs.commit_blob, item.path, data_dir, item.sha256)
    return document, old_sha256


async def _refuse_duplicates(
    session: AsyncSession, collection_id: uuid.UUID, spooled: list[tuple[str, blobs.Spooled]]
) -> None:
    seen: dict[str, str] = {}
    for name, item in spooled:
        if item.sha256 in seen:
            raise Conflict(
                f"files: {name!r} has the same content as {seen[item.sha256]!r} in this upload",
                code="duplicate_document",
            )
        seen[item.sha256] = name
    existing = await session.scalar(
        select(Document)
        .where(Document.collection_id == collection_id, Document.content_sha256.in_(seen))
        .order_by(Document.id)
        .limit(1)
    )
    if existing is not None:
        raise Conflict(
            f"files: {seen[existing.content_sha256]!r} has the same content as document "
            f"{existing.id} ({existing.filename!r}) already in this collection",
            code="duplicate_document",
        )


# -- delete -------------------------------------------------------------------------------------


async def delete_document(session: AsyncSession, owner: Principal, document_id: str) -> str:
    """Delete the owner's document and its chunks; returns its content digest."""
    document = await get_document(session, owner, document_id)
    sha256 = document.content_sha256
    await storage_delete_document(session, document.id)
    return sha256


async def remove_blob_if_unreferenced(
    factory: async_sessionmaker[AsyncSession], data_dir: Path, sha256: str
) -> None:
    """Remove a blob no document refers to any more (run after the deleting commit)."""
    async with factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(Document).where(Document.content_sha256 == sha256)
        )
    if not count:
        await anyio.to_thread.run_sync(blobs.remove_blob, data_dir, sha256)

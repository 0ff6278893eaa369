"""Routes: upload documents into a collection, list them, read one (and its extracted text),
delete one."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, BackgroundTasks, File, Response, UploadFile, status

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.documents import service
from chunkyard.documents.schemas import DocumentOut, DocumentPage, DocumentText, UploadResponse
from chunkyard.documents.stored import load_document, stored_file
from chunkyard.kit.deps import (
    ChunkingLimiterDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    transaction,
)
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from chunkyard.limits.early import QuotaCheckedRoute
from chunkyard.limits.quota import reserve_storage

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)

_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "Content already in the collection"},
    413: ERROR_RESPONSES[400] | {"description": "A file is over the per-file limit"},
    415: ERROR_RESPONSES[400] | {"description": "A file is not a supported document"},
    429: ERROR_RESPONSES[400] | {
        "description": "The upload would pass the user's storage quota"
    },
}


async def upload_documents(
    collection_id: str,
    files: Annotated[list[UploadFile], File(description="One or more files.")],
    user: CurrentUser,
    settings: SettingsDep,
    factory: SessionFactoryDep,
) -> UploadResponse:
    """Upload files as pending documents; all or nothing (any refused file stores none).
    The files count against the user's storage quota
    (`CHUNKYARD_MAX_STORAGE_BYTES_PER_USER`): an upload that would pass it is refused with 429
    (before its body is read when its length alone is over)."""
    # The collection is checked first (a 404 costs no copying), the files are spooled and
    # hashed with no transaction open, and only then is the write transaction begun.
    async with transaction(factory, write=False) as session:
        await service.owned_collection(session, user, collection_id)
    async with service.spooled_uploads(
        [(f.filename, f.file) for f in files],
        data_dir=settings.data_dir, limit=settings.max_upload_bytes,
    ) as spooled, transaction(factory, write=True) as session:
        # Under the user's lock until this transaction commits: concurrent uploads take turns.
        await reserve_storage(session, user.id, sum(item.size for _, item in spooled),
                              settings.max_storage_bytes_per_user)
        documents = await service.store_uploads(
            session, user, collection_id, spooled, data_dir=settings.data_dir)
        return UploadResponse(items=[service.document_out(d) for d in documents])


router.add_api_route(
    "/collections/{collection_id}/documents",
    upload_documents,
    methods=["POST"],
    response_model=UploadResponse,
    status_code=status.HTTP_201_CREATED,
    responses=_UPLOAD_ERRORS,
    route_class_override=QuotaCheckedRoute,
)


@router.get("/collections/{collection_id}/documents", response_model=DocumentPage)
async def list_documents(
    collection_id: str,
    session: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> DocumentPage:
    rows, next_cursor = await service.list_documents(
        session, user, collection_id, limit=limit, cursor=cursor
    )
    return DocumentPage(items=[service.document_out(d) for d in rows], next_cursor=next_cursor)


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(document_id: str, session: SessionDep, user: CurrentUser) -> DocumentOut:
    return service.document_out(await service.get_document(session, user, document_id))


_TEXT_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "The document's stored file cannot be read"},
    413: ERROR_RESPONSES[400] | {"description": "The text is longer than a preview takes"},
}


@router.get("/documents/{document_id}/text", response_model=DocumentText,
            responses=_TEXT_ERRORS)
async def get_document_text(
    document_id: str,
    user: CurrentUser,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    limiter: ChunkingLimiterDep,
) -> DocumentText:
    """The document's extracted text, exactly as a chunking operation extracts it: the offsets
    of its chunks (stored or previewed) index this text. As long as a preview takes at most."""
    # A short session of its own: no database connection is held while the file is read.
    async with factory() as session:
        source = await stored_file(session, user, document_id, settings.data_dir,
                                   service.MAX_PREVIEW_CHARS,
                                   settings.max_extracted_chars)
    document = await anyio.to_thread.run_sync(load_document, source, limiter=limiter)
    return DocumentText(document_id=source.id, filename=source.filename, kind=document.kind,
                        text=document.text, size_chars=len(document.text))


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    document_id: str,
    factory: SessionFactoryDep,
    background: BackgroundTasks,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> Response:
    """Delete a document and its chunks; its file goes when no other document shares it."""
    sha256 = await service.delete_document(session, user, document_id)
    # Background tasks run after the session dependency has committed the delete.
    background.add_task(
        service.remove_blob_if_unreferenced,
        factory, settings.data_dir, sha256,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)

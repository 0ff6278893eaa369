"""Routes: upload documents into a collection, list them, read one (and its extracted text),
delete one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Query,
    Response,
    UploadFile,
    status,
)
from python_multipart.multipart import parse_options_header

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.documents import service
from chunkyard.documents.provenance import describe_documents
from chunkyard.documents.schemas import DocumentOut, DocumentPage, DocumentText, UploadResponse
from chunkyard.documents.stored import load_text_window, stored_file
from chunkyard.kit.deps import (
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    app_service,
    transaction,
)
from chunkyard.kit.errors import ERROR_RESPONSES, Invalid
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from chunkyard.limits.early import QuotaCheckedRoute
from chunkyard.limits.quota import reserve_storage

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)
T = TypeVar("T")


class ChunkingProcesses(Protocol):
    """What the text view needs of the app's chunking pool (`chunking.pool.ChunkingPool`)."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T: ...


ChunkingProcessesDep = Annotated[ChunkingProcesses, Depends(app_service("chunking_pool"))]

_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "Content already in the collection"},
    413: ERROR_RESPONSES[400] | {"description": "A file is over the per-file limit"},
    415: ERROR_RESPONSES[400] | {"description": "A file is not a supported document"},
    429: ERROR_RESPONSES[400] | {
        "description": "The upload would pass the user's storage quota"
    },
}


def sent_filename(upload: UploadFile) -> bytes | str | None:
    """The file name as the client sent it: the bytes of its Content-Disposition `filename`.

    Starlette decodes a name in the request's charset (UTF-8 unless the Content-Type says
    otherwise) and, when that fails, as latin-1, so b"caf\\xe9" would arrive as the same
    "café" as a UTF-8 name; `clean_filename` judges the bytes instead. The header is parsed
    as Starlette parses it; without one, Starlette's name is all there is."""
    disposition = next((value for key, value in reversed(upload.headers.raw)
                        if key == b"content-disposition"), None)
    if disposition is not None:
        raw = parse_options_header(disposition)[1].get(b"filename")
        if raw is not None:
            return raw
    return upload.filename


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
        [(sent_filename(f), f.file) for f in files],
        data_dir=settings.data_dir, limit=settings.max_upload_bytes,
    ) as spooled, transaction(factory, write=True) as session:
        # Under the user's lock until this transaction commits: concurrent uploads take turns.
        await reserve_storage(session, user.id, sum(item.size for _, item in spooled),
                              settings.max_storage_bytes_per_user)
        documents = await service.store_uploads(
            session, user, collection_id, spooled, data_dir=settings.data_dir)
        return UploadResponse(items=await describe_documents(session, documents))


router.add_api_route(
    "/collections/{collection_id}/documents",
    upload_documents,
    methods=["POST"],
    response_model=UploadResponse,
    status_code=status.HTTP_201_CREATED,
    responses=_UPLOAD_ERRORS,
    route_class_override=QuotaCheckedRoute,
)


_REPLACE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "Another document of the collection has it"},
    413: ERROR_RESPONSES[400] | {"description": "The file is over the per-file limit"},
    415: ERROR_RESPONSES[400] | {"description": "The file is not a supported document"},
    429: ERROR_RESPONSES[400] | {
        "description": "The new file would pass the user's storage quota"
    },
}


@router.put("/documents/{document_id}/file", response_model=DocumentOut,
            responses=_REPLACE_ERRORS)
async def replace_document_file(
    document_id: str,
    file: Annotated[UploadFile, File(description="The document's new file.")],
    user: CurrentUser,
    settings: SettingsDep,
    factory: SessionFactoryDep,
    background: BackgroundTasks,
) -> DocumentOut:
    """Replace a document's file with a new version: the document keeps its id and its stored
    chunks, which are then stale (`stale: true`) until an operation re-chunks it; that run (and
    `POST /collections/{id}/diff` before it) keeps the ids of the chunks whose text did not
    change. Checked as an upload is (size, type, name, content already in the collection),
    and the size it adds counts against the storage quota."""
    async with transaction(factory, write=False) as session:
        await service.get_document(session, user, document_id)  # a 404 costs no copying
    async with service.spooled_uploads(
        [(sent_filename(file), file.file)],
        data_dir=settings.data_dir, limit=settings.max_upload_bytes,
    ) as spooled, transaction(factory, write=True) as session:
        ((name, item),) = spooled
        current = await service.get_document(session, user, document_id)
        # Under the user's lock until this transaction commits, as an upload.
        await reserve_storage(session, user.id, max(0, item.size - current.size_bytes),
                              settings.max_storage_bytes_per_user)
        document, old_sha256 = await service.replace_file(
            session, user, document_id, name, item, data_dir=settings.data_dir)
        (out,) = await describe_documents(session, [document])
    if old_sha256 != out.content_sha256:
        # Background tasks run after the response, once the replacement is committed.
        background.add_task(
            service.remove_blob_if_unreferenced, factory, settings.data_dir, old_sha256)
    return out


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
    return DocumentPage(items=await describe_documents(session, rows), next_cursor=next_cursor)


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(document_id: str, session: SessionDep, user: CurrentUser) -> DocumentOut:
    (out,) = await describe_documents(
        session, [await service.get_document(session, user, document_id)])
    return out


_TEXT_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "The document's stored file cannot be read"},
    413: ERROR_RESPONSES[400] | {
        "description": "The window (or, with no window, the whole text) is longer than one "
        "answer holds"
    },
}
_LAST = 2**31 - 1


@router.get("/documents/{document_id}/text", response_model=DocumentText,
            responses=_TEXT_ERRORS)
async def get_document_text(
    document_id: str,
    user: CurrentUser,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    pool: ChunkingProcessesDep,
    start: Annotated[int | None, Query(
        ge=0, le=_LAST,
        description="The window's first character (code points, as chunk offsets); default 0.",
    )] = None,
    end: Annotated[int | None, Query(
        ge=0, le=_LAST,
        description="Just past the window's last character (past the text's end: the end). "
        "Default: the end, or as much after `start` as one answer holds.",
    )] = None,
) -> DocumentText:
    """The document's extracted text, exactly as a chunking operation extracts it: the offsets
    of its chunks (stored or previewed) index this text. A window `[start, end)` of it for a
    text of any size; one answer holds at most 2,000,000 characters (a longer text asked for
    whole is a 413 saying to ask for a window)."""
    if start is not None and end is not None and end < start:
        raise Invalid(f"end ({end}) is before start ({start}); ask for a window with start "
                      "at most end", code="invalid_window")
    # A short session of its own: no database connection is held while the file is read.
    async with factory() as session:
        source = await stored_file(session, user, document_id, settings.data_dir, None,
                                   settings.max_extracted_chars)
    # Extracted in the capped chunking processes, as a preview is: a file that inflates (a
    # DOCX, an HTML page) costs this process nothing, one that needs more than the cap is a
    # 413, and only the window comes back.
    window = await pool.run(load_text_window, source, start, end, service.MAX_PREVIEW_CHARS)
    return DocumentText(document_id=source.id, filename=source.filename, kind=window.kind,
                        text=window.text, size_chars=window.size_chars, start=window.start,
                        end=window.end)


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

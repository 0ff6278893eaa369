"""Routes: collections (CRUD, keyset-paginated lists, owner-only access).

(Chunking without storage, preview and compare, is the `chunking` domain's.)
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.collections import service
from chunkyard.collections.schemas import (
    CollectionCreate,
    CollectionOut,
    CollectionPage,
    CollectionUpdate,
)
from chunkyard.kit.deps import SessionDep
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery

router = APIRouter(prefix="/collections", tags=["collections"], responses=ERROR_RESPONSES)


# -- collections ------------------------------------------------------------------------------


@router.get("", response_model=CollectionPage)
async def list_collections(
    session: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> CollectionPage:
    items, next_cursor = await service.list_collections(
        session, user, limit=limit, cursor=cursor
    )
    return CollectionPage(items=items, next_cursor=next_cursor)


@router.post("", response_model=CollectionOut, status_code=status.HTTP_201_CREATED,
             responses={409: ERROR_RESPONSES[400] | {"description": "Name already used"}})
async def create_collection(
    body: CollectionCreate, session: SessionDep, user: CurrentUser
) -> CollectionOut:
    collection = await service.create_collection(session, user, body.name, body.config)
    return await service.describe(session, collection)


@router.get("/{collection_id}", response_model=CollectionOut)
async def get_collection(
    collection_id: str, session: SessionDep, user: CurrentUser
) -> CollectionOut:
    collection = await service.get_collection(session, user, collection_id)
    return await service.describe(session, collection)


@router.patch("/{collection_id}", response_model=CollectionOut,
              responses={409: ERROR_RESPONSES[400] | {"description": "Name already used"}})
async def update_collection(
    collection_id: str, body: CollectionUpdate, session: SessionDep, user: CurrentUser
) -> CollectionOut:
    collection = await service.update_collection(
        session, user, collection_id, name=body.name, config=body.config
    )
    return await service.describe(session, collection)


@router.delete("/{collection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_collection(collection_id: str, session: SessionDep, user: CurrentUser) -> Response:
    await service.delete_collection(session, user, collection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- chunking without storage -------------------------------------------------------------------

"""Resource ids in URLs: a malformed id is simply not found, never a 422 or a 500; and the one
read of a row by id for its owner, where someone else's row is not found either."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.kit.errors import NotFound
from chunkyard.storage.models import Base

M = TypeVar("M", bound=Base)


def parse_id(raw: str) -> uuid.UUID | None:
    """The UUID in `raw`, or None when it is not one (the caller answers 404)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def owned_row(
    session: AsyncSession,
    model: type[M],
    raw_id: str,
    owner_id: uuid.UUID,
    *,
    what: str,
    via: Any = None,
    fresh: bool = False,
) -> M:
    """The `model` row with the id `raw_id` if `owner_id` owns it: by its own `owner_id`, or,
    given `via` (a relationship such as `Document.collection`), by the `owner_id` of the row
    it leads to (one join). A missing row, a malformed id and someone else's row are the same
    404 `<what>_not_found`, naming only the id that was sent. `fresh`: re-read the row even if
    the session holds it (for rows that jobs change meanwhile)."""
    parsed = parse_id(raw_id)
    found: M | None = None
    if parsed is not None:
        entity: Any = model  # a model with an `id` (and, without `via`, an `owner_id`)
        stmt = select(model).where(entity.id == parsed)
        owner = entity
        if via is not None:
            stmt = stmt.join(via)
            owner = via.property.mapper.class_
        stmt = stmt.where(owner.owner_id == owner_id)
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        found = await session.scalar(stmt)
    if found is None:
        raise NotFound(f"{what} {raw_id} not found", code=f"{what}_not_found")
    return found

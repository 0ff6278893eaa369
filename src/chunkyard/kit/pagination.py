"""The `limit`/`cursor` query of `{items, next_cursor}` listings.

The pages themselves, and their opaque cursors, come from `storage.repositories.pages`
(`Keyset`), which every listing (the chunk listings of the storage layer too) reads through;
a cursor no listing issued is a 400 `invalid_cursor` (`InvalidCursor`, rendered by
`kit.errors`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from chunkyard.storage.repositories import MAX_PAGE_SIZE

DEFAULT_LIMIT = 100
MAX_LIMIT = MAX_PAGE_SIZE

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1..{MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; absent: the first."),
]

"""Keyset pages: the one cursor form and the one page query behind every listing.

A page is `WHERE (key) > (the cursor's key) ORDER BY key LIMIT n + 1` (the extra row says
whether there is a next page), so every page costs what the first does: no OFFSET. A cursor is
opaque to clients: the unpadded URL-safe base64 of the JSON `[kind, *key]` (`kind` names the
listing, so one listing's cursor is refused by another; a UUID travels as its hex). Clients
hold cursors between requests, so this form stays.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


class StorageError(Exception):
    """Base of the storage layer's domain errors."""


class InvalidPageRequest(StorageError, ValueError):
    """A bad `limit` or a cursor that this listing did not issue; `code` is the API's."""

    code: ClassVar[str] = "invalid_page"


class InvalidCursor(InvalidPageRequest):
    """A cursor that this listing did not issue (malformed, or another listing's)."""

    code = "invalid_cursor"

    def __init__(self, detail: str = "cursor: not a cursor this listing issued") -> None:
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, kind: str, size: int) -> list[Any]:
    """The `size` values of a cursor made by `encode_cursor(kind, ...)`; InvalidCursor for any
    other."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None
    if not isinstance(values, list) or len(values) != size + 1 or values[0] != kind:
        raise InvalidCursor()
    return values[1:]


def _to_cursor(value: Any) -> Any:
    return value.hex if isinstance(value, uuid.UUID) else value


def _from_cursor(value: Any, python_type: type) -> Any:
    if python_type is uuid.UUID and isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    elif python_type is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidCursor()


@dataclass(frozen=True)
class Keyset:
    """A listing's order: its cursor kind and its key columns (each a UUID or an integer,
    and together unique within the listing, behind one index)."""

    kind: str
    columns: tuple[InstrumentedAttribute[Any], ...]

    def after(self, cursor: str) -> tuple[Any, ...]:
        """The key a cursor of this listing carries; InvalidCursor for any other cursor."""
        values = decode_cursor(cursor, self.kind, len(self.columns))
        return tuple(
            _from_cursor(value, column.type.python_type)
            for value, column in zip(values, self.columns, strict=True)
        )

    def cursor_after(self, row: Any) -> str:
        return encode_cursor(self.kind, *(_to_cursor(getattr(row, c.key)) for c in self.columns))

    def statement(
        self, base: Select[T], *, after: Sequence[Any] | None = None, limit: int
    ) -> Select[T]:
        """`base` from just after the key `after` (None: from the start), in key order."""
        if after is not None:
            if len(self.columns) == 1:
                base = base.where(self.columns[0] > after[0])
            else:
                # A row-value comparison: one index range condition on the whole key.
                base = base.where(tuple_(*self.columns) > tuple(after))
        return base.order_by(*self.columns).limit(limit)

    async def page(
        self, session: AsyncSession, base: Select[T], *, limit: int, cursor: str | None
    ) -> Page[T]:
        """The `limit` rows of `base` after the cursor's key (a keyset read of limit + 1)."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidPageRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        after = self.after(cursor) if cursor is not None else None
        stmt = self.statement(base, after=after, limit=limit + 1)
        items = list((await session.scalars(stmt)).all())
        if len(items) <= limit:
            return Page(items=items, next_cursor=None)
        items = items[:limit]
        return Page(items=items, next_cursor=self.cursor_after(items[-1]))

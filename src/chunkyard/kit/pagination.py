"""Opaque keyset cursors for `{items, next_cursor}` listings, and the `limit`/`cursor` query."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query

from chunkyard.kit.errors import BadRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1..{MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; absent: the first."),
]


def encode_cursor(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def invalid_cursor() -> BadRequest:
    return BadRequest("cursor: not a cursor this listing issued", code="invalid_cursor")


def decode_cursor(cursor: str, kind: str, size: int) -> list[Any]:
    """The values in a cursor made by `encode_cursor(kind, ...)`; BadRequest for any other."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size + 1 or values[0] != kind:
        raise invalid_cursor()
    return values[1:]

"""Resource ids in URLs: a malformed id is simply not found, never a 422 or a 500."""

from __future__ import annotations

import uuid


def parse_id(raw: str) -> uuid.UUID | None:
    """The UUID in `raw`, or None when it is not one (the caller answers 404)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None

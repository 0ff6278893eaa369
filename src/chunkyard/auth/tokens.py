"""Signed, expiring bearer tokens: JWTs (HS256) signed with the service secret (auth/secret.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from chunkyard.auth.secret import signing_key
from chunkyard.settings import Settings

ALGORITHM = "HS256"
ACCESS_TOKEN_TTL = timedelta(hours=12)
TOKEN_TYPE = "access"
ISSUER = "chunkyard"


def create_access_token(
    settings: Settings, user_id: uuid.UUID, *, ttl: timedelta = ACCESS_TOKEN_TTL
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "typ": TOKEN_TYPE,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def read_access_token(settings: Settings, token: str) -> uuid.UUID | None:
    """The user id of a valid, unexpired token of ours; None for anything else."""
    claims = read_access_claims(settings, token)
    return None if claims is None else claims[0]


def read_access_claims(settings: Settings, token: str) -> tuple[uuid.UUID, int] | None:
    """The user id and expiry (Unix time) of a valid, unexpired token of ours; None for
    anything else."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != TOKEN_TYPE:
        return None
    try:
        return uuid.UUID(str(claims["sub"])), int(claims["exp"])
    except (ValueError, TypeError):
        return None

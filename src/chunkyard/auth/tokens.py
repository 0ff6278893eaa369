"""Signed, expiring bearer tokens: JWTs (HS256) signed with the service secret (auth/secret.py).

Each token names its session (`sid`, a row of `auth_sessions`): a valid signature is not
enough, the session must also be live (auth/service.py `resolve`), so logging out, changing
the password or disabling the user ends it before it expires. A token without `sid` is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from chunkyard.auth.secret import signing_key
from chunkyard.settings import Settings

ALGORITHM = "HS256"
ACCESS_TOKEN_TTL = timedelta(hours=12)
TOKEN_TYPE = "access"
ISSUER = "chunkyard"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: int  # Unix time


def create_access_token(
    settings: Settings,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    *,
    ttl: timedelta = ACCESS_TOKEN_TTL,
    now: datetime | None = None,
) -> str:
    now = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": TOKEN_TYPE,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def read_access_claims(settings: Settings, token: str) -> AccessClaims | None:
    """The user, session and expiry of a validly signed, unexpired token of ours; None for
    anything else (whether the session is still live is the caller's to check)."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "sid", "exp", "iat", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != TOKEN_TYPE:
        return None
    try:
        return AccessClaims(
            uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"])), int(claims["exp"])
        )
    except (ValueError, TypeError):
        return None

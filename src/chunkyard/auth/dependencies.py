"""The dependency that says who a request acts for: a bearer token, an API key or the cookie.

`Authorization: Bearer <token or API key>` wins over the session cookie. The lookup uses a
short session of its own, so a long request (a big preview) does not hold a database
connection just for having been authenticated, and what it finds is kept for a few seconds
in the app's `CredentialCache` (`auth.cache`: a revocation takes effect within its TTL).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.auth.cache import CredentialCache
from chunkyard.auth.service import Principal, Resolved, resolve
from chunkyard.kit.deps import UNSAFE_METHODS
from chunkyard.kit.errors import Unauthorized
from chunkyard.settings import Settings

SESSION_COOKIE = "chunkyard_session"

bearer_scheme = HTTPBearer(auto_error=False, description="An access token or an API key")
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The web UI's session cookie"
)


def _same_origin(request: Request) -> bool:
    """For cookie-authenticated writes: a browser's Origin, when sent, must be our own."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


async def current_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    settings: Settings = request.app.state.settings
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    if bearer is not None:
        credential, via = bearer.credentials, "token"
    elif request.headers.get("authorization"):
        raise Unauthorized("the Authorization header must be 'Bearer <token or API key>'")
    elif cookie:
        if request.method in UNSAFE_METHODS and not _same_origin(request):
            raise Unauthorized("cross-site request refused", code="cross_site")
        credential, via = cookie, "cookie"
    else:
        raise Unauthorized()

    async def lookup() -> Resolved | None:
        async with factory() as session:
            return await resolve(session, settings, credential, via=via)

    cache: CredentialCache | None = getattr(request.app.state, "credential_cache", None)
    if cache is not None:
        principal = await cache.resolve(credential, via, lookup)
    else:
        resolved = await lookup()
        principal = None if resolved is None else resolved.principal
    if principal is None:
        raise Unauthorized("the credentials are not valid or have expired", code="invalid_token")
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]

"""The dependency that says who a request acts for: a bearer token, an API key or the cookie.

`Authorization: Bearer <token or API key>` wins over the session cookie. The lookup uses a
short session of its own, so a long request (a big preview) does not hold a database
connection just for having been authenticated, and what it finds is kept for a few seconds
in the app's `CredentialCache` (`auth.cache`: a revocation takes effect within its TTL).

A write authenticated by the cookie must come from this origin: a browser's `Origin` header,
when it sends one, must name this scheme, host and port exactly (`same_origin`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.auth.cache import CredentialCache
from chunkyard.auth.service import Principal, Resolved, resolve
from chunkyard.auth.usage import KeyUsage
from chunkyard.kit.deps import UNSAFE_METHODS
from chunkyard.kit.errors import Unauthorized
from chunkyard.settings import Settings

SESSION_COOKIE = "chunkyard_session"

bearer_scheme = HTTPBearer(auto_error=False, description="An access token or an API key")
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The web UI's session cookie"
)


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_WEB_SCHEME = {"ws": "http", "wss": "https"}


def _origin_parts(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port filled in; None when malformed."""
    scheme = _WEB_SCHEME.get(scheme.lower(), scheme.lower())
    try:
        parsed = urlsplit(f"{scheme}://{netloc}")
        port = parsed.port
    except ValueError:
        return None
    if not parsed.hostname or parsed.path or parsed.query or parsed.username:
        return None
    return scheme, parsed.hostname.lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def same_origin(origin: str | None, scheme: str, host: str) -> bool:
    """Whether a browser's `Origin` is this server (`scheme`, `host` header); no Origin at
    all is a request no browser made cross-site. `null` and anything malformed are not."""
    if origin is None:
        return True
    origin_scheme, sep, origin_netloc = origin.strip().partition("://")
    if not sep:
        return False
    theirs = _origin_parts(origin_scheme, origin_netloc.rstrip("/"))
    ours = _origin_parts(scheme, host)
    return theirs is not None and theirs == ours


def _same_origin(request: Request) -> bool:
    return same_origin(
        request.headers.get("origin"), request.url.scheme, request.headers.get("host", "")
    )


def check_cookie_origin(request: Request) -> None:
    """Refuse a cookie-authenticated write from another origin (CSRF)."""
    if request.method in UNSAFE_METHODS and not _same_origin(request):
        raise Unauthorized("cross-site request refused", code="cross_site")


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
        check_cookie_origin(request)
        credential, via = cookie, "cookie"
    else:
        raise Unauthorized()

    async def lookup() -> Resolved | None:
        async with factory() as session:
            return await resolve(session, settings, credential, via=via)

    cache = credential_cache(request)
    if cache is not None:
        principal = await cache.resolve(credential, via, lookup)
    else:
        resolved = await lookup()
        principal = None if resolved is None else resolved.principal
    if principal is None:
        raise Unauthorized("the credentials are not valid or have expired", code="invalid_token")
    if principal.api_key_id is not None:
        key_usage(request).touch(principal.api_key_id, factory)
    request.state.principal = principal
    return principal


def credential_cache(request: Request) -> CredentialCache | None:
    cache: CredentialCache | None = getattr(request.app.state, "credential_cache", None)
    return cache


def key_usage(request: Request) -> KeyUsage:
    """The app's record of API key use (made on first use)."""
    usage: KeyUsage | None = getattr(request.app.state, "key_usage", None)
    if usage is None:
        usage = request.app.state.key_usage = KeyUsage()
    return usage


CurrentUser = Annotated[Principal, Depends(current_user)]

"""Auth routes: log in (token + session cookie), log out, change the password, who am I; and
the caller's API keys (`/api-keys`: list, revoke)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from chunkyard.auth import service, tokens
from chunkyard.auth.dependencies import (
    SESSION_COOKIE,
    CurrentUser,
    check_cookie_origin,
    credential_cache,
    key_usage,
)
from chunkyard.auth.passwords import PasswordPoolBusy
from chunkyard.auth.schemas import (
    ApiKeyList,
    ApiKeyOut,
    LoginRequest,
    PasswordChange,
    TokenResponse,
    UserOut,
)
from chunkyard.auth.service import Principal
from chunkyard.auth.throttle import (
    LoginThrottle,
    MemoryLoginThrottle,
    Policy,
    RedisLoginThrottle,
    throttle_keys,
)
from chunkyard.kit.deps import SessionDep, SessionFactoryDep, SettingsDep, transaction
from chunkyard.kit.errors import ERROR_RESPONSES, NotFound, TooManyRequests, Unauthorized
from chunkyard.kit.ids import parse_id
from chunkyard.settings import Settings

auth_router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)
keys_router = APIRouter(prefix="/api-keys", tags=["api-keys"], responses=ERROR_RESPONSES)


def _secure_cookie(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.environment == "production"


def login_throttle(request: Request) -> LoginThrottle:
    """The app's login throttle: in Redis when it is configured, else in process."""
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        services = getattr(request.app.state, "services", None)
        redis = getattr(services, "redis", None)
        settings: Settings = request.app.state.settings
        policy = Policy.from_settings(settings)
        throttle = (
            RedisLoginThrottle(redis, f"{settings.queue}:login", policy)
            if redis is not None
            else MemoryLoginThrottle(policy)
        )
        request.app.state.login_throttle = throttle
    return throttle


def _too_many(detail: str, code: str, retry_after: float) -> TooManyRequests:
    seconds = max(1, int(retry_after + 0.999))
    return TooManyRequests(detail, code=code, headers={"Retry-After": str(seconds)})


def _forget_cached(request: Request, match: Callable[[Principal], bool]) -> None:
    """Drop this process's cached credentials that `match` (the others' expire in 1 s)."""
    cache = credential_cache(request)
    if cache is not None:
        cache.forget(match)


@auth_router.post(
    "/login",
    response_model=TokenResponse,
    responses={429: {"description": "Too many failed logins: wait `Retry-After` seconds."}},
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    throttle: Annotated[LoginThrottle, Depends(login_throttle)],
) -> TokenResponse:
    """Exchange a username and password for a bearer token and a session cookie.

    After 5 failed attempts for one account, or from one client address, the next ones are
    refused (429, `Retry-After`) for a time that doubles with each further failure."""
    keys = throttle_keys(body.username, request.client.host if request.client else None)
    wait = await throttle.attempt(keys)
    if wait > 0:
        raise _too_many(
            f"too many failed logins for this account or from this address; try again in "
            f"{max(1, int(wait + 0.999))} s",
            "too_many_logins", wait,
        )
    try:
        async with factory() as session:
            found = await service.find_login_user(session, body.username)
        user = await service.authenticate(found, body.password)  # the connection is back
    except PasswordPoolBusy:
        raise _too_many("too many logins at once; try again in a moment", "login_busy",
                        1.0) from None
    if user is None:
        await throttle.failed(keys)
        # One answer for an unknown user and a wrong password: no user enumeration.
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    await throttle.succeeded(keys)
    ttl = tokens.ACCESS_TOKEN_TTL
    async with transaction(factory, write=True) as session:
        token = await service.start_session(session, settings, user.id, ttl=ttl)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure_cookie(request, settings),
    )
    return TokenResponse(access_token=token, expires_in=int(ttl.total_seconds()))


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, settings: SettingsDep, factory: SessionFactoryDep) -> Response:
    """End the session the request comes with (its token and cookie are refused from now
    on, in every API process within 2 s) and clear the cookie. An API key is not revoked
    here (`DELETE /api-keys/{id}`); no or an invalid credential just clears the cookie."""
    credential = None
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            credential = value.strip()
    else:
        credential = request.cookies.get(SESSION_COOKIE)
        if credential:
            check_cookie_origin(request)
    claims = tokens.read_access_claims(settings, credential) if credential else None
    if claims is not None:
        async with transaction(factory, write=True) as session:
            await service.revoke_session(session, claims.session_id)
        _forget_cached(request, lambda p: p.session_id == claims.session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure_cookie(request, settings),
    )
    return response


@auth_router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChange, request: Request, user: CurrentUser, session: SessionDep
) -> Response:
    """Change the caller's password, and end every other session of theirs (the one this
    request comes with stays; API keys stay too)."""
    try:
        await service.change_password(session, user, body.current_password, body.new_password)
    except PasswordPoolBusy:
        raise _too_many("too many password checks at once; try again in a moment",
                        "login_busy", 1.0) from None
    await session.commit()

    def other_session(p: Principal) -> bool:
        return p.id == user.id and p.session_id is not None and p.session_id != user.session_id

    _forget_cached(request, other_session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, is_admin=user.is_admin, created_at=user.created_at
    )


def _key_out(key: object) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key, from_attributes=True)


@keys_router.get("", response_model=ApiKeyList)
async def list_api_keys(
    request: Request, user: CurrentUser, factory: SessionFactoryDep
) -> ApiKeyList:
    """The caller's API keys that are not revoked, oldest first (create them with
    `chunkyard api-keys create`)."""
    await key_usage(request).flush()
    async with factory() as session:
        keys = await service.list_api_keys(session, user.id)
    return ApiKeyList(items=[_key_out(k) for k in keys])


@keys_router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: str, request: Request, user: CurrentUser, session: SessionDep
) -> Response:
    """Revoke one of the caller's keys: it is refused from now on (in every API process
    within 2 s). Another user's key, or one already revoked, is 404."""
    parsed = parse_id(key_id)
    key = None if parsed is None else await service.revoke_api_key_by_id(
        session, parsed, user.id
    )
    if key is None:
        raise NotFound("no such API key", code="api_key_not_found")
    await session.commit()
    _forget_cached(request, lambda p: p.api_key_id == parsed)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# The routers are included in the app as one (the routes above are copied in).
router = APIRouter()
router.include_router(auth_router)
router.include_router(keys_router)

"""Auth routes: log in (token + session cookie), log out, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from chunkyard.auth import tokens
from chunkyard.auth.dependencies import SESSION_COOKIE, CurrentUser
from chunkyard.auth.schemas import LoginRequest, TokenResponse, UserOut
from chunkyard.auth.service import authenticate
from chunkyard.kit.deps import ReadSessionDep, SettingsDep
from chunkyard.kit.errors import ERROR_RESPONSES, Unauthorized
from chunkyard.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


def _secure_cookie(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.environment == "production"


@router.post("/login", response_model=TokenResponse)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: ReadSessionDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Exchange a username and password for a bearer token and a session cookie."""
    user = await authenticate(session, body.username, body.password)
    if user is None:
        # One answer for an unknown user and a wrong password: no user enumeration.
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    ttl = tokens.ACCESS_TOKEN_TTL
    token = tokens.create_access_token(settings, user.id, ttl=ttl)
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


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, settings: SettingsDep) -> Response:
    """Clear the session cookie (bearer tokens stay valid until they expire)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure_cookie(request, settings),
    )
    return response


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, is_admin=user.is_admin, created_at=user.created_at
    )

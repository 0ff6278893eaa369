"""Login, logout and the session cookie; bearer tokens and API keys; 401 on every route."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from api_helpers import (
    API,
    PASSWORD,
    Api,
    api_key_headers,
    assert_error,
    in_db,
    login,
    make_user,
    new_username,
    session_token,
)
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth import tokens
from chunkyard.auth.cache import CREDENTIAL_TTL_SECONDS
from chunkyard.auth.secret import signing_key
from chunkyard.auth.service import (
    cli_create_api_key,
    cli_create_user,
    get_user_by_name,
    revoke_api_key,
)
from chunkyard.kit.errors import Conflict, Invalid, NotFound
from chunkyard.storage.models import User


def _cookie_attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in set_cookie.split(";")]
    attributes = {}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        attributes[name.lower()] = value
    return attributes


def test_login_answers_a_token_and_sets_an_httponly_lax_cookie(api: Api) -> None:
    username = make_user(api)
    response = api.client.post(
        f"{API}/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("chunkyard_session=")
    attributes = _cookie_attributes(set_cookie)
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert "secure" not in attributes  # plain http in development

    # The cookie alone authenticates (the client's jar sends it back).
    me = api.client.get(f"{API}/auth/me")
    assert me.status_code == 200 and me.json()["username"] == username
    # So does the token alone.
    api.client.cookies.clear()
    me = api.client.get(
        f"{API}/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["username"] == username
    assert me.json()["is_admin"] is False


def test_login_over_https_makes_the_cookie_secure(api: Api) -> None:
    username = make_user(api)
    response = api.client.post(
        f"https://testserver{API}/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "secure" in _cookie_attributes(response.headers["set-cookie"])


def test_logout_clears_the_cookie(api: Api) -> None:
    username = make_user(api)
    api.client.post(f"{API}/auth/login", json={"username": username, "password": PASSWORD})
    assert api.client.get(f"{API}/auth/me").status_code == 200
    response = api.client.post(f"{API}/auth/logout")
    assert response.status_code == 204
    attributes = _cookie_attributes(response.headers["set-cookie"])
    assert attributes["max-age"] == "0"
    assert "httponly" in attributes
    assert_error(api.client.get(f"{API}/auth/me"), 401)


def test_login_failure_is_the_same_for_an_unknown_user_and_a_wrong_password(api: Api) -> None:
    username = make_user(api)

    def attempt(name: str, password: str) -> tuple[int, dict[str, str], float]:
        started = time.perf_counter()
        response = api.client.post(
            f"{API}/auth/login", json={"username": name, "password": password}
        )
        return response.status_code, response.json(), time.perf_counter() - started

    # Two of each: a fifth failure from one address would lock it (auth/throttle.py).
    wrong = [attempt(username, "not the password") for _ in range(2)]
    unknown = [attempt(new_username("ghost"), "not the password") for _ in range(2)]
    for status, body, _ in wrong + unknown:
        assert status == 401
        assert body == wrong[0][1]
    assert wrong[0][1]["error"] == "invalid_credentials"
    assert "set-cookie" not in api.client.cookies
    # An unknown user pays for a password verification too (without it: ~1% of the time).
    assert statistics.median(t for *_, t in unknown) > 0.5 * statistics.median(
        t for *_, t in wrong
    )


@pytest.mark.parametrize("body", [
    {}, {"username": "x"}, {"username": "", "password": "y"},
    # PostgreSQL text cannot hold NUL: found by schemathesis as a 500.
    {"username": "a\u0000", "password": "x"}, {"username": "a\nb", "password": "x"},
])
def test_login_with_a_malformed_body_is_a_validation_error(api: Api, body: dict[str, str]) -> None:
    assert_error(api.client.post(f"{API}/auth/login", json=body), 422, "validation_error")


def test_api_keys_authenticate_until_revoked(api: Api) -> None:
    headers = api_key_headers(api)
    me = api.client.get(f"{API}/auth/me", headers=headers)
    assert me.status_code == 200
    user_id = uuid.UUID(me.json()["id"])
    key = headers["Authorization"].removeprefix("Bearer ")
    prefix = key.split("_")[1]

    async def revoke(session: AsyncSession) -> bool:
        return await revoke_api_key(session, user_id, prefix)

    assert in_db(api.settings, revoke) is True
    # Resolved credentials are cached for a few seconds (chunkyard.auth.cache): the revoked
    # key is refused once its entry is gone, within the cache's TTL.
    deadline = time.monotonic() + CREDENTIAL_TTL_SECONDS + 1.0
    while (response := api.client.get(f"{API}/auth/me", headers=headers)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key still works after the cache's TTL"
        time.sleep(0.1)
    assert_error(response, 401, "invalid_token")
    assert in_db(api.settings, revoke) is False  # already revoked


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cky_0123456789ab_" + "A" * 43,  # well-formed key that does not exist
        "Bearer cky_nonsense",
        "Bearer not.a.token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_bad_credentials_answer_401(api: Api, authorization: str) -> None:
    body = assert_error(
        api.client.get(f"{API}/auth/me", headers={"Authorization": authorization}), 401
    )
    assert body["error"] in ("unauthorized", "invalid_token")


def test_a_tampered_key_with_a_real_prefix_is_refused(api: Api) -> None:
    headers = api_key_headers(api)
    key = headers["Authorization"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert_error(api.client.get(f"{API}/auth/me", headers={"Authorization": tampered}), 401)


async def other_user(session: AsyncSession) -> uuid.UUID:
    user = User(username=new_username(), password_hash="x")
    session.add(user)
    await session.flush()
    return user.id


def test_expired_and_foreign_tokens_are_refused(api: Api) -> None:
    username = make_user(api)

    async def user_id(session: AsyncSession) -> uuid.UUID:
        user = await get_user_by_name(session, username)
        assert user is not None
        return user.id

    uid = in_db(api.settings, user_id)
    good = session_token(api, uid)
    ok = api.client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200
    expired = session_token(api, uid, ttl=timedelta(seconds=-5))
    claims = tokens.read_access_claims(api.settings, good)
    assert claims is not None
    foreign = tokens.create_access_token(
        api.settings.model_copy(update={"secret_key": SecretStr("another-secret" * 4)}), uid,
        claims.session_id,
    )
    # Signed by us, but naming no session (as every token before sessions did).
    sessionless = jwt.encode(
        {"sub": str(uid), "typ": "access", "iss": "chunkyard", "iat": int(time.time()),
         "exp": int(time.time()) + 600},
        signing_key(api.settings), algorithm="HS256",
    )
    # Signed by us, a real session, but another user's.
    other = session_token(api, in_db(api.settings, other_user))
    claims_other = tokens.read_access_claims(api.settings, other)
    assert claims_other is not None
    swapped = tokens.create_access_token(api.settings, uid, claims_other.session_id)
    for token in (expired, foreign, sessionless, swapped):
        assert_error(
            api.client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"}), 401
        )


def test_an_api_key_in_the_cookie_is_not_accepted(api: Api) -> None:
    key = api_key_headers(api)["Authorization"].removeprefix("Bearer ")
    api.client.cookies.set("chunkyard_session", key)
    assert_error(api.client.get(f"{API}/auth/me"), 401)


def test_cookie_writes_from_another_origin_are_refused(api: Api) -> None:
    username = make_user(api)
    api.client.post(f"{API}/auth/login", json={"username": username, "password": PASSWORD})
    evil = api.client.post(
        f"{API}/collections", json={"name": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert_error(evil, 401, "cross_site")
    same = api.client.post(
        f"{API}/collections", json={"name": "x"}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 201


def _protected_routes(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) of the API but login and logout, from the OpenAPI document."""
    found = []
    paths = api.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path, operations in paths.items():
        if not path.startswith(API) or path in (f"{API}/auth/login", f"{API}/auth/logout"):
            continue
        for method in operations:
            found.append((method.upper(), path.replace("{collection_id}", str(uuid.uuid4()))))
    return found


def test_every_api_route_needs_auth(api: Api) -> None:
    routes = _protected_routes(api)
    # The routes this increment serves; a new route is covered automatically.
    paths = {path.split(API)[1].split("/")[1] for _, path in routes}
    assert {"auth", "collections", "strategies", "preview", "recommend", "compare"} <= paths
    for method, path in routes:
        response = api.client.request(method, path, json={})
        body = assert_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", (method, path)
        assert body["error"] == "unauthorized", (method, path)


def test_cli_helpers_create_users_and_keys_with_clear_errors(api: Api) -> None:
    username = make_user(api)
    with pytest.raises(Conflict, match="already exists"):
        cli_create_user(api.settings, username, PASSWORD)
    with pytest.raises(Invalid, match="username"):
        cli_create_user(api.settings, "bad name!", PASSWORD)
    with pytest.raises(Invalid, match="password"):
        cli_create_user(api.settings, new_username(), "short")
    with pytest.raises(NotFound, match="does not exist"):
        cli_create_api_key(api.settings, new_username("ghost"))
    admin = new_username("admin")
    cli_create_user(api.settings, admin, PASSWORD, True)
    me = api.client.get(f"{API}/auth/me", headers=login(api, admin))
    assert me.json()["is_admin"] is True
    first = cli_create_api_key(api.settings, admin)
    second = cli_create_api_key(api.settings, admin)
    assert first != second and first.startswith("cky_")

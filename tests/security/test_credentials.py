"""Issue 12, point 3: credentials that can be revoked, on SQLite and PostgreSQL.

Each of these failed before: logout left the token valid (bearer and cookie) for 12 h, and
there was no way to change a password, list or revoke an API key, or disable a user.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import (
    API,
    PASSWORD,
    Api,
    assert_error,
    in_db,
    make_user,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth import passwords
from chunkyard.auth.service import (
    cli_create_api_key,
    cli_list_api_keys,
    cli_revoke_api_key,
    cli_set_user_disabled,
)
from chunkyard.kit.errors import NotFound
from chunkyard.storage.models import ApiKey

ME = f"{API}/auth/me"


def _login(api: Api, username: str, password: str = PASSWORD) -> str:
    """A fresh session's token (the cookie jar keeps its cookie)."""
    response = api.client.post(
        f"{API}/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cookie_me(api: Api, cookie: str) -> Any:
    api.client.cookies.clear()
    api.client.cookies.set("chunkyard_session", cookie)
    try:
        return api.client.get(ME)
    finally:
        api.client.cookies.clear()


def test_logout_revokes_the_session_as_bearer_and_as_cookie(api: Api) -> None:
    username = make_user(api)
    by_bearer = _login(api, username)
    api.client.cookies.clear()
    assert api.client.get(ME, headers=_bearer(by_bearer)).status_code == 200
    out = api.client.post(f"{API}/auth/logout", headers=_bearer(by_bearer))
    assert out.status_code == 204
    assert_error(api.client.get(ME, headers=_bearer(by_bearer)), 401, "invalid_token")
    assert_error(_cookie_me(api, by_bearer), 401, "invalid_token")

    # Logging out by the cookie ends that session too, for the cookie and its token.
    by_cookie = _login(api, username)
    assert api.client.get(ME).status_code == 200
    assert api.client.post(f"{API}/auth/logout").status_code == 204
    assert_error(_cookie_me(api, by_cookie), 401, "invalid_token")
    assert_error(api.client.get(ME, headers=_bearer(by_cookie)), 401, "invalid_token")
    # Another session of the same user is untouched; logging out twice is harmless.
    other = _login(api, username)
    api.client.cookies.clear()
    assert api.client.get(ME, headers=_bearer(other)).status_code == 200
    assert api.client.post(f"{API}/auth/logout", headers=_bearer(by_bearer)).status_code == 204
    assert api.client.post(f"{API}/auth/logout").status_code == 204


def test_logout_by_cookie_from_another_origin_is_refused(api: Api) -> None:
    username = make_user(api)
    token = _login(api, username)
    for origin in ("https://evil.example", "https://testserver", "null"):
        refused = api.client.post(f"{API}/auth/logout", headers={"Origin": origin})
        assert_error(refused, 401, "cross_site")
    assert api.client.get(ME, headers=_bearer(token)).status_code == 200  # still signed in
    ours = api.client.post(f"{API}/auth/logout", headers={"Origin": "http://testserver"})
    assert ours.status_code == 204
    assert_error(api.client.get(ME, headers=_bearer(token)), 401)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://testserver", True),
        ("http://testserver:80", True),
        ("http://TESTSERVER", True),
        ("https://testserver", False),  # the scheme counts (was accepted)
        ("http://testserver:8080", False),
        ("http://testserver.evil.example", False),
        ("http://evil.example/testserver", False),
        ("testserver", False),
        ("null", False),
    ],
)
def test_the_cookie_origin_check_compares_scheme_host_and_port(
    api: Api, origin: str, allowed: bool
) -> None:
    _login(api, make_user(api))
    response = api.client.post(
        f"{API}/collections", json={"name": f"c-{uuid.uuid4().hex[:8]}"},
        headers={"Origin": origin},
    )
    if allowed:
        assert response.status_code == 201, response.text
    else:
        assert_error(response, 401, "cross_site")


def test_changing_the_password_revokes_the_other_sessions_only(api: Api) -> None:
    username = make_user(api)
    current = _login(api, username)
    other = _login(api, username)
    api.client.cookies.clear()
    key = cli_create_api_key(api.settings, username, "ci")
    new_password = "a brand new passphrase"

    wrong = api.client.post(
        f"{API}/auth/password", headers=_bearer(current),
        json={"current_password": "not it at all", "new_password": new_password},
    )
    assert_error(wrong, 401, "invalid_credentials")
    short = api.client.post(
        f"{API}/auth/password", headers=_bearer(current),
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert_error(short, 422)
    assert api.client.get(ME, headers=_bearer(other)).status_code == 200

    changed = api.client.post(
        f"{API}/auth/password", headers=_bearer(current),
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert changed.status_code == 204, changed.text
    assert api.client.get(ME, headers=_bearer(current)).status_code == 200
    assert_error(api.client.get(ME, headers=_bearer(other)), 401, "invalid_token")
    assert api.client.get(ME, headers=_bearer(key)).status_code == 200  # keys stay
    refused = api.client.post(
        f"{API}/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert_error(refused, 401, "invalid_credentials")
    _login(api, username, new_password)


def test_api_keys_are_listed_with_name_and_times_and_can_be_revoked(api: Api) -> None:
    username, stranger = make_user(api), make_user(api)
    first = cli_create_api_key(api.settings, username, "laptop")
    second = cli_create_api_key(api.settings, username)
    theirs = cli_create_api_key(api.settings, stranger, "theirs")
    assert api.client.get(ME, headers=_bearer(first)).status_code == 200

    listed = api.client.get(f"{API}/api-keys", headers=_bearer(second))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [k["name"] for k in items] == ["laptop", ""]
    assert {k["prefix"] for k in items} == {first.split("_")[1], second.split("_")[1]}
    assert all(set(k) == {"id", "name", "prefix", "created_at", "last_used_at"} for k in items)
    assert items[0]["last_used_at"] is not None  # used above
    assert not any(first in str(k) or second in str(k) for k in items)  # no secret

    # Another user's key is not theirs to revoke (404), nor is a made-up id.
    their_id = cli_list_api_keys(api.settings, stranger)[0].id
    for key_id in (str(their_id), str(uuid.uuid4()), "not-an-id"):
        assert_error(api.client.delete(f"{API}/api-keys/{key_id}", headers=_bearer(second)),
                     404)
    assert api.client.get(ME, headers=_bearer(theirs)).status_code == 200

    gone = api.client.delete(f"{API}/api-keys/{items[0]['id']}", headers=_bearer(second))
    assert gone.status_code == 204
    assert_error(api.client.get(ME, headers=_bearer(first)), 401, "invalid_token")
    assert_error(api.client.delete(f"{API}/api-keys/{items[0]['id']}",
                                   headers=_bearer(second)), 404)
    left = api.client.get(f"{API}/api-keys", headers=_bearer(second)).json()["items"]
    assert [k["id"] for k in left] == [items[1]["id"]]


def test_the_cli_helpers_list_and_revoke_keys(api: Api) -> None:
    username = make_user(api)
    key = cli_create_api_key(api.settings, username, "script")
    assert api.client.get(ME, headers=_bearer(key)).status_code == 200
    [info] = cli_list_api_keys(api.settings, username)
    assert info.name == "script" and info.prefix == key.split("_")[1]
    revoked = cli_revoke_api_key(api.settings, info.prefix)  # by prefix (or id)
    assert revoked.id == info.id
    with pytest.raises(NotFound):
        cli_revoke_api_key(api.settings, str(info.id))
    assert cli_list_api_keys(api.settings, username) == []
    # Revoked elsewhere (the command line): refused within the cache's second.
    deadline = time.monotonic() + 2.0
    while api.client.get(ME, headers=_bearer(key)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key still works after 2 s"
        time.sleep(0.05)

    async def revoked_at(session: AsyncSession) -> Any:
        return await session.scalar(select(ApiKey.revoked_at).where(ApiKey.id == info.id))

    assert in_db(api.settings, revoked_at) is not None


def test_disabling_a_user_revokes_all_their_tokens_and_keys(api: Api) -> None:
    username, bystander = make_user(api), make_user(api)
    tokens = [_login(api, username) for _ in range(2)]
    api.client.cookies.clear()
    keys = [cli_create_api_key(api.settings, username) for _ in range(2)]
    kept = _login(api, bystander)
    api.client.cookies.clear()
    for credential in tokens + keys:
        assert api.client.get(ME, headers=_bearer(credential)).status_code == 200

    cli_set_user_disabled(api.settings, username)
    deadline = time.monotonic() + 2.0
    for credential in tokens + keys:
        while api.client.get(ME, headers=_bearer(credential)).status_code == 200:
            assert time.monotonic() < deadline, "a disabled user's credential still works"
            time.sleep(0.05)
    assert_error(_cookie_me(api, tokens[0]), 401)
    refused = api.client.post(
        f"{API}/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert_error(refused, 401, "invalid_credentials")  # the same answer as a wrong password
    assert api.client.get(ME, headers=_bearer(kept)).status_code == 200

    # Enabled again: they sign in anew; what was revoked stays revoked.
    cli_set_user_disabled(api.settings, username, disabled=False)
    fresh = _login(api, username)
    api.client.cookies.clear()
    assert api.client.get(ME, headers=_bearer(fresh)).status_code == 200
    for credential in tokens + keys:
        assert_error(api.client.get(ME, headers=_bearer(credential)), 401)
    with pytest.raises(NotFound):
        cli_set_user_disabled(api.settings, "nobody-" + uuid.uuid4().hex[:6])


# -- login throttling (issue 12, point 4) ---------------------------------------------------


def _attempt(api: Api, username: str, password: str) -> Any:
    # Every request of the test client comes from the address "testclient".
    return api.client.post(f"{API}/auth/login",
                           json={"username": username, "password": password})


def test_the_sixth_failed_login_is_refused_with_retry_after_at_once(api: Api) -> None:
    username = make_user(api)
    for _ in range(5):
        assert_error(_attempt(api, username, "wrong password"), 401, "invalid_credentials")
    started = time.perf_counter()
    refused = _attempt(api, username, PASSWORD)  # even the right password, while locked
    elapsed = time.perf_counter() - started
    assert_error(refused, 429, "too_many_logins")
    assert int(refused.headers["retry-after"]) >= 1
    assert elapsed < 0.05, f"refused in {elapsed * 1000:.0f} ms"
    # After the back-off (1 s after the 5th failure) the right password gets in, and the
    # account's count starts again.
    time.sleep(1.05)
    _login(api, username)
    api.client.cookies.clear()


def test_failures_from_one_address_lock_it_whatever_the_username(api: Api) -> None:
    real = make_user(api)  # made first: the lock after the 5th failure lasts 1 s
    for n in range(5):
        assert_error(_attempt(api, f"ghost-{n}-{uuid.uuid4().hex[:6]}", "x" * 8), 401)
    # A sixth username, even a real one with its right password: this address waits.
    assert_error(_attempt(api, real, PASSWORD), 429, "too_many_logins")


def test_a_login_holds_no_database_connection_while_its_password_is_checked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding of issue 12, point 6: a login held its connection while it waited for the
    # argon2 pool, so 50 at once held all of them (5 and 10 more) and the rest of the API
    # waited 30 s for one, then answered 500.
    username = make_user(api)
    app: Any = api.client.app
    connections = app.state.engine.sync_engine.pool
    held: list[int] = []
    run = passwords.pool.run

    async def checked(work: Callable[..., Any], *args: str) -> Any:
        held.append(connections.checkedout())
        return await run(work, *args)

    monkeypatch.setattr(passwords.pool, "run", checked)
    _login(api, username)
    api.client.cookies.clear()
    assert_error(_attempt(api, username, "wrong password"), 401, "invalid_credentials")
    assert_error(_attempt(api, f"ghost-{uuid.uuid4().hex[:6]}", "x" * 8), 401)
    assert held == [0, 0, 0]

"""`chunkyard serve` with no CHUNKYARD_SECRET_KEY: a random secret in the data directory.

Issue #9: the first release signed sessions with a development secret written in its source, so
anyone who read it could forge a token for any user id. These tests start the real server.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx
import jwt
import pytest
from test_cli_serve import FIRST_USER_RE, Server, free_port, login, run_serve, serving

from chunkyard.auth.secret import SECRET_FILENAME
from chunkyard.settings import PUBLISHED_DEVELOPMENT_SECRET


def forged_token(secret: str, user_id: str) -> str:
    """A token made the way the server makes them, signed with `secret`, valid for 100 years."""
    now = int(time.time())
    claims = {"sub": user_id, "typ": "access", "iss": "chunkyard", "iat": now,
              "exp": now + 100 * 365 * 86400}
    return jwt.encode(claims, secret, algorithm="HS256")


def me(server: Server, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/auth/me",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)


def first_login(server: Server) -> tuple[str, str, str]:
    """The first admin's password, a token from logging in, and the admin's id."""
    passwords = FIRST_USER_RE.findall(server.stderr())
    assert len(passwords) == 1, server.stderr()
    response = login(server, passwords[0])
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    answer = me(server, token)
    assert answer.status_code == 200, answer.text
    return passwords[0], token, answer.json()["id"]


def test_the_data_dir_secret_is_private_shared_and_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(tmp_path, data_dir, "a", secret=None) as first:
        password, token, admin_id = first_login(first)
        secret_file = data_dir / SECRET_FILENAME
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text(encoding="ascii").strip()
        assert len(bytes.fromhex(secret)) >= 32
        assert secret != PUBLISHED_DEVELOPMENT_SECRET
        # The published development secret signs nothing, whatever it claims.
        assert me(first, forged_token(PUBLISHED_DEVELOPMENT_SECRET, admin_id)).status_code == 401
        # A second process on the same data directory accepts the first one's tokens.
        with serving(tmp_path, data_dir, "b", secret=None) as second:
            assert me(second, token).status_code == 200
            assert "first user" not in second.stderr()
            again = login(second, password).json()["access_token"]
            assert me(first, again).status_code == 200
            assert second.stop() == 0
        assert first.stop() == 0
    assert "development secret" not in first.stderr()

    # A restart reads the same file: tokens issued before it still work.
    with serving(tmp_path, data_dir, "restarted", secret=None) as restarted:
        assert me(restarted, token).status_code == 200
        assert restarted.stop() == 0
    assert secret_file.read_text(encoding="ascii").strip() == secret


def test_another_data_dirs_secret_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path, tmp_path / "one", "one", secret=None) as one:
        _, token, admin_id = first_login(one)
        with serving(tmp_path, tmp_path / "two", "two", secret=None) as two:
            other = (tmp_path / "two" / SECRET_FILENAME).read_text(encoding="ascii").strip()
            assert other != (tmp_path / "one" / SECRET_FILENAME).read_text(encoding="ascii").strip()
            assert me(two, token).status_code == 401
            assert two.stop() == 0
        # A token for one's admin signed with two's secret is not one's.
        assert me(one, forged_token(other, admin_id)).status_code == 401
        assert me(one, token).status_code == 200
        assert one.stop() == 0


def test_the_published_development_secret_is_refused_as_a_setting(tmp_path: Path) -> None:
    done = run_serve(tmp_path, "--port", str(free_port()),
                     CHUNKYARD_SECRET_KEY=PUBLISHED_DEVELOPMENT_SECRET)
    assert done.returncode == 1
    assert done.stderr.startswith("chunkyard: error: invalid settings: CHUNKYARD_SECRET_KEY is "
                                  "the development secret published")
    assert done.stderr.count("\n") == 1


def test_a_configured_secret_wins_and_writes_no_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(tmp_path, data_dir, "configured") as server:
        assert server.stop() == 0
    assert (data_dir / "chunkyard.db").is_file()
    assert not (data_dir / SECRET_FILENAME).exists()


@pytest.mark.parametrize("content", ["", "short\n"])
def test_an_unusable_secret_file_is_one_line(tmp_path: Path, content: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / SECRET_FILENAME).write_text(content)
    done = run_serve(tmp_path, "--port", str(free_port()))
    assert done.returncode == 1
    assert done.stderr.startswith(f"chunkyard: error: the secret file {data_dir / SECRET_FILENAME}")
    assert done.stderr.count("\n") == 1

"""`chunkyard serve`: the real server in a subprocess, its first admin, and its one-line errors."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

import dbsupport
import serversupport
from chunkyard.auth.bootstrap import FIRST_USERNAME, ensure_first_user
from chunkyard.auth.service import cli_create_user
from chunkyard.cli.main import main
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from serversupport import EXE, START_TIMEOUT, STOP_TIMEOUT, Server, free_port, serve_env

SECRET = "chunkyard-serve-test-secret-" + "y" * 32
FIRST_USER_RE = re.compile(r"created the first user: admin / (\S+)")


def run_serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`chunkyard serve` expected to fail before it serves; run from tmp_path (no stray .env)."""
    return subprocess.run(
        [EXE, "serve", *args], capture_output=True, text=True, cwd=tmp_path,
        env=serve_env(tmp_path / "data", **env), timeout=120,
    )


@contextmanager
def serving(tmp_path: Path, data_dir: Path, name: str, *, secret: str | None = SECRET,
            **env: str) -> Iterator[Server]:
    """`chunkyard serve` on a free port; `secret=None` leaves CHUNKYARD_SECRET_KEY unset."""
    if secret is not None:
        env["CHUNKYARD_SECRET_KEY"] = secret
    with serversupport.serving(tmp_path, serve_env(data_dir, **env), name) as server:
        yield server


def login(server: Server, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1/auth/login",
                      json={"username": "admin", "password": password}, timeout=10)


def assert_admin(server: Server, password: str) -> None:
    response = login(server, password)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = httpx.get(f"{server.url}/api/v1/auth/me",
                   headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
    assert (me.json()["username"], me.json()["is_admin"]) == ("admin", True)


# --------------------------------------------------------------------------- the server


def test_first_start_creates_admin_and_shows_the_password_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(tmp_path, data_dir, "first") as server:
        passwords = FIRST_USER_RE.findall(server.stderr())
        assert len(passwords) == 1, server.stderr()
        assert_admin(server, passwords[0])
        assert login(server, passwords[0] + "x").status_code == 401
        assert f"Chunkyard running on {server.url}" in server.stderr()
        assert server.stop() == 0
        first_log = server.stderr()
    assert "Traceback" not in first_log
    assert (data_dir / "chunkyard.db").is_file()

    with serving(tmp_path, data_dir, "second") as server:
        assert_admin(server, passwords[0])
        assert server.stop() == 0
        second_log = server.stderr()
    assert "first user" not in second_log
    assert passwords[0] not in second_log
    assert "Traceback" not in second_log


def test_postgresql_with_no_users_gets_the_first_admin_too(
    tmp_path: Path, pg_settings: Settings
) -> None:
    assert pg_settings.database_url
    migrate.run_upgrade(pg_settings)
    url = pg_settings.database_url
    with serving(tmp_path, tmp_path / "data", "pg", CHUNKYARD_DATABASE_URL=url) as server:
        passwords = FIRST_USER_RE.findall(server.stderr())
        assert len(passwords) == 1, server.stderr()
        assert_admin(server, passwords[0])
        assert server.stop() == 0


# --------------------------------------------------------------------------- one-line errors


def test_production_with_the_default_secret_is_refused_in_one_line(tmp_path: Path) -> None:
    done = run_serve(tmp_path, "--port", str(free_port()), CHUNKYARD_ENVIRONMENT="production")
    assert done.returncode == 1
    assert done.stderr == (
        "chunkyard: error: invalid settings: CHUNKYARD_SECRET_KEY must be set in production\n"
    )
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_an_invalid_setting_names_its_variable(tmp_path: Path) -> None:
    done = run_serve(tmp_path, CHUNKYARD_ENVIRONMENT="staging", CHUNKYARD_SECRET_KEY=SECRET)
    assert done.returncode == 1
    assert done.stderr.startswith("chunkyard: error: invalid settings: CHUNKYARD_ENVIRONMENT: ")
    assert done.stderr.count("\n") == 1


def test_a_port_in_use_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(tmp_path, "--port", str(port), CHUNKYARD_SECRET_KEY=SECRET)
    assert done.returncode == 1
    assert done.stderr.startswith(f"chunkyard: error: cannot listen on 127.0.0.1:{port}: ")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "data").exists()  # no database, so no password shown and lost


def test_an_unknown_host_is_one_line(tmp_path: Path) -> None:
    done = run_serve(tmp_path, "--host", "no-such-host.invalid", CHUNKYARD_SECRET_KEY=SECRET)
    assert done.returncode == 1
    assert done.stderr.startswith("chunkyard: error: cannot listen on no-such-host.invalid:8000")
    assert done.stderr.count("\n") == 1


def test_an_unmigrated_postgresql_database_asks_for_db_upgrade(
    tmp_path: Path, pg_settings: Settings
) -> None:
    assert pg_settings.database_url
    done = run_serve(tmp_path, "--port", str(free_port()), CHUNKYARD_SECRET_KEY=SECRET,
                     CHUNKYARD_DATABASE_URL=pg_settings.database_url)
    assert done.returncode == 1
    assert done.stderr.startswith("chunkyard: error: the database has no schema yet")
    assert done.stderr.endswith("run `chunkyard db upgrade` first\n")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("port", ["65536", "-1", "http"])
def test_a_bad_port_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", port]) == 2
    assert "argument --port" in capsys.readouterr().err


# --------------------------------------------------------------------------- the first user


@pytest.fixture(scope="module")
def serve_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dbsupport.Databases]:
    dbs = dbsupport.Databases(tmp_path_factory.mktemp("serve"), label="serve",
                              secret_key=SecretStr(SECRET))
    yield dbs
    dbs.drop_all()


@pytest.fixture
def pg_settings(serve_databases: dbsupport.Databases) -> Settings:
    """A fresh, empty (not migrated) PostgreSQL database."""
    return serve_databases.fresh("postgresql")


@pytest.fixture(params=dbsupport.BACKENDS)
def migrated(request: pytest.FixtureRequest, serve_databases: dbsupport.Databases) -> Settings:
    settings = serve_databases.fresh(str(request.param))
    migrate.run_upgrade(settings)
    return settings


def test_two_processes_starting_at_once_make_one_admin(migrated: Settings) -> None:
    async def race() -> list[str | None]:
        return list(await asyncio.gather(*(ensure_first_user(migrated) for _ in range(3))))

    made = [p for p in asyncio.run(race()) if p is not None]
    assert len(made) == 1
    assert asyncio.run(ensure_first_user(migrated)) is None


def test_no_admin_when_a_user_exists(migrated: Settings) -> None:
    cli_create_user(migrated, "alice", "correct horse battery", admin=False)
    assert asyncio.run(ensure_first_user(migrated)) is None
    # No admin was made: the name is still free.
    cli_create_user(migrated, FIRST_USERNAME, "correct horse battery", admin=True)


def _children(pid: int) -> list[int]:
    """Every process whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_server_leaves_no_chunking_process_behind(tmp_path: Path) -> None:
    # kill -9 gives the server no chance to stop its pool: the workers (and multiprocessing's
    # resource tracker, which waits for them) must notice and end on their own.
    with serving(tmp_path, tmp_path / "data", "killed") as server:
        deadline = time.monotonic() + START_TIMEOUT
        children: list[int] = []
        while time.monotonic() < deadline and len(children) < 2:
            children = _children(server.proc.pid)
            time.sleep(0.1)
        assert len(children) >= 2, "the chunking pool did not start"
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in children):
            time.sleep(0.1)
        left = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in children if _alive(p)}
        assert not left

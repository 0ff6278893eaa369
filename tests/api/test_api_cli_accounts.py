"""`chunkyard users create` and `api-keys create`, then the key and password work on the API."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from chunkyard.api.app import create_app
from chunkyard.settings import Settings


def chunkyard(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHUNKYARD_DATA_DIR": str(data_dir)}
    env.pop("CHUNKYARD_DATABASE_URL", None)
    entry = "from chunkyard.cli.main import main; raise SystemExit(main())"
    return subprocess.run([sys.executable, "-c", entry, *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_accounts_made_on_the_command_line_sign_in(tmp_path: Path) -> None:
    made = chunkyard(tmp_path, "users", "create", "alice", "--admin", "--password-stdin",
                     stdin="correct horse battery\n")
    assert made.returncode == 0, made.stderr
    again = chunkyard(tmp_path, "users", "create", "alice", "--password-stdin",
                      stdin="another long password\n")
    assert again.returncode == 1
    assert again.stderr.startswith("chunkyard: error:") and "alice" in again.stderr
    key = chunkyard(tmp_path, "api-keys", "create", "alice")
    assert key.returncode == 0, key.stderr
    plaintext = key.stdout.strip()
    missing = chunkyard(tmp_path, "api-keys", "create", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr

    settings = Settings(data_dir=tmp_path, secret_key="cli-test-secret-" + "y" * 32)
    with TestClient(create_app(settings)) as client:
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {plaintext}"})
        assert me.status_code == 200 and me.json()["username"] == "alice"
        login = client.post("/api/v1/auth/login",
                            json={"username": "alice", "password": "correct horse battery"})
        assert login.status_code == 200
        wrong = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer cky_nope_x"})
        assert wrong.status_code == 401


def test_concurrent_users_create_on_sqlite_all_succeed(tmp_path: Path) -> None:
    """Each command reads then writes; on SQLite it takes the write lock before reading."""
    chunkyard(tmp_path, "db", "upgrade")
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(
            lambda n: chunkyard(tmp_path, "users", "create", f"user{n}", "--password-stdin",
                                stdin="correct horse battery\n"),
            range(4),
        ))
        assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
        keys = list(pool.map(
            lambda n: chunkyard(tmp_path, "api-keys", "create", f"user{n}"), range(4)
        ))
    assert [r.returncode for r in keys] == [0, 0, 0, 0], [r.stderr for r in keys]

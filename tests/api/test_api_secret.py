"""The signing key without CHUNKYARD_SECRET_KEY: created once per data directory, atomically."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from chunkyard.auth import secret as secret_module
from chunkyard.auth.secret import SECRET_FILENAME, signing_key
from chunkyard.settings import PUBLISHED_DEVELOPMENT_SECRET, Settings

CREATE = (
    "import sys; from pathlib import Path; from chunkyard.settings import Settings; "
    "from chunkyard.auth.secret import signing_key; "
    "print(signing_key(Settings(data_dir=Path(sys.argv[1]))))"
)


def test_created_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    key = signing_key(Settings(data_dir=tmp_path / "d"))
    path = tmp_path / "d" / SECRET_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key)) == 32
    secret_module._data_dir_secret.cache_clear()  # as a new process would
    assert signing_key(Settings(data_dir=tmp_path / "d")) == key
    assert signing_key(Settings(data_dir=tmp_path / "other")) != key


def test_processes_starting_together_agree(tmp_path: Path) -> None:
    data_dir = tmp_path / "race"
    procs = [subprocess.Popen([sys.executable, "-c", CREATE, str(data_dir)],
                              stdout=subprocess.PIPE, text=True) for _ in range(8)]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(keys) == 1
    assert keys == {(data_dir / SECRET_FILENAME).read_text().strip()}
    assert [p.name for p in data_dir.iterdir()] == [SECRET_FILENAME]  # no temporary file left


def test_a_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILENAME
    path.write_text("ab" * 32)
    path.chmod(0o644)
    assert signing_key(Settings(data_dir=tmp_path)) == "ab" * 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_secret_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=SecretStr("c" * 40))
    assert signing_key(settings) == "c" * 40
    assert not (tmp_path / SECRET_FILENAME).exists()


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_published_development_secret_is_refused(environment: str) -> None:
    with pytest.raises(ValidationError, match="development secret published"):
        Settings(secret_key=SecretStr(PUBLISHED_DEVELOPMENT_SECRET), environment=environment)


def test_production_needs_a_long_configured_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must be set in production"):
        Settings(data_dir=tmp_path, environment="production")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(data_dir=tmp_path, environment="production", secret_key=SecretStr("x" * 31))

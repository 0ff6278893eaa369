"""Settings: CHUNKYARD_* variables, `.env`, the SQLite default in the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chunkyard.settings import Settings, default_data_dir, get_settings
from chunkyard.storage.engine import database_url

VARIABLES = ("CHUNKYARD_DATABASE_URL", "CHUNKYARD_REDIS_URL", "CHUNKYARD_DATA_DIR",
             "CHUNKYARD_SECRET_KEY", "CHUNKYARD_ENVIRONMENT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    get_settings.cache_clear()


def test_defaults_use_sqlite_in_the_data_directory() -> None:
    settings = Settings()
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.data_dir == default_data_dir()
    assert "chunkyard" in str(settings.data_dir)
    assert settings.resolved_database_url == (
        f"sqlite+aiosqlite:///{settings.data_dir / 'chunkyard.db'}"
    )


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHUNKYARD_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("CHUNKYARD_REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("CHUNKYARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHUNKYARD_SECRET_KEY", "s3cret")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+asyncpg://u@h/db"
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.data_dir == tmp_path / "data"
    assert settings.secret_key.get_secret_value() == "s3cret"
    assert not settings.secret_in_data_dir


def test_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"CHUNKYARD_DATA_DIR={tmp_path / 'from-env-file'}\n")
    assert Settings().data_dir == tmp_path / "from-env-file"


def test_get_settings_is_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHUNKYARD_DATA_DIR", str(tmp_path / "one"))
    first = get_settings()
    monkeypatch.setenv("CHUNKYARD_DATA_DIR", str(tmp_path / "two"))
    assert get_settings() is first
    get_settings.cache_clear()


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUNKYARD_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="CHUNKYARD_SECRET_KEY"):
        Settings()
    # Set but empty or short is no better: anyone could guess it and forge session tokens.
    for weak in ("", "short-secret"):
        monkeypatch.setenv("CHUNKYARD_SECRET_KEY", weak)
        with pytest.raises(ValidationError, match="at least 32 characters"):
            Settings()
    monkeypatch.setenv("CHUNKYARD_SECRET_KEY", "a-real-secret-" + "k" * 24)
    assert Settings().environment == "production"


def test_database_url_creates_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "dir")
    url = database_url(settings)
    assert url.get_backend_name() == "sqlite"
    assert (tmp_path / "new" / "dir").is_dir()

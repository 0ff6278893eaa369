"""Liveness and readiness (database, and Redis when configured), the OpenAPI document."""

from __future__ import annotations

from api_helpers import Api, assert_error
from fastapi.testclient import TestClient

from chunkyard.api.app import create_app
from chunkyard.settings import Settings
from chunkyard.storage import migrate

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_healthz_and_readyz(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    checks = {"database": "ok"} | ({"redis": "ok"} if api.settings.redis_url else {})
    assert ready.json() == {"status": "ok", "checks": checks}


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "/api/v1/collections/{collection_id}" in spec["paths"]
    assert "ErrorBody" in spec["components"]["schemas"]
    assert api.client.get("/docs").status_code == 200


def test_readyz_checks_redis_when_configured(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"redis_url": REDIS_URL})
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_down(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(settings)) as client:
        body = assert_error(client.get("/readyz"), 503, "not_ready")
        assert "redis" in body["detail"] and "database" not in body["detail"]
        assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_is_503_when_the_database_is_down(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    )
    with TestClient(create_app(settings)) as client:
        body = assert_error(client.get("/readyz"), 503, "not_ready")
        assert "database" in body["detail"]


def test_the_embedded_sqlite_database_is_migrated_on_start(sqlite_settings: Settings) -> None:
    assert migrate.run_check is not None
    with TestClient(create_app(sqlite_settings)) as client:
        assert client.get("/readyz").status_code == 200
    import asyncio

    assert asyncio.run(migrate.current_revision(sqlite_settings)) == migrate.head_revision()

"""The app factory: `create_app(settings)` wires routers, errors, request ids and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import chunkyard
from chunkyard.api import health, metrics
from chunkyard.api.admission import AdmissionMiddleware
from chunkyard.api.docs import DOCS_PATH, docs_router
from chunkyard.api.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    install_log_record_factory,
)
from chunkyard.auth.cache import CredentialCache
from chunkyard.auth.router import router as auth_router
from chunkyard.auth.secret import secret_path, signing_key
from chunkyard.chunking.diff_router import router as diff_router
from chunkyard.chunking.router import router as chunking_router
from chunkyard.chunks.router import router as chunks_router
from chunkyard.collections.router import router as collections_router
from chunkyard.documents.router import router as documents_router
from chunkyard.evaluation.evaluations_router import router as evaluations_router
from chunkyard.evaluation.router import router as evaluation_router
from chunkyard.kit.errors import install_error_handlers
from chunkyard.limits.router import router as limits_router
from chunkyard.maintenance.scheduler import start_scheduler
from chunkyard.operations.router import router as operations_router
from chunkyard.operations.websocket import router as operations_ws_router
from chunkyard.settings import MULTIPART_FRAMING_BYTES, Settings, get_settings
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.prepare import prepare_database
from chunkyard.worker.mode import ExecutionMode

logger = logging.getLogger("chunkyard.api")

API_PREFIX = "/api/v1"
# Larger bodies are refused with 413 before they are read into memory: by default one file
# of the per-file limit and its multipart framing (`Settings.request_body_limit`).
MAX_REQUEST_BYTES: int = (
    Settings.model_fields["max_upload_bytes"].default + MULTIPART_FRAMING_BYTES
)


def create_app(settings: Settings | None = None, *, auto_migrate: bool | None = None) -> FastAPI:
    """The service. `auto_migrate` (default: for SQLite only) migrates to head on start."""
    settings = settings or get_settings()
    install_log_record_factory()
    metrics.check_multiprocess_dir()  # several processes' metrics: say now if it cannot be
    # Resolved now, so the first start creates the data directory's secret (or says why it
    # cannot) before serving, and every later request reads it from memory.
    signing_key(settings)
    if settings.secret_in_data_dir:
        logger.info("session tokens are signed with the secret in %s", secret_path(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_database(settings, auto_migrate=auto_migrate)
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.session_factory = create_session_factory(engine)
        mode = ExecutionMode(settings)
        services = await mode.open_app_services(app.state.session_factory)
        app.state.services = services
        # Embedded: maintenance on its schedule, in a thread (Celery: `chunkyard scheduler`).
        app.state.maintenance = start_scheduler(settings, embedded=mode.embedded)
        try:
            yield
        finally:
            if app.state.maintenance is not None:
                await app.state.maintenance.stop()
            await services.close()
            await engine.dispose()
            metrics.process_exited()  # its open WebSockets leave the multiprocess totals

    app = FastAPI(
        title="Chunkyard",
        version=chunkyard.__version__,
        description="Retrieval-ready chunks with exact offsets and a hard token cap.",
        lifespan=lifespan,
        # Served by api/docs.py from files the install ships, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.credential_cache = CredentialCache()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_size=settings.request_body_limit)
    # Outside the body limit: a refused request's body is never read.
    app.add_middleware(AdmissionMiddleware, limit=settings.max_concurrent_requests,
                       wait_seconds=settings.admission_wait_seconds)
    # Outside the body limit, so refused bodies (413) are timed and counted too.
    app.add_middleware(metrics.RequestMetricsMiddleware, metrics=metrics.metrics_for(app))
    # Added last, so it is outermost: every response, even a 413 or 500, carries the id.
    app.add_middleware(RequestIdMiddleware)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth_router)
    api.include_router(collections_router)
    api.include_router(documents_router)
    api.include_router(chunks_router)
    api.include_router(operations_router)
    api.include_router(operations_ws_router)
    api.include_router(chunking_router)
    api.include_router(diff_router)
    api.include_router(limits_router)
    api.include_router(evaluation_router)
    api.include_router(evaluations_router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs_router(app))
    # The web UI, last: it answers only what no route matched, and adds the security headers.
    from chunkyard.web.static import install_web

    install_web(app, docs_paths=(DOCS_PATH,))
    return app

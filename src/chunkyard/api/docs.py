"""The API's own documentation, offline: `/docs` (Swagger UI) loads its script and styles from
files the install ships (the `fastapi-offline` package's copy of Swagger UI, served under
`/docs/assets/`), never from a CDN, so it works on a machine without internet and under the
strict Content-Security-Policy (`script-src 'self'` plus the hash of the one inline script that
starts Swagger UI; see `web/static.py: docs_policy`). There is no `/redoc`: ReDoc runs its
search in a `blob:` worker and shows a logo from its CDN, both of which that policy refuses.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse, Response

from chunkyard.kit.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# The only files served from the assets folder (a name in the URL never reaches the disk).
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


def assets_dir() -> Path:
    """Where the installed `fastapi-offline` keeps Swagger UI."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def docs_router(app: FastAPI) -> APIRouter:
    """The docs pages of `app` (its title and OpenAPI document) and their assets."""
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"
    folder = assets_dir()

    @router.get(DOCS_PATH)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )

    @router.get(ASSETS_PATH + "/{name}")
    async def asset(name: str) -> Response:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise NotFound(f"no documentation asset {name!r}", code="not_found")
        return FileResponse(folder / name, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400"})

    return router

"""Serve the built UI at `/` (with an SPA fallback) and send security headers on every response.

The UI is a single-page app: a path that is not an API route and not a file of the build
(`/collections/<id>`, `/playground`, ...) answers the app's `index.html`, and the app routes it.
The handler is installed as the router's *default* (what Starlette runs when no route matched),
not as a catch-all route or mount, so it can never shadow a route, whatever order routes are
added in; reserved prefixes (`/api`, `/healthz`, `/docs`, ...) never fall back to the app, so an
unknown API path keeps its JSON 404.

Text files of the build come with a gzip copy made at build time (`name.gz` next to `name`,
written by the Vite build, see web/vite.config.ts): a client that accepts gzip gets those bytes
with `Content-Encoding: gzip`, and every response of such a file says `Vary: Accept-Encoding`.
Nothing is compressed per request.

Every response carries a Content-Security-Policy (`script-src 'self'`: the build has no inline
script), `X-Content-Type-Options: nosniff` and `frame-ancestors 'none'`. The API docs pages
(`/docs`, see `api/docs.py`) load Swagger UI from files the install ships and
start them with an inline script; their policy allows exactly the script origins and
inline-script hashes found in that HTML, and nothing else is relaxed for any other path.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chunkyard.kit.errors import error_response

DIST_DIR = Path(__file__).resolve().parent / "dist"

# Paths that belong to the service, never to the UI (exact, or followed by "/").
RESERVED_PATHS = ("/api", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")

# Content-hashed build output: safe to cache for a year.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
# index.html and unhashed files: always revalidate, so a new build is picked up at once.
REVALIDATE_CACHE = "no-cache"

# A Host header value that may go into a header (host, IPv4/IPv6 literal, optional port).
_SANE_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


# The precompressed copy of a build file: `name` + this suffix.
GZIP_SUFFIX = ".gz"


def is_reserved(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PATHS)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 12.5.3): named with a q above
    0, or `*` above 0 with gzip not named; absent or empty: identity only."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        weights[name] = q
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0


class WebApp:
    """ASGI app for requests no route matched: build files, the SPA fallback, else `fallback`."""

    def __init__(self, dist: Path, fallback: ASGIApp) -> None:
        self.dist = dist
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or is_reserved(path)
        ):
            await self.fallback(scope, receive, send)
            return
        response = self.respond(path, Headers(scope=scope).get("accept-encoding"))
        if response is None:
            await self.fallback(scope, receive, send)
            return
        await response(scope, receive, send)

    def respond(self, path: str, accept_encoding: str | None = None) -> Response | None:
        """The response for `path`, or None for the fallback's 404."""
        file = self.file_for(path)
        if file is not None and file.name.endswith(GZIP_SUFFIX) and file.with_suffix("").is_file():
            return None  # the gzip copy of a file is served as that file, not under its own name
        if file is not None:
            cache = IMMUTABLE_CACHE if path.startswith("/assets/") else REVALIDATE_CACHE
            return self.file_response(file, cache, accept_encoding)
        last = path.rsplit("/", 1)[-1]
        if path.startswith("/assets/") or "." in last:
            # A missing file (an old asset, a typo): a 404, not the app's HTML under its name.
            return None
        index = self.dist / "index.html"
        if not index.is_file():
            return error_response(
                503, "ui_not_built",
                "the web UI is not built: run `npm ci && npm run build` in web/ "
                "(the API is at /api/v1, its documentation at /docs)",
            )
        return self.file_response(index, REVALIDATE_CACHE, accept_encoding, "text/html")

    def file_response(
        self, file: Path, cache: str, accept_encoding: str | None, media_type: str | None = None
    ) -> FileResponse:
        """`file`, or its gzip copy when there is one and the client accepts gzip."""
        media_type = media_type or mimetypes.guess_type(file.name)[0] or "text/plain"
        headers = {"Cache-Control": cache}
        compressed = file.with_name(file.name + GZIP_SUFFIX)
        if not compressed.is_file():
            return FileResponse(file, media_type=media_type, headers=headers)
        headers["Vary"] = "Accept-Encoding"
        if not accepts_gzip(accept_encoding):
            return FileResponse(file, media_type=media_type, headers=headers)
        headers["Content-Encoding"] = "gzip"
        return FileResponse(compressed, media_type=media_type, headers=headers)

    def file_for(self, path: str) -> Path | None:
        """The build file `path` names, if there is one inside the build directory."""
        relative = path.lstrip("/")
        if not relative or "\x00" in relative or "\\" in relative:
            return None
        parts = relative.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        root = os.path.realpath(self.dist)
        candidate = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, candidate]) != root or not os.path.isfile(candidate):
            return None
        return Path(candidate)


# -- security headers ---------------------------------------------------------------------------


def content_security_policy(
    host: str | None,
    *,
    script_src: Iterable[str] = (),
    style_src: Iterable[str] = (),
    img_src: Iterable[str] = (),
    inline_styles: bool = False,
) -> str:
    """The policy; `host` (the request's Host) adds ws:/wss: of this host to `connect-src`
    (older browsers do not count a WebSocket to the same host as 'self')."""
    connect = ["'self'"]
    if host and _SANE_HOST.fullmatch(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    styles = ["'self'", *(["'unsafe-inline'"] if inline_styles else []), *style_src]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_src],
        "style-src": styles,
        "img-src": ["'self'", "data:", *img_src],
        "font-src": ["'self'", "data:"],
        "connect-src": connect,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(
        f"{name} {' '.join(dict.fromkeys(values))}" for name, values in directives.items()
    )


_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_LINK = re.compile(r"<link\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _attrs(raw: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _ATTR.finditer(raw)}


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def docs_policy(html: str, host: str | None) -> str:
    """The policy for one of FastAPI's docs pages: its inline scripts by hash, and the origins
    its `<script src>`, stylesheet and icon links name."""
    scripts: list[str] = []
    styles: list[str] = []
    images: list[str] = []
    for match in _SCRIPT.finditer(html):
        attrs, body = _attrs(match.group(1)), match.group(2)
        if "src" in attrs:
            origin = _origin(attrs["src"])
            if origin:
                scripts.append(origin)
        elif body.strip():
            digest = hashlib.sha256(body.encode("utf-8")).digest()
            scripts.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    for match in _LINK.finditer(html):
        attrs = _attrs(match.group(1))
        origin = _origin(attrs.get("href", ""))
        rel = attrs.get("rel", "").lower()
        if origin and "stylesheet" in rel:
            styles.append(origin)
        elif origin and "icon" in rel:
            images.append(origin)
    return content_security_policy(
        host, script_src=scripts, style_src=styles, img_src=images, inline_styles=True
    )


class SecurityHeadersMiddleware:
    """CSP, nosniff, no framing and a same-origin referrer on every HTTP response, the HTTP
    response that refuses a WebSocket included."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if scope["type"] == "http" and scope.get("path") in self.docs_paths:
            await self._docs(scope, receive, send, host)
            return
        policy = content_security_policy(host)

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                _add_headers(message, policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send, host: str | None) -> None:
        """Hold a docs page's (small, one-part) HTML until its policy is computed from it."""
        start: Message | None = None
        body: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                html = b"".join(body).decode("utf-8", "replace")
                _add_headers(start, docs_policy(html, host))
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(body)})
                return
            await send(message)

        await self.app(scope, receive, capture)


def _add_headers(message: Message, policy: str) -> None:
    headers = MutableHeaders(scope=message)
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")


def install_web(
    app: FastAPI, dist: Path | None = None, docs_paths: Iterable[str] = ()
) -> None:
    """Serve the UI from `dist` (default: the packaged build) for paths no route matched, and
    add the security headers (outermost, so every response has them); `docs_paths` are the
    API docs pages, whose policy is made from their own HTML."""
    router = app.router
    router.default = WebApp(dist or DIST_DIR, fallback=router.not_found)
    docs = [p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p]
    app.add_middleware(SecurityHeadersMiddleware, docs_paths=[*docs, *docs_paths])

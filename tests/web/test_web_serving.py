"""Serving the built UI: index and SPA fallback, asset caching, security headers, and never
shadowing the API, health, metrics or docs routes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chunkyard.api.app import create_app
from chunkyard.settings import Settings
from chunkyard.web import static
from chunkyard.web.static import DIST_DIR, accepts_gzip, content_security_policy, docs_policy

INDEX = "<!doctype html><html><head><script type=module src=/assets/app-abc123.js></script>" \
    "</head><body><div id=root></div></body></html>"


def _app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data",
        secret_key="serving-test-0123456789abcdef0123456789",
    )
    return create_app(settings)


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small build of our own, so the rules are tested apart from what Vite emits."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-abc123.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    monkeypatch.setattr(static, "DIST_DIR", root)
    return root


@pytest.fixture
def client(tmp_path: Path, dist: Path) -> Iterator[TestClient]:
    # No lifespan: these routes need no database.
    yield TestClient(_app(tmp_path))


def _assert_security_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["connect-src"].startswith("'self'")
    assert headers["x-content-type-options"] == "nosniff"


def test_index_is_served_with_the_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"
    _assert_security_headers(response)
    connect = response.headers["content-security-policy"].split("connect-src ")[1].split(";")[0]
    assert connect == "'self' ws://testserver wss://testserver"


@pytest.mark.parametrize(
    "path", ["/collections/0190f0f0-0000-7000-8000-000000000000", "/playground", "/compare",
             "/documents/x/chunks", "/login"],
)
def test_client_routes_fall_back_to_the_app(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    _assert_security_headers(response)


def test_assets_are_cached_for_a_year(client: TestClient) -> None:
    response = client.get("/assets/app-abc123.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.headers["content-type"]
    _assert_security_headers(response)
    icon = client.get("/favicon.svg")
    assert icon.headers["cache-control"] == "no-cache"
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert client.head("/assets/app-abc123.js").status_code == 200


@pytest.mark.parametrize("path", ["/assets/missing-123.js", "/robots.txt", "/assets/"])
def test_missing_files_are_a_404_not_the_app(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt",
             "/.hidden", "/assets//etc/passwd"],
)
def test_nothing_outside_the_build_is_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert "outside the build" not in response.text


def test_unknown_api_paths_keep_the_json_404(client: TestClient) -> None:
    for path in ("/api/v1/unknown", "/api/v1", "/api/v2/collections", "/api"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "not_found", "detail": f"there is nothing at {path}"}
        _assert_security_headers(response)


def test_writes_to_client_routes_are_not_answered_with_the_app(client: TestClient) -> None:
    response = client.post("/collections/x")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


def test_service_routes_are_never_shadowed(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    openapi = client.get("/openapi.json")
    assert openapi.json()["info"]["title"] == "Chunkyard"
    _assert_security_headers(openapi)
    metrics = client.get("/metrics")
    assert "<div id=root>" not in metrics.text
    assert client.get("/readyz/x").status_code == 404


def test_authenticated_routes_answer_401_not_the_app(tmp_path: Path, dist: Path) -> None:
    with TestClient(_app(tmp_path)) as client:  # with the lifespan: these need the database
        response = client.get("/api/v1/collections")
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        _assert_security_headers(response)


def test_the_docs_page_gets_a_policy_made_from_its_own_html(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert inline, "FastAPI's docs page starts Swagger UI with an inline script"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]
    # Offline: every script, stylesheet and icon is one of ours, none from a CDN.
    assert not re.search(r'(src|href)="https?://', response.text), response.text
    assert directives["script-src"].split()[0] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    for src in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', response.text):
        asset = client.get(src)
        assert asset.status_code == 200 and len(asset.content) > 1000, src
    assert client.get("/docs/assets/..%2Fsecret").status_code == 404
    assert response.headers["x-content-type-options"] == "nosniff"
    # The relaxed policy is for the docs pages only.
    assert client.get("/").headers["content-security-policy"] == content_security_policy(
        "testserver"
    )


def test_docs_policy_reads_scripts_styles_and_icons() -> None:
    html = (
        '<link rel="stylesheet" href="https://cdn.example/ui.css">'
        '<link rel="shortcut icon" href="https://img.example/i.png">'
        '<script src="https://cdn.example/ui.js"></script><script>start()</script>'
    )
    csp = docs_policy(html, None)
    digest = base64.b64encode(hashlib.sha256(b"start()").digest()).decode()
    assert f"script-src 'self' https://cdn.example 'sha256-{digest}';" in csp
    assert "style-src 'self' 'unsafe-inline' https://cdn.example;" in csp
    assert "img-src 'self' data: https://img.example;" in csp


def test_a_strange_host_header_stays_out_of_the_policy() -> None:
    assert "ws://" not in content_security_policy("evil.example; script-src *")
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")


def test_an_unbuilt_ui_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(static, "DIST_DIR", tmp_path / "nothing")
    client = TestClient(_app(tmp_path))
    response = client.get("/")
    assert response.status_code == 503
    assert response.json()["error"] == "ui_not_built"
    assert client.get("/healthz").status_code == 200


def test_the_packaged_build_is_there_and_has_no_inline_script() -> None:
    index = DIST_DIR / "index.html"
    assert index.is_file(), "build the UI: `npm ci && npm run build` in web/"
    html = index.read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts, "the app is loaded by a script"
    for attrs, body in scripts:
        assert "src=" in attrs and not body.strip(), "no inline script (CSP script-src 'self')"
    for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', html):
        assert (DIST_DIR / asset.lstrip("/")).is_file(), asset
    assert "on" + "error=" not in html


# -- compression ----------------------------------------------------------------------------------

BIG_JS = "".join(f"export const value{k} = {k} * 2; // a line of the app\n" for k in range(400))
BIG_INDEX = INDEX.replace("<div id=root></div>", "<div id=root></div>" + "<!-- pad -->" * 200)


@pytest.fixture
def gzipped(dist: Path) -> Path:
    """The small build with gzip copies of a big script and of index.html, as Vite writes
    them, and a big stylesheet without one."""
    (dist / "assets" / "big-abc123.js").write_text(BIG_JS)
    (dist / "assets" / "big-abc123.js.gz").write_bytes(gzip.compress(BIG_JS.encode(), mtime=0))
    (dist / "assets" / "plain-abc123.css").write_text("body { color: black }\n" * 200)
    (dist / "index.html").write_text(BIG_INDEX)
    (dist / "index.html.gz").write_bytes(gzip.compress(BIG_INDEX.encode(), mtime=0))
    return dist


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("gzip", True), ("gzip, deflate, br, zstd", True),
     ("br;q=1.0, gzip;q=0", False), ("GZip;Q=0.5", True), ("*", True), ("*;q=0", False),
     ("*, gzip;q=0", False), ("identity", False), ("br", False), ("x-gzip", True),
     ("gzip;q=nonsense", False)],
)
def test_accept_encoding_is_read_with_its_weights(value: str | None, expected: bool) -> None:
    assert accepts_gzip(value) is expected


def test_gzip_copies_go_to_clients_that_accept_gzip(client: TestClient, gzipped: Path) -> None:
    packed = (gzipped / "assets" / "big-abc123.js.gz").read_bytes()
    response = client.get("/assets/big-abc123.js", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(packed) < len(BIG_JS) // 3
    assert response.headers["vary"] == "Accept-Encoding"
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.text == BIG_JS  # the client unpacked it
    _assert_security_headers(response)
    head = client.head("/assets/big-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200 and head.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == str(len(packed))


@pytest.mark.parametrize("accept", ["identity", "br", "gzip;q=0", "*;q=0", ""])
def test_others_get_the_file_as_it_is(client: TestClient, gzipped: Path, accept: str) -> None:
    response = client.get("/assets/big-abc123.js", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(BIG_JS))
    assert response.headers["vary"] == "Accept-Encoding"  # caches keep the two apart
    assert response.text == BIG_JS


def test_the_app_page_is_sent_gzipped_under_every_client_route(
    client: TestClient, gzipped: Path
) -> None:
    for path in ("/", "/playground", "/collections/x"):
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, path
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert response.text == BIG_INDEX
        _assert_security_headers(response)


def test_files_without_a_copy_are_sent_as_they_are(client: TestClient, gzipped: Path) -> None:
    response = client.get("/assets/plain-abc123.css", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers and "vary" not in response.headers
    assert response.headers["content-type"].startswith("text/css")


def test_a_gzip_copy_is_not_served_under_its_own_name(client: TestClient, gzipped: Path) -> None:
    for path in ("/assets/big-abc123.js.gz", "/index.html.gz"):
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


def test_the_packaged_build_has_current_gzip_copies(tmp_path: Path) -> None:
    """Every sizeable text file of the build has a gzip copy that unpacks to it exactly (the
    build writes them; a stale copy would send old code), and the first screen's script is
    served compressed."""
    assets = DIST_DIR / "assets"
    texts = [p for p in assets.iterdir() if p.suffix in (".js", ".css")]
    assert texts
    for path in texts:
        copy = path.with_name(path.name + ".gz")
        if path.stat().st_size >= 4096:
            assert copy.is_file(), f"{path.name} has no gzip copy: rebuild the UI"
        if copy.is_file():
            assert gzip.decompress(copy.read_bytes()) == path.read_bytes(), path.name
    for copy in DIST_DIR.rglob("*.gz"):
        assert copy.with_suffix("").is_file(), f"{copy.name} is left over from an old build"
    html = (DIST_DIR / "index.html").read_text()
    entry = re.search(r'<script[^>]*src="(/assets/[^"]+)"', html)
    assert entry is not None
    client = TestClient(_app(tmp_path))
    response = client.get(entry.group(1), headers={"Accept-Encoding": "gzip, deflate"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == (DIST_DIR / entry.group(1).lstrip("/")).read_bytes()

"""The shipped nginx configuration in front of two real API processes and a real worker.

deploy/nginx/chunkyard.conf runs as it ships, only its ports and paths changed (`render`), in
a real nginx (Debian's nginx-light, scripts/deploy_tools.sh installs it) with TLS, in front of
two `chunkyard serve` processes and one `chunkyard worker` on PostgreSQL and Redis. A user
signs in (cookie and bearer), uploads, previews, runs an operation followed over the WebSocket
through nginx, pages and exports its chunks; both API processes served part of it. Uploads at
the app's limits get the app's answers, and what nginx answers itself is JSON too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import dbsupport
import serversupport
import workersupport
from chunkyard.auth.service import cli_create_user
from chunkyard.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "chunkyard.conf"
CORPUS = ROOT / "tests" / "corpus"
API = "/api/v1"
PASSWORD = "a long deployment test password"
START_TIMEOUT = 30.0
RUN_TIMEOUT = 90.0
FINAL = {"completed", "failed", "cancelled"}


def nginx_binary() -> str:
    path = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)
    if path is None:
        message = "nginx not found: scripts/deploy_tools.sh installs Debian's nginx-light"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def render(text: str, *, http_port: int, https_port: int, upstreams: list[int],
           cert: Path, key: Path, logs: Path) -> str:
    """The shipped configuration with this machine's ports and paths, and nothing else: each
    replaced text must be there (a changed file fails here, not silently)."""
    replacements = [
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{upstreams[0]} "),
        ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{upstreams[1]} "),
        ("/etc/ssl/chunkyard/fullchain.pem", str(cert)),
        ("/etc/ssl/chunkyard/privkey.pem", str(key)),
        ("/var/log/nginx/", f"{logs}/"),
    ]
    for old, new in replacements:
        assert old in text, f"{CONF.name} no longer has {old!r}: update render()"
        text = text.replace(old, new)
    return text


def main_conf(prefix: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf is on a server: the process, and the http block including
    the site; every path in `prefix`, so nginx runs as this user."""
    user = ""
    if os.geteuid() == 0:  # workers would otherwise drop to `nobody`, who cannot read prefix
        import grp
        import pwd

        user = (f"user {pwd.getpwuid(0).pw_name} {grp.getgrgid(os.getegid()).gr_name};")
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
{temp}
    access_log {prefix / 'access.log'};
    default_type application/octet-stream;
    include {site};
}}
"""


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@dataclass
class Stack:
    settings: Settings
    base: str  # https, through nginx
    plain: str  # http, through nginx
    replicas: list[serversupport.Server]
    ca: ssl.SSLContext
    username: str
    env: dict[str, str]
    tmp: Path

    @property
    def origin(self) -> str:
        return self.base

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, verify=self.ca, timeout=60)


class Nginx:
    def __init__(self, binary: str, prefix: Path, conf: Path) -> None:
        self.prefix = prefix
        command = [binary, "-p", str(prefix), "-c", str(conf)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        self.log = (prefix / "nginx.out").open("wb")
        self.proc = subprocess.Popen([*command, "-g", "daemon off;"], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, url: str, ca: ssl.SSLContext) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", verify=ca, timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        pytest.fail(f"nginx did not pass /healthz on in {START_TIMEOUT:.0f}s:\n{self.output()}")

    def output(self) -> str:
        parts = [self.prefix / "nginx.out", self.prefix / "error.log",
                 self.prefix / "logs" / "chunkyard.error.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful: the master, its workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([*workersupport.chunkyard_command(), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chunkyard {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = nginx_binary()
    tmp = tmp_path_factory.mktemp("deploy")
    databases = dbsupport.Databases(tmp, label="deploy")
    settings = workersupport.celery_settings(
        databases.fresh("postgresql"), secret_key=SecretStr("s" * 40)
    )
    env = workersupport.settings_env(settings)
    with contextlib.ExitStack() as stop:
        stop.callback(databases.drop_all)
        stop.callback(workersupport.remove_queue_keys, settings)
        # As chunkyard-migrate.service and an operator do, before any replica starts.
        run_cli(env, tmp, "db", "upgrade")
        username = "deployer"
        cli_create_user(settings, username, PASSWORD)  # `chunkyard users create`, in process
        replicas = [stop.enter_context(serversupport.serving(tmp, env, f"api-{i}"))
                    for i in (1, 2)]
        worker = workersupport.Worker(settings, tmp / "worker", concurrency=1).start()
        stop.callback(worker.stop)

        prefix = tmp / "nginx"
        (prefix / "logs").mkdir(parents=True)
        cert, key = self_signed(prefix)
        http_port, https_port = serversupport.free_port(), serversupport.free_port()
        site = prefix / "chunkyard.conf"
        site.write_text(render(
            CONF.read_text(encoding="utf-8"), http_port=http_port, https_port=https_port,
            upstreams=[int(s.url.rsplit(":", 1)[1]) for s in replicas], cert=cert, key=key,
            logs=prefix / "logs",
        ), encoding="utf-8")
        conf = prefix / "nginx.conf"
        conf.write_text(main_conf(prefix, site), encoding="utf-8")
        ca = ssl.create_default_context(cafile=str(cert))
        nginx = Nginx(binary, prefix, conf)
        stop.callback(nginx.stop)
        base = f"https://127.0.0.1:{https_port}"
        nginx.wait(base, ca)
        yield Stack(settings, base, f"http://127.0.0.1:{http_port}", replicas, ca, username,
                    env, tmp)


def sign_in(client: httpx.Client, stack: Stack) -> dict[str, str]:
    """Signs in (the client keeps the cookie); the bearer headers of the same login."""
    response = client.post(f"{API}/auth/login",
                           json={"username": stack.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    # The app saw https (X-Forwarded-Proto), so the cookie is Secure.
    assert "chunkyard_session=" in cookie and "secure" in cookie.lower(), cookie
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def api_requests(server: serversupport.Server) -> dict[str, float]:
    """Requests a replica answered under /api/v1, by route template, from its own /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if (sample.name == "chunkyard_http_request_duration_seconds_count"
                    and route.startswith(API)):
                counts[route] = counts.get(route, 0.0) + sample.value
    return counts


def follow(url: str, ca: ssl.SSLContext, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every event of an operation's WebSocket until it closes after the final one."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    with connect(url, ssl=ca, additional_headers=headers, open_timeout=10) as ws:
        while time.monotonic() < deadline:
            try:
                message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            except (TimeoutError, ConnectionClosed):  # closed after the final event
                break
            events.append(json.loads(message))
            if events[-1]["type"] in FINAL:
                break
    return events


def test_a_whole_flow_through_nginx_uses_both_replicas(stack: Stack) -> None:
    before = [sum(api_requests(server).values()) for server in stack.replicas]
    with stack.client() as client:
        bearer = sign_in(client, stack)
        same_site = {"Origin": stack.origin}
        # A cookie write from this origin passes the Origin check behind the proxy (Host with
        # its port and the scheme reach the app); one from another site is still refused.
        created = client.post(f"{API}/collections", headers=same_site,
                              json={"name": "deployed",
                                    "config": {"strategy": "recursive",
                                               "params": {"chunk_size": 64}}})
        assert created.status_code == 201, created.text
        collection = created.json()["id"]
        refused = client.post(f"{API}/collections", json={"name": "forged"},
                              headers={"Origin": "https://evil.example"})
        assert refused.status_code == 401 and refused.json()["error"] == "cross_site"

        files = [(name, (CORPUS / name).read_bytes()) for name in
                 ("guide.md", "prose.txt", "page.html", "report.pdf", "memo.docx")]
        uploaded = client.post(
            f"{API}/collections/{collection}/documents", headers=bearer,
            files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        )
        assert uploaded.status_code == 201, uploaded.text
        documents = uploaded.json()["items"]
        assert len(documents) == len(files)

        preview = client.post(f"{API}/preview", headers=same_site, json={
            "text": (CORPUS / "prose.txt").read_text(encoding="utf-8"),
            "strategy": "character", "params": {"chunk_size": 48}})
        assert preview.status_code == 200, preview.text
        assert preview.json()["total_chunks"] > 1
        of_document = client.post(f"{API}/preview", headers=bearer, json={
            "document_id": documents[0]["id"], "strategy": "markdown", "params": {}})
        assert of_document.status_code == 200, of_document.text
        assert of_document.json()["chunks"]

        started = client.post(f"{API}/collections/{collection}/operations", headers=bearer,
                              json={})
        assert started.status_code == 202, started.text
        operation = started.json()["id"]
        ws_url = stack.base.replace("https://", "wss://") + f"{API}/operations/{operation}/ws"
        events = follow(ws_url, stack.ca, bearer)
        assert events and events[-1]["type"] == "completed", events
        final = events[-1]["operation"]
        assert final["documents_done"] == len(files) and final["documents_failed"] == 0
        assert final["chunks_created"] > len(files)
        # The cookie over the WebSocket: wss:// through nginx is the page's https origin.
        cookie = f"chunkyard_session={client.cookies['chunkyard_session']}"
        again = follow(ws_url, stack.ca, {"Cookie": cookie, "Origin": stack.origin})
        assert [e["type"] for e in again] == ["completed"]
        with pytest.raises(Exception, match="401"):
            follow(ws_url, stack.ca, {"Cookie": cookie, "Origin": "https://evil.example"})

        listed: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(1000):
            page = client.get(f"{API}/collections/{collection}/chunks", headers=bearer,
                              params={"limit": 50, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            listed += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert len(listed) == final["chunks_created"]

        with client.stream("GET", f"{API}/collections/{collection}/export",
                           headers=bearer) as export:
            assert export.status_code == 200
            assert export.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in export.iter_lines() if line]
        assert [line["id"] for line in lines] == [chunk["id"] for chunk in listed]

    # Both replicas answered part of it (nginx sent the requests to both, in turn).
    after = [sum(api_requests(server).values()) for server in stack.replicas]
    served = [a - b for a, b in zip(after, before, strict=True)]
    assert all(count >= 4 for count in served), served


def test_nginx_answers_health_metrics_and_plain_http_itself(stack: Stack) -> None:
    with stack.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        metrics = client.get("/metrics")  # each replica is scraped directly, not through here
        assert metrics.status_code == 404 and metrics.json()["error"] == "not_found"
    plain = httpx.get(f"{stack.plain}/healthz", timeout=10)
    assert plain.status_code == 200
    redirect = httpx.get(f"{stack.plain}{API}/collections", timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://127.0.0.1")


def raw_post(stack: Stack, path: str, length: int) -> tuple[int, dict[str, str], bytes]:
    """A POST that declares `length` bytes and sends none: what nginx answers to the headers."""
    port = int(stack.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            stack.ca.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {length}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_uploads_at_the_limits_get_the_apps_answers(stack: Stack) -> None:
    limit = stack.settings.max_upload_bytes
    assert stack.settings.max_request_bytes is None  # the default: one file and its framing
    with stack.client() as client:
        bearer = sign_in(client, stack)
        collection = client.post(f"{API}/collections", headers=bearer,
                                 json={"name": "big"}).json()["id"]
        path = f"{API}/collections/{collection}/documents"
        line = b"a line of words about chunking and retrieval, to be stored\n"
        biggest = (line * (limit // len(line) + 1))[:limit]
        ok = client.post(path, headers=bearer,
                         files=[("files", ("biggest.txt", biggest, "text/plain"))])
        assert ok.status_code == 201, ok.text
        assert ok.json()["items"][0]["size_bytes"] == limit
        over = client.post(path, headers=bearer,
                           files=[("files", ("over.txt", biggest + b"x", "text/plain"))])
        assert over.status_code == 413 and over.json()["error"] == "file_too_large", over.text
    # Past nginx's own cap (client_max_body_size, just above the app's request limit, as
    # test_deploy_systemd.py checks): its refusal is the same JSON form.
    status, headers, body = raw_post(stack, path, 60 * 1024 * 1024)
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "payload_too_large"


def secure_cookie_when_forwarded_https(url: str, username: str) -> bool:
    """Signs in directly (not through nginx), claiming X-Forwarded-Proto https: whether the
    server believed it (its cookie is then Secure)."""
    response = httpx.post(f"{url}{API}/auth/login", timeout=30,
                          json={"username": username, "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200, response.text
    return "secure" in response.headers["set-cookie"].lower()


def test_forwarded_headers_are_believed_only_from_the_allowed_proxies(stack: Stack) -> None:
    # By default a proxy on this machine (loopback) is believed...
    assert secure_cookie_when_forwarded_https(stack.replicas[0].url, stack.username)
    # ...and with --forwarded-allow-ips naming another address, loopback no longer is.
    port = serversupport.free_port()
    log = stack.tmp / "api-elsewhere.stderr"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [serversupport.EXE, "serve", "--port", str(port),
             "--forwarded-allow-ips", "192.0.2.10,198.51.100.0/24"],
            stdout=subprocess.DEVNULL, stderr=err, cwd=stack.tmp, env=stack.env)
    server = serversupport.Server(proc, port, log)
    try:
        server.wait_healthy()
        assert not secure_cookie_when_forwarded_https(server.url, stack.username)
    finally:
        if proc.poll() is None:
            server.stop()


def test_a_stopped_replica_is_skipped_and_none_left_is_a_503(stack: Stack) -> None:
    """Last in this module: it stops both replicas."""
    assert stack.replicas[1].stop() == 0
    with stack.client() as client:
        bearer = sign_in(client, stack)
        statuses = [client.get(f"{API}/collections", headers=bearer).status_code
                    for _ in range(6)]
        assert statuses == [200] * 6
        assert stack.replicas[0].stop() == 0
        none_left = client.get(f"{API}/collections", headers=bearer)
    assert none_left.status_code == 503 and none_left.headers["retry-after"] == "5"
    assert none_left.json()["error"] == "unavailable"

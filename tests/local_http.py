"""A real HTTP server on 127.0.0.1 in a thread, for tests of our HTTP clients."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

S = TypeVar("S", bound=ThreadingHTTPServer)


@contextmanager
def serving(server_class: type[S], handler: type[BaseHTTPRequestHandler]) -> Iterator[S]:
    """Start `server_class` on a free loopback port with an empty `calls` list; stop it after."""
    httpd = server_class(("127.0.0.1", 0), handler)
    httpd.calls = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

"""`chunkyard serve`: run the HTTP API (and, without a Celery broker, its jobs) with uvicorn.

Before the server starts, everything that can fail for a reason the user can fix is done here
and reported in one line: the settings are read and validated, the address is bound (a port
in use or an unknown host), the database is prepared (the embedded SQLite file migrated; a
PostgreSQL database must already be migrated by `chunkyard db upgrade`) and, on a database with
no users, the first administrator is created and its password printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from chunkyard.cli.common import PROG, error, load_settings
from chunkyard.core.types import ChunkingError

if TYPE_CHECKING:
    import uvicorn

    from chunkyard.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# Whose X-Forwarded-* headers are believed by default: a reverse proxy on this machine. They
# give the client's address (login throttling) and scheme (the Origin check, Secure cookies).
TRUSTED_PROXIES = "127.0.0.1,::1"


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number (0 to 65535)")
    return port


def _proxies(raw: str) -> str:
    """Addresses and networks, comma-separated, or `*`; refused when one is neither (uvicorn
    would take it silently as a literal that no client address ever equals)."""
    import ipaddress

    items = [item.strip() for item in raw.split(",")]
    if items == ["*"]:
        return "*"
    for item in items:
        try:
            if "/" in item:
                ipaddress.ip_network(item, strict=False)
            else:
                ipaddress.ip_address(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return ",".join(items)


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serve", parents=parents, help="run the HTTP API, WebSocket and web UI",
        description="Run the service. Settings come from CHUNKYARD_* environment variables "
        "(and .env). The embedded SQLite database is migrated on start; PostgreSQL needs "
        "`chunkyard db upgrade` first. On a database with no users, an administrator `admin` "
        "is created and its password printed once.",
    )
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}; 0.0.0.0 for all)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port to listen on (default: {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                   help="the server's log level (default: info)")
    p.add_argument("--forwarded-allow-ips", type=_proxies, metavar="ADDRESSES", default=None,
                   help="comma-separated addresses or networks of the reverse proxies whose "
                   "X-Forwarded-For and X-Forwarded-Proto are believed, '*' for any "
                   f"(default: {TRUSTED_PROXIES}, a proxy on this machine)")
    p.set_defaults(handler=run_serve)



def bind(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` (not yet listening), or one `ChunkingError` line."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:  # socket.gaierror for an unknown host
        raise ChunkingError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    try:
        # As uvicorn does: a restart may reuse the port while old connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ChunkingError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    return sock


async def _prepare(settings: Settings) -> str | None:
    """Migrate (SQLite) or check (PostgreSQL) the schema; the first user's password if made."""
    from chunkyard.auth.bootstrap import ensure_first_user
    from chunkyard.storage import migrate
    from chunkyard.storage.prepare import is_sqlite, prepare_database

    await prepare_database(settings)
    if not is_sqlite(settings):
        current, head = await migrate.current_revision(settings), migrate.head_revision()
        if current != head:
            state = f"is at revision {current}" if current else "has no schema yet"
            raise ChunkingError(
                f"the database {state}, not the newest ({head}): run `chunkyard db upgrade` first"
            )
    return await ensure_first_user(settings)


def prepare(settings: Settings) -> str | None:
    """`_prepare`, with the database's errors as one `ChunkingError` line naming it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from chunkyard.storage.safety import MigrationSafetyError

    try:
        return asyncio.run(_prepare(settings))
    except (DBAPIError, OSError) as exc:
        where = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        reason = getattr(exc, "orig", None) or exc
        raise ChunkingError(f"cannot use the database {where}: {reason}") from exc
    except (MigrationSafetyError, SQLAlchemyError, ValueError) as exc:
        raise ChunkingError(str(exc)) from exc


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from chunkyard.auth.secret import SecretFileError, signing_key

    settings = load_settings()
    sock = bind(args.host, args.port)
    try:
        from chunkyard.api.metrics import check_multiprocess_dir

        check_multiprocess_dir()  # as create_app does, but before a first password is shown
        try:
            # Before the database is touched, so a bad secret file never comes after the
            # first admin's password was shown; create_app finds the key cached.
            signing_key(settings)
        except SecretFileError as exc:
            raise ChunkingError(str(exc)) from exc
        password = prepare(settings)
        if password is not None:
            print(
                f"{PROG}: created the first user: admin / {password}\n"
                f"{PROG}: this password is shown only once: keep it now. "
                "Add more users with `chunkyard users create`.",
                file=sys.stderr, flush=True,
            )
        from chunkyard.api.app import create_app

        config = uvicorn.Config(
            create_app(settings), host=args.host, port=sock.getsockname()[1],
            log_level=args.log_level, lifespan="on",
            # None: uvicorn's FORWARDED_ALLOW_IPS, else loopback (TRUSTED_PROXIES).
            proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips,
        )
        server = _announcing_server(config)
    except BaseException:
        sock.close()
        raise

    # uvicorn stops gracefully on SIGINT and SIGTERM, then raises the signal again for the
    # handler that was there before it. A stop asked for is a clean exit, so that handler
    # only records it (and stops a server that has not started yet).
    def stop(signum: int, frame: Any) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn's exit when the app's startup fails; it has logged why
        error("the service failed to start (see the log above)")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _announcing_server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server that says where it listens once it does (given a socket, it doesn't)."""
    import logging

    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and sockets:
                host, port = sockets[0].getsockname()[:2]
                where = f"[{host}]" if ":" in host else host
                logging.getLogger("uvicorn.error").info(
                    "Chunkyard running on http://%s:%d (press CTRL+C to quit)", where, port
                )

    return Server(config)

"""Which errors are worth a retry: the database or Redis unreachable, or a connection broken;
and, among them, which say the service is busy rather than down (`is_overloaded`)."""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Callable

import kombu.exceptions
import redis.exceptions
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL errors a retry may well not meet again: the server shutting down, crashed or
# starting up, too many connections, and the two it asks clients to retry (serialization
# failure, deadlock). Class 08 (connection exceptions) is matched by its prefix.
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
# Socket errors of a peer that is down, restarting or unreachable.
_NETWORK_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN,
})


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the database or Redis could not be reached, or a
    connection to them broke, rather than that the job or its input is wrong.

    Transient: SQLAlchemy errors that invalidated their connection, the connection pool's
    timeout, PostgreSQL's connection SQLSTATEs (above), SQLite's "database is locked",
    Redis connection and timeout errors, the Celery broker's (kombu's `OperationalError`),
    and the OS's connection errors (refused, reset, timed out, unreachable;
    `ConnectionError`, `TimeoutError`, a temporary DNS failure).
    Everything else (constraint violations, bad SQL, bugs, bad input) is not.
    """
    return _any_in_chain(exc, _transient_itself)


def is_overloaded(exc: BaseException) -> bool:
    """Whether `exc` is a transient error that says the service is too busy right now, not
    unreachable: the connection pool's timeout (every connection in use), SQLite's lock wait
    running out ("database is locked": writers queued past the busy timeout), PostgreSQL's
    "too many connections". The API answers these as it answers too many requests (429,
    `overloaded`, with `Retry-After`), an outage with 503."""
    return _any_in_chain(exc, _overloaded_itself)


def _any_in_chain(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    """`test` of `exc` or of what it wraps (its causes, a DBAPIError's driver error)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen or len(seen) > 16:
            continue
        seen.add(id(error))
        if test(error):
            return True
        pending.append(error.__cause__)
        if isinstance(error, DBAPIError):
            orig = error.orig
            pending.append(orig if isinstance(orig, BaseException) else None)
    return False


def _overloaded_itself(error: BaseException) -> bool:
    if isinstance(error, PoolTimeout):
        return True
    if getattr(error, "sqlstate", None) == "53300":
        return True
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "busy" in str(error)
    return False




def _transient_itself(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeout | ConnectionError | TimeoutError):
        return True
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    if isinstance(error, kombu.exceptions.OperationalError):  # the broker, e.g. sending parts
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in
                                      _TRANSIENT_SQLSTATES):
        return True
    if isinstance(error, socket.gaierror):
        return error.errno == socket.EAI_AGAIN
    if isinstance(error, OSError):
        return error.errno in _NETWORK_ERRNOS
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "busy" in str(error)
    return False

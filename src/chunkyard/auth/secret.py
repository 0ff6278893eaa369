"""The key that signs session tokens: `CHUNKYARD_SECRET_KEY`, else a random one kept in the data
directory.

With no secret configured, the first process on a data directory writes 32 random bytes (hex) to
`<data_dir>/secret_key` with mode 0600, and every process on that directory reads the same file,
so tokens issued by one API process (or before a restart) are accepted by the others. Deleting the
file and restarting rotates the key: every session ends. No secret is ever written in the source.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from functools import lru_cache
from pathlib import Path

from chunkyard.settings import MIN_SECRET_KEY_CHARS, Settings

SECRET_FILENAME = "secret_key"
SECRET_BYTES = 32


class SecretFileError(RuntimeError):
    """The data directory's secret file cannot be read or created."""


def signing_key(settings: Settings) -> str:
    """The HS256 key for `settings`: the configured secret, or the data directory's. Called
    for every token; after the first call per directory it touches no file."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return _data_dir_secret(secret_path(settings))


def secret_path(settings: Settings) -> Path:
    return settings.data_dir.expanduser() / SECRET_FILENAME


@lru_cache(maxsize=16)
def _data_dir_secret(path: Path) -> str:
    """The secret in `path`, created first when absent. Cached per file: a file deleted
    under a running process takes effect at its restart, never half-way."""
    value = _read(path)
    if value is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _create(path)
        except OSError as exc:
            raise SecretFileError(
                f"cannot create the secret file {path}: {exc.strerror or exc}"
            ) from exc
        value = _read(path)
    if value is None:
        raise SecretFileError(f"the secret file {path} vanished as it was created")
    return value


def _create(path: Path) -> None:
    """Write a new secret to a private temporary file, then link it into place: the link fails
    when another process got there first, so two processes starting together agree on one
    secret and no reader ever sees a half-written file."""
    tmp = path.with_name(f".{SECRET_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process's secret stands
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> str | None:
    """The secret in `path` (made private if it was not); None when there is no such file."""
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            # Readable by others means anyone on the machine could forge sessions.
            path.chmod(0o600)
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"cannot use the secret file {path}: {exc}") from exc
    if len(value) < MIN_SECRET_KEY_CHARS:
        raise SecretFileError(
            f"the secret file {path} holds fewer than {MIN_SECRET_KEY_CHARS} characters; "
            "delete it to have a new one created (every session ends)"
        )
    return value

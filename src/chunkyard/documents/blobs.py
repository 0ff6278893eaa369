"""Content-addressed file storage: `data_dir/blobs/<sha256[:2]>/<sha256>`, written atomically.

An upload is first copied to a temporary file under `data_dir/blobs/.incoming` (the same file
system, so the final `os.replace` is atomic) while it is hashed, counted and sniffed. Blocking
file I/O; callers run these functions in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Bytes of a file that `detect_kind` sees; enough for a DOCX's first local headers.
HEAD_BYTES = 64 * 1024
_COPY_BUFFER = 1024 * 1024


def blobs_dir(data_dir: Path) -> Path:
    return data_dir.expanduser() / "blobs"


def relative_blob_path(sha256: str) -> str:
    """Where a blob lives, relative to the data directory (stored as `Document.storage_path`)."""
    return f"blobs/{sha256[:2]}/{sha256}"


@dataclass(frozen=True, slots=True)
class Spooled:
    """An upload copied to a temporary file: its path, digest, size and first bytes."""

    path: Path
    sha256: str
    size: int
    head: bytes
    too_large: bool


def spool(source: BinaryIO, data_dir: Path, limit: int) -> Spooled:
    """Copy `source` to a temporary file while hashing and counting; stop past `limit` bytes
    (`too_large`, and the temporary file is already gone)."""
    incoming = blobs_dir(data_dir) / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=incoming, prefix="upload-")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            while block := source.read(_COPY_BUFFER):
                size += len(block)
                if size > limit:
                    path.unlink(missing_ok=True)
                    return Spooled(path, "", size, head, too_large=True)
                if len(head) < HEAD_BYTES:
                    head += block[: HEAD_BYTES - len(head)]
                digest.update(block)
                out.write(block)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Spooled(path, digest.hexdigest(), size, head, too_large=False)


def discard(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def commit_blob(spooled: Path, data_dir: Path, sha256: str) -> None:
    """Move a spooled file to its content address; identical content is kept once."""
    target = data_dir.expanduser() / relative_blob_path(sha256)
    if target.exists():
        spooled.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(spooled, target)  # atomic: readers see the whole file or none


def remove_blob(data_dir: Path, sha256: str) -> None:
    with contextlib.suppress(OSError):
        (data_dir.expanduser() / relative_blob_path(sha256)).unlink(missing_ok=True)

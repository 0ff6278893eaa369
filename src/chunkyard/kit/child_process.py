"""What every chunking child process does first: end with its parent, and live under the
memory cap (`CHUNKYARD_OPERATION_MEMORY_MB`).

The cap is on the address space (RLIMIT_AS), the one limit that holds for every allocation
(Python's, numpy's, the Rust tokenizers'): past it an allocation fails, which Python raises as
`MemoryError` and native code usually turns into an abort. Thread arenas and thread pools
reserve address space they never use (glibc reserves 64 MB per thread that allocates), so a
child runs its native libraries on one thread and with two malloc arenas: the default
strategies and the static model then need about 320 MB of address space, leaving the rest to
the document. Torch (the `local` embedding model) maps about 1.5 GB by itself: it needs a
cap of 2000 MB or more.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import threading
import time

logger = logging.getLogger("chunkyard.worker")

# How often a child checks that the process that started it is still alive.
PARENT_CHECK_SECONDS = 0.5

# Exit codes and signals that mean a child ran out of memory: our own exit after a
# `MemoryError`, an abort (Rust and C++ abort when an allocation fails), the kernel's OOM kill.
OUT_OF_MEMORY_EXIT = 75
_OUT_OF_MEMORY_CODES = {OUT_OF_MEMORY_EXIT, -signal.SIGABRT, -signal.SIGKILL}

# Native thread pools read these when they start: set before numpy or tokenizers load.
_ONE_THREAD = {
    "RAYON_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def memory_message(memory_mb: int, what: str = "this document") -> str:
    """The reason a document (or a preview) that hit the cap fails with."""
    return (f"{what} needs more than {memory_mb} MB of memory to extract and chunk "
            "(CHUNKYARD_OPERATION_MEMORY_MB)")


def died_of_memory(exitcode: int | None) -> bool:
    """Whether a child's exit code says it ran out of memory (or was killed for it)."""
    return exitcode in _OUT_OF_MEMORY_CODES


def ran_out_of_memory(exc: BaseException, memory_mb: int) -> bool:
    """Whether `exc` is the cap reached: a `MemoryError`; and, under a cap, a native tokenizer's
    panic (Rust panics where an allocation, or a Python call it makes, fails) or a shared
    library that could not be mapped (a lazily loaded tokenizer over the cap)."""
    if isinstance(exc, MemoryError):
        return True
    if not memory_mb:
        return False
    if type(exc).__name__ == "PanicException":
        return True
    return isinstance(exc, ImportError) and "failed to map segment" in str(exc)


def child_environment() -> dict[str, str]:
    """The environment a new child starts with: ours, native libraries on one thread, and two
    malloc arenas (glibc reads this one only at start)."""
    return {**os.environ, **_ONE_THREAD, "MALLOC_ARENA_MAX": "2"}


def prepare_child(parent: int, memory_mb: int) -> None:
    """In a new child process, before anything heavy loads: end with `parent` however it ends
    (killed with SIGKILL it cannot stop us: an orphan would hold its memory for ever), run
    native libraries on one thread, and cap the address space at `memory_mb` (0: no cap)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="chunkyard-parent-watch").start()
    for name, value in _ONE_THREAD.items():
        os.environ.setdefault(name, value)
    _limit_malloc_arenas()
    if memory_mb > 0:
        cap_address_space(memory_mb)


def cap_address_space(memory_mb: int) -> bool:
    """Cap this process's address space at `memory_mb`; False where it cannot be capped."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError) as exc:
        logger.warning("cannot cap a chunking process's memory at %d MB: %r", memory_mb, exc)
        return False
    return True


def _limit_malloc_arenas() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to limit
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)

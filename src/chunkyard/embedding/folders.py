"""One loaded model per folder per process: a load costs time and memory (MiniLM ~0.4 s and
~90 MB, the static model ~50 ms and ~30 MB), and every strategy instance, worker thread and
request using that folder should share it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerFolder(Generic[T]):
    """Loads a folder's model on first use, under a lock so two threads never load it twice."""

    def __init__(self, load: Callable[[str], T]) -> None:
        self._load = load
        self._loaded: dict[str, T] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> T:
        with self._lock:
            if path not in self._loaded:
                self._loaded[path] = self._load(path)
            return self._loaded[path]

    def paths(self) -> list[str]:
        """The folders loaded so far."""
        with self._lock:
            return list(self._loaded)

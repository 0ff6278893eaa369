"""Shared test helpers: the SPEC section 1 invariant checker used by many test modules."""

from __future__ import annotations

import os

# Tests never download anything: models and tokenizers come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

"""An optional faster engine for cl100k: the `bpe-openai` Rust tokenizer, trusted only after
it reproduces tiktoken exactly on a built-in self-test.

The same vocabulary and pre-tokenizer give the same tokens; this engine encodes about twice as
fast as tiktoken on one core. tiktoken stays the reference: if the package is missing or any
self-test string tokenizes differently, Chunkyard uses tiktoken alone.

The self-test compares the engine with tiktoken's tokens of the self-test strings, recorded
in `SELF_TEST_TOKENS` (count and digest per string) so that a process need not build
tiktoken's encoder (0.2 s) only to check the engine; `tests/core/test_sizing.py` recomputes
them with tiktoken on the shipped, hash-checked vocabulary.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Strings that exercise every alternative of the cl100k pre-tokenizer regex: contractions,
# letters with a leading mark, digit runs, punctuation runs with line breaks, whitespace runs
# at the end and before words, CJK, emoji (multi-token characters), combining marks and text
# that looks like special tokens (which must count as ordinary text).
SELF_TEST = (
    "Hello, world! It's 12345 o'clock; they'll say \"we've\" done   it.\n\n",
    "def f(x):\r\n    return x ** 2  # comment\t\t\n\n\n   \n",
    "中文字符和日本語の文。한국어 텍스트! émigré naïve café e\u0301 a\u0308\u0301",
    "😀👩‍💻🎉 emoji 🇺🇸 flags \u00a0nbsp\u3000ideographic space  \u2028",
    "<|endoftext|> <|fim_prefix|> special-looking text <|endofprompt|>",
    "****____####````[[[[\\\\\\\\----====>>>>||||" * 8 + "   \n\t \r\n",
    "URL https://example.com/a?b=c&d=e#f and email a.b@c.de, 3.14159 and 1,000,000.",
    "x" * 300 + " " + "ab" * 150 + "\n" + " " * 40 + "end",
)

# tiktoken's `encode_ordinary` of each SELF_TEST string, then of all of them joined: the token
# count and the first 32 hex digits of the sha256 of the ids joined by commas.
SELF_TEST_TOKENS = (
    (23, "cea2c15d581e37f77eacc0c4a25ca4a6"),
    (16, "0e8cb1fda7202ef62099d150f40b2267"),
    (32, "4db29692b05675febb71fe3a25568e79"),
    (29, "2e7773f4597d44ecd3ada8c7ab5ec5c9"),
    (22, "91e18346a47e11fc8922ed0105097535"),
    (98, "e894ac985bff5223b9b5fd67a311fc4c"),
    (34, "399bfea882b7edb330a9484af977aee4"),
    (191, "e5af3f9f3fd23aa4dacc406a7b856699"),
    (445, "0ba3e98db1d4d06c5760a31da81fb2ab"),
)

_FastEncode = Callable[[str], list[int]]


def token_digest(tokens: list[int]) -> tuple[int, str]:
    """How SELF_TEST_TOKENS records a tokenization."""
    joined = ",".join(map(str, tokens)).encode("ascii")
    return len(tokens), hashlib.sha256(joined).hexdigest()[:32]


def _load_bindings() -> Any:
    """The compiled module alone: the package's __init__ parses its own rank files in Python
    (slow, and it warns), none of which the Rust engine needs."""
    try:
        spec = importlib.util.find_spec("bpe_openai")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in os.listdir(folder):
            if name.startswith("_bindings.") and name.endswith((".so", ".pyd")):
                path = os.path.join(folder, name)
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", path)
                module_spec = importlib.util.spec_from_file_location(
                    "bpe_openai._bindings", path, loader=loader)
                if module_spec is None:
                    return None
                module = importlib.util.module_from_spec(module_spec)
                loader.exec_module(module)
                return module
    return None


def load_fast_cl100k() -> tuple[_FastEncode, Any] | None:
    """`(encode, count)` of the fast engine if present and identical to tiktoken."""
    bindings = _load_bindings()
    if bindings is None:
        return None
    try:
        engine = bindings.tokenizer_for_encoding("cl100k_base")
        samples = (*SELF_TEST, "".join(SELF_TEST))
        for sample, expected in zip(samples, SELF_TEST_TOKENS, strict=True):
            tokens = list(engine.encode(sample))
            if token_digest(tokens) != expected or engine.count(sample) != len(tokens):
                log.warning("bpe-openai differs from tiktoken on its self-test; using tiktoken")
                return None
    except Exception as exc:  # a broken optional accelerator must never break chunking
        log.warning("bpe-openai unusable (%s); using tiktoken", exc)
        return None
    return engine.encode, engine.count

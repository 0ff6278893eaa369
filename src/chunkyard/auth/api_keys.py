"""API keys: `cky_<prefix>_<secret>`, shown once; stored as the prefix plus a SHA-256 hash.

The secret has 256 bits of entropy, so a plain SHA-256 is enough (a slow hash protects
guessable passwords, not random keys), and the unique prefix finds the row without a scan.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_MARKER = "cky_"
_KEY_RE = re.compile(r"cky_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class NewKey:
    prefix: str
    plaintext: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def generate_key() -> NewKey:
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_MARKER}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(prefix=prefix, plaintext=plaintext, key_hash=hash_key(plaintext))


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_MARKER)


def parse_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    match = _KEY_RE.fullmatch(plaintext)
    return match.group(1) if match else None


def key_matches(plaintext: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), key_hash)

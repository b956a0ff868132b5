"""Identifiers, timestamps and API-key secrets."""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

KEY_PREFIX = "pvk_"


def new_id(kind: str) -> str:
    """A random, sortable-enough identifier such as `wrk_3f2a...`."""
    return f"{kind}_{secrets.token_hex(10)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_api_key() -> str:
    """A fresh API key secret; shown to its owner once, stored only as a hash."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two key hashes."""
    return hmac.compare_digest(a.encode(), b.encode())

"""Where a work is published: http(s) URLs, normalised so that a lookup finds the URL however it is spelt.

Normalisation (RFC 3986 section 6.2.2 and 6.2.3, as crawlers compare URLs): scheme and host in lower case,
the default port dropped, an empty path made `/`, the fragment dropped (it never reaches the server);
the path and query are kept as they are (servers may treat them case-sensitively). User information
(`user:password@`) is refused: it does not name a place, and a URL holding a password should not be stored.
"""

from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit, urlunsplit

from registry.errors import InvalidInput

MAX_LOCATIONS = 100
MAX_URL_LENGTH = 2000
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str:
    """The URL in its normal form; InvalidInput saying what is wrong with one that is not an http(s) URL."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise InvalidInput(f"a location must be an http:// or https:// URL of at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise InvalidInput(f"location {text[:80]!r} holds spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"location {text[:80]!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidInput(f"location {text[:80]!r} is not an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"location {text[:80]!r} holds user information (user@host); leave it out")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidInput(f"location {text[:80]!r} has no host")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return urlunsplit(SplitResult(scheme, netloc, parts.path or "/", parts.query, ""))


def normalize_locations(urls: Sequence[str]) -> tuple[str, ...]:
    """Each URL normalised, duplicates dropped (first kept), at most `MAX_LOCATIONS`."""
    if len(urls) > MAX_LOCATIONS:
        raise InvalidInput(f"a work has at most {MAX_LOCATIONS} locations, not {len(urls)}")
    return tuple(dict.fromkeys(normalize_url(u) for u in urls))

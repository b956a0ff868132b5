"""Web security: the signing secret, the session and CSRF configuration, and the security headers.

Sessions are cookies encrypted and signed with AES-GCM (litestar's client-side sessions) holding only the
SHA-256 of the API key used to sign in and an expiry, so every request re-authenticates against the store
and a revoked key ends its sessions at once. Replicas must share the secret (`PROVENANCE_SESSION_SECRET`);
with none set, one is made and kept in `data_dir/session.key`.
"""

import hashlib
import os
import secrets
from pathlib import Path

from litestar.config.csrf import CSRFConfig
from litestar.enums import ScopeType
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

API_PATHS = ["^/v1/", "^/schema"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def load_secret(configured: str | None, data_dir: Path) -> str:
    """The configured secret, else the one kept in `data_dir/session.key` (made on first start)."""
    if configured:
        if len(configured) < 32:
            raise ValueError("PROVENANCE_SESSION_SECRET must be at least 32 characters; "
                             "make one with: python -c 'import secrets; print(secrets.token_hex(32))'")
        return configured
    path = data_dir / "session.key"
    if not path.exists():
        # written whole to a private file, then linked into place: replicas starting together on a shared
        # data directory all end up reading the one secret that won
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".session.key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def _derive(secret: str, purpose: str) -> bytes:
    return hashlib.sha256(f"provenance-{purpose}:{secret}".encode()).digest()


def session_config(secret: str, *, secure: bool, hours: float) -> CookieBackendConfig:
    return CookieBackendConfig(secret=_derive(secret, "session"), key="provenance_session", httponly=True,
                               samesite="lax", secure=secure, max_age=int(hours * 3600), exclude=API_PATHS)


def csrf_config(secret: str, *, secure: bool) -> CSRFConfig:
    """Double-submit tokens on every unsafe web request; the bearer-key API is exempt (no ambient cookies)."""
    return CSRFConfig(secret=_derive(secret, "csrf").hex(), cookie_name="provenance_csrf", cookie_httponly=True,
                      cookie_samesite="strict", cookie_secure=secure, exclude=API_PATHS)


def security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware adding CSP (with frame-ancestors), nosniff and friends to every page, the API docs
    included (their assets are served from here)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware

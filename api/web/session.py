"""Who is signed in: the session cookie's key hash, checked against the store on every request."""

import time
from typing import Any

from litestar import Request

from api.deps import loaded_registry
from api.ratelimit import RateLimiter
from registry.ids import hash_api_key
from registry.models import Account, Role
from service import access
from service.access import UseCase
from service.registry import Registry

# route option of every web page: the API's bearer-key middleware leaves them alone (they use the session)
WEB_PAGE = {"exclude_from_auth": True}

HOME = {Role.CREATOR: "/works", Role.OPERATOR: "/check", Role.AUDITOR: "/audit", Role.ADMIN: "/works"}


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""

    def __init__(self, next_path: str, reason: str = "") -> None:
        super().__init__(reason or "sign in first")
        self.next_path = next_path
        self.reason = reason  # "", "expired" or "revoked"


def sign_in(request: Request[Any, Any, Any], registry: Registry, secret: str, hours: float) -> Account | None:
    """Start a session for the key `secret`; None when the key is unknown or revoked."""
    key_hash = hash_api_key(secret.strip())
    found = registry.authenticate_hash(key_hash)
    if found is None:
        return None
    request.set_session({"kh": key_hash, "exp": time.time() + hours * 3600})
    return found[1]


def web_account(request: Request[Any, Any, Any]) -> Account:
    """The signed-in account (the `account` dependency of every page); else a redirect to sign in."""
    registry = loaded_registry(request.app.state)
    session = request.session if "session" in request.scope else {}
    key_hash, expires = session.get("kh"), session.get("exp")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not isinstance(key_hash, str) or not isinstance(expires, int | float):
        raise SignInRequired(target)
    if expires < time.time():
        request.clear_session()
        raise SignInRequired(target, "expired")
    found = registry.authenticate_hash(key_hash)
    if found is None:
        request.clear_session()
        raise SignInRequired(target, "revoked")
    key, account = found
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    if limiter is not None:
        limiter.hit(key.id)
    request.scope["user"] = account  # error pages show the navigation of the signed-in account
    return account


def signed_in(request: Request[Any, Any, Any], use: UseCase) -> tuple[Account, Registry]:
    """The signed-in account, if the access policy admits its role to `use` (else a 403 page), and the registry."""
    account = web_account(request)
    access.require(account, use)
    return account, loaded_registry(request.app.state)

"""Who is signed in: the session cookie holds a session id; the session itself (which key, until when) is held
in the store and checked on every request, so signing out or revoking the key ends it everywhere."""

from typing import Any

from litestar import Request

from api.deps import loaded_registry
from api.ratelimit import FailureThrottle, RateLimiter
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
    """Start a session for the key `secret` (held on the server; the cookie holds only its id); None when the
    key is unknown or revoked. Failed attempts are throttled per client address."""
    throttle: FailureThrottle | None = getattr(request.app.state, "throttle", None)
    address = request.client.host if request.client else "unknown"
    if throttle is not None:
        throttle.check(address)
    started = registry.start_session(secret, hours)
    if started is None:
        if throttle is not None:
            throttle.failed(address)
        return None
    session_id, account = started
    request.set_session({"sid": session_id})
    return account


def sign_out(request: Request[Any, Any, Any]) -> None:
    """End the session on the server (a copy of the cookie stops working too) and clear the cookie."""
    session = request.session if "session" in request.scope else {}
    session_id = session.get("sid")
    if isinstance(session_id, str):
        loaded_registry(request.app.state).end_session(session_id)
    request.clear_session()


def web_account(request: Request[Any, Any, Any]) -> Account:
    """The signed-in account (the `account` dependency of every page); else a redirect to sign in."""
    registry = loaded_registry(request.app.state)
    session = request.session if "session" in request.scope else {}
    session_id = session.get("sid")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not isinstance(session_id, str):
        raise SignInRequired(target)
    found = registry.session(session_id)
    if isinstance(found, str):
        request.clear_session()
        raise SignInRequired(target, "" if found == "ended" else found)
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

"""Bearer-key authentication and role guards."""

from collections.abc import Callable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from api.deps import loaded_registry
from api.ratelimit import RateLimiter
from registry.errors import PermissionDenied, Unauthenticated
from registry.models import Account, Role

# the bearer key guards the API; the web pages (route option `exclude_from_auth`) use a session (api/web)
PUBLIC_PATHS = ["^/v1/health$", "^/schema"]


class BearerKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send your API key as 'Authorization: Bearer <key>'")
        found = loaded_registry(connection.app.state).authenticate(secret.strip())
        if found is None:
            raise Unauthenticated("the API key is unknown or revoked")
        key, account = found
        limiter: RateLimiter | None = getattr(connection.app.state, "limiter", None)
        if limiter is not None:
            limiter.hit(key.id)
        return AuthenticationResult(user=account, auth=key)


auth_middleware = DefineMiddleware(BearerKeyMiddleware, exclude=PUBLIC_PATHS)


def roles(*allowed: Role) -> Callable[[ASGIConnection, BaseRouteHandler], None]:  # type: ignore[type-arg]
    """A guard admitting only accounts with one of `allowed` roles (admins always)."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        account: Account | None = connection.scope.get("user")
        if account is None:
            if connection.scope.get("method") == "OPTIONS":  # CORS preflight: answered without a key
                return
            raise Unauthenticated("send your API key as 'Authorization: Bearer <key>'")
        if account.role != Role.ADMIN and account.role not in allowed:
            names = ", ".join(r.value for r in allowed)
            raise PermissionDenied(f"this endpoint is for {names} keys; the role of your key is {account.role.value}")

    return guard

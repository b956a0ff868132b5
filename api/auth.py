"""Bearer-key authentication and role guards."""

from collections.abc import Callable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from api.deps import UNKNOWN_KEY, loaded_registry
from api.ratelimit import FailureThrottle, RateLimiter
from registry.errors import Unauthenticated
from registry.models import Account
from service import access
from service.access import UseCase

# the bearer key guards the API; the web pages (route option `exclude_from_auth`) use a session (api/web)
PUBLIC_PATHS = ["^/v1/health$", "^/schema"]

class BearerKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send your API key as 'Authorization: Bearer <key>'")
        throttle: FailureThrottle | None = getattr(connection.app.state, "throttle", None)
        address = connection.client.host if connection.client else "unknown"
        if throttle is not None:
            throttle.check(address)
        found = loaded_registry(connection.app.state).authenticate(secret.strip())
        if found is None:
            if throttle is not None:
                throttle.failed(address)
            raise Unauthenticated(UNKNOWN_KEY)
        key, account = found
        limiter: RateLimiter | None = getattr(connection.app.state, "limiter", None)
        if limiter is not None:
            limiter.hit(key.id)
        return AuthenticationResult(user=account, auth=key)


auth_middleware = DefineMiddleware(BearerKeyMiddleware, exclude=PUBLIC_PATHS)


def may(use: UseCase) -> Callable[[ASGIConnection, BaseRouteHandler], None]:  # type: ignore[type-arg]
    """A guard admitting the roles that the access policy (`service.access`) admits to `use`, so that a
    refused request is answered before its body is read; the use case checks again, object by object."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        account: Account | None = connection.scope.get("user")
        if account is None:
            if connection.scope.get("method") == "OPTIONS":  # CORS preflight: answered without a key
                return
            raise Unauthenticated("send your API key as 'Authorization: Bearer <key>'")
        access.require(account, use)

    return guard

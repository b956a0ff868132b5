"""The litestar application: controllers, auth, error mapping, OpenAPI, and the registry's lifespan.

The registry (store, indexes, embedding model) is opened in a background thread at start-up, so the
server answers at once: `/v1/health` says 503 until everything is loaded, then 200.
"""

import re
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Request
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.typing import FieldDefinition

from api.auth import auth_middleware
from api.controllers.admin import (
    AuditController,
    JobsController,
    KeysController,
    MeController,
    TransparencyController,
    health,
    live,
    metrics,
)
from api.controllers.bank import BankController
from api.controllers.checks import ChecksController
from api.controllers.disputes import (
    CheckDisputesController,
    ConflictsController,
    DisputesController,
    ExclusionsController,
)
from api.controllers.licensing import GrantsController, PoolsController, StatementsController
from api.controllers.lookups import LookupsController
from api.controllers.notifications import DomainsController, NotificationsController, WebhooksController
from api.controllers.public import MatchesController, PublicController
from api.controllers.sites import SiteFilesController
from api.controllers.training import TrainingRunsController
from api.controllers.works import WorksController
from api.deps import loaded_registry
from api.docs import ASSETS, ASSETS_PATH, OfflineSwagger
from api.errors import EXCEPTION_HANDLERS
from api.idempotency import Idempotency
from api.limits import FORM_OVERHEAD, BodyLimit
from api.observability import Metrics, RequestObserver
from api.ratelimit import FailureThrottle, PublicLimiter, RateLimiter, open_counter
from api.settings import Settings
from api.web.pages.auditor import AuditorPages
from api.web.pages.auth import AuthPages, signin_required
from api.web.pages.claims import ClaimPages
from api.web.pages.creator import CreatorPages
from api.web.pages.licensing import LicensingPages
from api.web.pages.media import MediaPages
from api.web.pages.operator import OperatorPages
from api.web.pages.training import TrainingPages
from api.web.render import STATIC, template_config
from api.web.security import csrf_config, load_secret, security_headers, session_config
from api.web.session import WEB_PAGE, SignInRequired
from registry.errors import InvalidInput
from service.registry import Registry

_NOT_QUERY = {"self", "request", "registry", "data", "state", "headers", "cookies", "scope", "socket", "if_match"}


def reject_unknown_query_parameters(request: Request) -> None:  # type: ignore[type-arg]
    """A strict API: a query parameter the endpoint does not take is an error, not silently ignored."""
    handler = request.route_handler
    params = handler.parsed_fn_signature.parameters
    known = {name for name in params if name not in _NOT_QUERY} - set(request.path_params)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}; this endpoint takes: {allowed}")
    for name, value in request.query_params.items():  # litestar would read "5.0" or "1e3" as a whole number
        if _whole_number(params[name]) and not _INTEGER.match(value.strip()):
            raise InvalidInput(f"query parameter {name!r} must be a whole number, not {value[:40]!r}")


_INTEGER = re.compile(r"^[+-]?\d+$")


def _whole_number(field: FieldDefinition) -> bool:
    """Whether a parameter takes an int (or an optional one); a bool is not one here."""
    kinds = [field, *field.inner_types] if field.is_optional else [field]
    return any(k.is_subclass_of(int) and not k.is_subclass_of(bool) for k in kinds)


def create_app(settings: Settings, registry: Registry | None = None) -> Litestar:
    """Build the app; pass `registry` to serve an already opened one (tests), else it opens from settings."""

    secret = load_secret(settings.web.session_secret, settings.data_dir)
    single_limit = settings.service.limits.max_upload_bytes + FORM_OVERHEAD

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.registry = registry
        counter = open_counter(settings.server.rate_limit_redis)
        app.state.limiter = RateLimiter(settings.server.rate_limit_per_minute, counter)
        app.state.throttle = FailureThrottle(counter, settings.server.max_failed_signins)
        app.state.public_limiter = PublicLimiter(settings.server.public_rate_limit_per_minute, counter)
        app.state.settings = settings
        app.state.metrics = Metrics(app.state)
        opener = None
        if registry is None:
            def open_in_background() -> None:
                from service.wiring import open_registry

                reg = open_registry(settings.service)
                reg.indexes.follow(settings.service.follow_interval)
                status = reg.log_status()
                if not status.ok:
                    sys.stderr.write(f"WARNING: the audit log is inconsistent with its last signed head: "
                                     f"{status.problem}\n")
                reg.publish_heads(settings.service.head_interval)
                reg.run_claims()
                assert reg.jobs is not None  # start the bulk worker: jobs staged before a restart resume
                app.state.registry = reg
                base = f"http://{settings.server.host}:{settings.server.port}"
                indexed = ", ".join(f"{n} {kind} works" for kind, n in reg.indexes.sizes().items())
                storage = settings.service.storage
                target = ("--database \"$PROVENANCE_DATABASE_URL\"" if storage.database_url  # never print a password
                          else f"--data-dir {storage.data_dir}")
                sys.stderr.write(f"Provenance is ready ({indexed} indexed): web interface at {base}/ , "
                                 f"API at {base}/v1 , API docs at {base}/schema\n"
                                 f"Keys for this registry: provenance keys create {target} --role admin "
                                 f"--name root\n")

            opener = threading.Thread(target=open_in_background, name="registry-open", daemon=True)
            opener.start()
        try:
            yield
        finally:
            if opener is not None:
                opener.join()
                reg: Registry | None = app.state.registry
                if reg is not None:
                    reg.close()

    return Litestar(
        route_handlers=[WorksController, ChecksController, LookupsController, JobsController, KeysController,
                        TrainingRunsController, BankController, AuditController,
                        TransparencyController, CheckDisputesController, DisputesController, ConflictsController,
                        NotificationsController, WebhooksController, ExclusionsController, DomainsController,
                        MeController, PublicController, MatchesController, SiteFilesController,
                        GrantsController, PoolsController, StatementsController,
                        health, live, metrics,
                        AuthPages, CreatorPages, OperatorPages, AuditorPages, MediaPages, TrainingPages, ClaimPages,
                        LicensingPages,
                        create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False,
                                                   cache_control=CacheControlHeader(max_age=300), opt=WEB_PAGE),
                        create_static_files_router(path=ASSETS_PATH, directories=[ASSETS], include_in_schema=False,
                                                   cache_control=CacheControlHeader(max_age=86400), opt=WEB_PAGE,
                                                   name="api-docs-assets")],
        dependencies={"registry": Provide(loaded_registry, sync_to_thread=False)},
        middleware=[RequestObserver,
                    DefineMiddleware(BodyLimit, single=single_limit, batch=settings.server.max_batch_bytes),
                    security_headers,
                    session_config(secret, secure=settings.web.secure_cookies,
                                   hours=settings.web.session_hours).middleware,
                    auth_middleware, Idempotency],
        csrf_config=csrf_config(secret, secure=settings.web.secure_cookies),
        template_config=template_config,
        exception_handlers={**EXCEPTION_HANDLERS, SignInRequired: signin_required},  # type: ignore[dict-item]
        lifespan=[lifespan],
        logging_config=None,  # `provenance serve` configures JSON logging (api.observability)
        before_request=reject_unknown_query_parameters,
        request_max_body_size=max(single_limit, settings.server.max_batch_bytes),  # BodyLimit: per route
        openapi_config=OpenAPIConfig(
            title="Provenance", version="0.1.0",
            description="Content-fingerprinting and licensing registry for generative AI.",
            path="/schema",
            render_plugins=[OfflineSwagger()],
            components=Components(security_schemes={"BearerKey": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"BearerKey": []}],
        ),
    )

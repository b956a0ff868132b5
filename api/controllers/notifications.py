"""An account's inbox and webhooks (deliveries signed with HMAC-SHA256, retried, logged); verified domains."""

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.auth import may
from api.deps import caller
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page
from api.schemas import DeliveryOut, MarkRead, NotificationsPage, WebhookCreate, WebhookOut
from registry.claims import Domain
from service.access import UseCase
from service.domains import WELL_KNOWN, token_line
from service.registry import Registry

WEBHOOK_DESCRIPTION = """Each notification for the events named (`*`: all) is POSTed to `url` as JSON with
`Provenance-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>`,
`Provenance-Event` and `Provenance-Delivery` headers; a receiver answers 2xx, else the delivery is retried
with exponential backoff (30 s, 1 min, 2 min, ...). Private and loopback addresses are refused unless the
registry allows them. The secret is shown once, in this answer."""

PageSize = Annotated[int, QueryParameter(ge=1, le=500, description="Page size.")]


class NotificationsController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]

    @get("/", guards=[may(UseCase.NOTIFICATIONS)], operation_id="ListNotifications", sync_to_thread=True,
         summary="Your notifications, newest first; `next` pages on (pass it as `before`).",
         responses=ERROR_RESPONSES)
    def inbox(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
              unread: FromQuery[bool] = False, cursor: CursorParam = None,
              limit: PageSize = 50) -> NotificationsPage:
        account = caller(request)
        items = registry.notifications.inbox(account, unread=unread, before=cursor, limit=limit)
        return NotificationsPage(items=items, unread=registry.notifications.unread(account),
                                 next=items[-1].id if len(items) == limit else None)

    @post("/read", guards=[may(UseCase.NOTIFICATIONS)], operation_id="MarkNotificationsRead", status_code=200,
          sync_to_thread=True, summary="Mark notifications read (`ids`; left out: all).", responses=ERROR_RESPONSES)
    def mark_read(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                  data: JSONBody[MarkRead]) -> dict[str, int]:
        return {"marked": registry.notifications.mark_read(caller(request), data.ids)}


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["notifications"]

    @post("/", guards=[may(UseCase.NOTIFICATIONS)], operation_id="CreateWebhook", status_code=201,
          sync_to_thread=True, summary="Send your notifications to a URL, signed.", description=WEBHOOK_DESCRIPTION,
          responses=ERROR_RESPONSES)
    def create(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               data: JSONBody[WebhookCreate]) -> WebhookOut:
        hook = registry.notifications.add_webhook(caller(request), data.url, data.events, data.secret)
        return WebhookOut.of(hook, with_secret=True)

    @get("/", guards=[may(UseCase.NOTIFICATIONS)], operation_id="ListWebhooks", sync_to_thread=True,
         summary="Your webhooks.", responses=ERROR_RESPONSES)
    def list_webhooks(self, request: Request, registry: NamedDependency[Registry]) -> Page[WebhookOut]:  # type: ignore[type-arg]
        return Page(items=[WebhookOut.of(h) for h in registry.notifications.webhooks(caller(request))])

    @delete("/{webhook_id:str}", guards=[may(UseCase.NOTIFICATIONS)], operation_id="DeleteWebhook",
            status_code=200, sync_to_thread=True, summary="Stop a webhook (its pending deliveries are cancelled).",
            responses=ERROR_RESPONSES)
    def remove(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               webhook_id: FromPath[str]) -> WebhookOut:
        return WebhookOut.of(registry.notifications.remove_webhook(caller(request), webhook_id))

    @get("/{webhook_id:str}/deliveries", guards=[may(UseCase.NOTIFICATIONS)], operation_id="ListDeliveries",
         sync_to_thread=True, summary="A webhook's delivery log, newest first.", responses=ERROR_RESPONSES)
    def deliveries(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   webhook_id: FromPath[str], limit: PageSize = 100) -> Page[DeliveryOut]:
        return Page(items=[DeliveryOut(id=d.id, notification_id=d.notification_id, event=d.event, status=d.status,
                            attempts=d.attempts, next_at=d.next_at, created_at=d.created_at,
                            last_status=d.last_status, last_error=d.last_error, delivered_at=d.delivered_at)
                for d in registry.notifications.deliveries(caller(request), webhook_id, limit)])


class DomainClaim(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]


class DomainOut(msgspec.Struct, kw_only=True):
    host: str
    verified: bool
    verified_at: datetime | None
    checked_at: datetime | None
    last_error: str | None
    file_url: str  # where to serve the token
    file_line: str  # the line the file must hold

    @classmethod
    def of(cls, d: Domain) -> "DomainOut":
        return cls(host=d.host, verified=d.verified_at is not None, verified_at=d.verified_at, checked_at=d.checked_at,
                   last_error=d.last_error, file_url=f"https://{d.host}{WELL_KNOWN}", file_line=token_line(d.token))


class DomainsController(Controller):
    path = "/v1/domains"
    tags = ["ownership"]

    @post("/", guards=[may(UseCase.VERIFY_DOMAIN)], operation_id="ClaimDomain", status_code=201,
          sync_to_thread=True, summary="Claim a web host: serve `file_line` at `file_url`, then verify.",
          responses=ERROR_RESPONSES)
    def claim(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
              data: JSONBody[DomainClaim]) -> DomainOut:
        return DomainOut.of(registry.domains.claim(caller(request), data.host))

    @post("/{host:str}/verify", guards=[may(UseCase.VERIFY_DOMAIN)], operation_id="VerifyDomain", status_code=200,
          sync_to_thread=True, summary="Fetch the host's verification file now; `verified` or `last_error` says "
                                       "how it went.", responses=ERROR_RESPONSES)
    def verify(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               host: FromPath[str]) -> DomainOut:
        return DomainOut.of(registry.domains.verify(caller(request), host))

    @get("/", guards=[may(UseCase.VERIFY_DOMAIN)], operation_id="ListDomains", sync_to_thread=True,
         summary="Your claimed hosts and whether they are verified.", responses=ERROR_RESPONSES)
    def list_domains(self, request: Request, registry: NamedDependency[Registry]) -> Page[DomainOut]:  # type: ignore[type-arg]
        return Page(items=[DomainOut.of(d) for d in registry.domains.list(caller(request))])

"""An inbox per account and webhooks: the use cases (the notifications themselves are written by the
changes they report, in the same transaction; `service.webhooks` sends the deliveries)."""

import secrets
from collections.abc import Sequence

from registry.claims import Delivery, Notification, Webhook
from registry.errors import InvalidInput, NotFound
from registry.ids import new_id, utcnow
from registry.models import Account, Role
from registry.store import Store
from service import access
from service.access import UseCase
from service.settings import ServiceSettings
from service.webhooks import check_url

EVENTS = ("work.matched", "work.contested", "conflict.opened", "conflict.resolved", "dispute.opened",
          "dispute.answered", "dispute.expired", "dispute.confirmed", "appeal.opened", "appeal.decided")
MAX_WEBHOOKS = 10


class Notifications:
    def __init__(self, store: Store, settings: ServiceSettings) -> None:
        self.store, self.settings = store, settings

    def inbox(self, viewer: Account, *, unread: bool = False, before: str | None = None,
              limit: int = 50) -> list[Notification]:
        """The viewer's notifications, newest first; page with `before` (the last id of a page)."""
        access.require(viewer, UseCase.NOTIFICATIONS)
        return self.store.list_notifications(viewer.id, unread=unread, before=before, limit=limit)

    def unread(self, viewer: Account) -> int:
        access.require(viewer, UseCase.NOTIFICATIONS)
        return self.store.unread_count(viewer.id)

    def mark_read(self, viewer: Account, ids: Sequence[str] | None) -> int:
        access.require(viewer, UseCase.NOTIFICATIONS)
        return self.store.mark_read(viewer.id, ids)

    def add_webhook(self, viewer: Account, url: str, events: Sequence[str], secret: str | None) -> Webhook:
        """Register a webhook for `events` ("*": all); the secret (given, or made here) signs each delivery."""
        access.require(viewer, UseCase.NOTIFICATIONS)
        unknown = sorted(set(events) - set(EVENTS) - {"*"})
        if unknown or not events:
            what = f"unknown event {unknown[0]!r}" if unknown else "name at least one event"
            raise InvalidInput(f"{what}; use some of {', '.join(EVENTS)}, or '*' for all")
        if secret is not None and not 16 <= len(secret) <= 200:
            raise InvalidInput("the webhook secret must be 16 to 200 characters (or leave it out to get one)")
        check_url(url, self.settings.allow_private_addresses)
        if len(self.store.list_webhooks(viewer.id)) >= MAX_WEBHOOKS:
            raise InvalidInput(f"an account has at most {MAX_WEBHOOKS} webhooks; remove one first")
        hook = Webhook(id=new_id("whk"), account_id=viewer.id, url=url.strip(), events=tuple(dict.fromkeys(events)),
                       secret=secret or secrets.token_urlsafe(32), created_at=utcnow())
        return self.store.add_webhook(hook, viewer.id)

    def webhooks(self, viewer: Account) -> list[Webhook]:
        access.require(viewer, UseCase.NOTIFICATIONS)
        return self.store.list_webhooks(viewer.id)

    def _own(self, viewer: Account, webhook_id: str) -> Webhook:
        access.require(viewer, UseCase.NOTIFICATIONS)
        try:
            hook = self.store.get_webhook(webhook_id)
        except NotFound:
            hook = None
        if hook is None or not hook.active or (hook.account_id != viewer.id and viewer.role != Role.ADMIN):
            raise NotFound(f"no webhook {webhook_id}")
        return hook

    def remove_webhook(self, viewer: Account, webhook_id: str) -> Webhook:
        self._own(viewer, webhook_id)
        return self.store.remove_webhook(webhook_id, viewer.id)

    def deliveries(self, viewer: Account, webhook_id: str, limit: int = 100) -> list[Delivery]:
        """A webhook's delivery log, newest first: each attempt's status and error."""
        self._own(viewer, webhook_id)
        return self.store.list_deliveries(webhook_id, limit)

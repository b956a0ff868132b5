"""Sending webhook deliveries: signed, to public addresses only, retried with exponential backoff.

Each delivery is a POST of the notification's JSON with the header
`Provenance-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook's secret>`
(the scheme of Stripe's webhooks, so receivers know it), plus `Provenance-Event` and `Provenance-Delivery`.
Sent with `service.outbound` (public addresses only unless the registry allows others, the address pinned
once checked); redirects are not followed.
"""

import hashlib
import hmac
import http.client
import time
from datetime import datetime, timedelta

from registry.claims import Delivery, Webhook
from registry.errors import InvalidInput
from registry.store import Store
from service.outbound import Resolver, check_url, request, resolve_host

BACKOFF_BASE = timedelta(seconds=30)
MAX_RESPONSE = 64 * 1024

__all__ = ["check_url", "deliver_due", "post", "retry_at", "sign", "verify_signature"]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does: check the HMAC and that the timestamp is recent (replays are refused)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def post(hook: Webhook, delivery: Delivery, *, timeout: float, allow_private: bool,
         resolve: Resolver = resolve_host) -> tuple[int | None, str | None]:
    """Send one delivery: (HTTP status, error) — a 2xx status and no error means delivered."""
    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "provenance-webhooks/1",
               "Provenance-Event": delivery.event, "Provenance-Delivery": delivery.id,
               "Provenance-Signature": sign(hook.secret, int(time.time()), body)}
    try:
        status, _, _ = request("POST", hook.url, body=body, headers=headers, timeout=timeout,
                               allow_private=allow_private, max_bytes=MAX_RESPONSE, resolve=resolve)
    except InvalidInput as exc:
        return None, exc.message
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= status < 300:
        return status, None
    return status, f"the receiver answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")


def retry_at(attempts_before: int, now: datetime, max_attempts: int) -> datetime | None:
    """When to try again after attempt number `attempts_before + 1` failed: 30 s, 1 min, 2 min, 4 min, ...;
    None once `max_attempts` were made."""
    if attempts_before + 1 >= max_attempts:
        return None
    return now + BACKOFF_BASE * (2 ** attempts_before)


def deliver_due(store: Store, now: datetime, *, timeout: float, allow_private: bool, max_attempts: int,
                resolve: Resolver = resolve_host) -> int:
    """Send the deliveries that are due (claimed first, so that replicas never send one twice at once);
    how many were delivered."""
    delivered = 0
    lease = now + timedelta(seconds=timeout * 2 + 30)
    while batch := store.claim_deliveries(now, lease):
        for delivery, hook in batch:
            status, error = post(hook, delivery, timeout=timeout, allow_private=allow_private, resolve=resolve)
            ok = error is None
            store.finish_delivery(delivery.id, delivered=ok, status=status, error=error,
                                  retry_at=None if ok else retry_at(delivery.attempts, now, max_attempts))
            delivered += ok
    return delivered

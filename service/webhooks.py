"""Sending webhook deliveries: signed, to public addresses only, retried with exponential backoff.

Each delivery is a POST of the notification's JSON with the header
`Provenance-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook's secret>`
(the scheme Stripe and GitHub receivers already verify), plus `Provenance-Event` and `Provenance-Delivery`.
The address is resolved once and the connection made to that address (so a name cannot resolve to a
public address when checked and a private one when used); loopback, private, link-local, multicast and
reserved addresses are refused unless the registry allows them; redirects are not followed.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from registry.claims import Delivery, Webhook
from registry.errors import InvalidInput
from registry.store import Store

BACKOFF_BASE = timedelta(seconds=30)
MAX_RESPONSE = 64 * 1024

Resolver = Callable[[str, int], list[str]]


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


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot resolve the webhook's host {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def check_url(url: str, allow_private: bool, resolve: Resolver = _resolve) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) of a webhook URL, or InvalidInput saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook url {url!r} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidInput("webhook url must not carry credentials; the deliveries are signed with its secret")
    if len(url) > 2000:
        raise InvalidInput("webhook url is longer than 2,000 characters")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f"webhook url {url!r} has a bad port") from None
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise InvalidInput(f"the webhook's host {parts.hostname!r} has no address")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not allow_private and not ip.is_global:
            raise InvalidInput(f"the webhook's host {parts.hostname!r} is at {ip}, a private, loopback or reserved "
                               "address: deliveries go to public addresses only")
    return parts.scheme, parts.hostname, port, addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a resolved address, with the certificate checked for the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(hook: Webhook, delivery: Delivery, *, timeout: float, allow_private: bool,
         resolve: Resolver = _resolve) -> tuple[int | None, str | None]:
    """Send one delivery: (HTTP status, error) — a 2xx status and no error means delivered."""
    body = delivery.body.encode()
    try:
        scheme, host, port, address = check_url(hook.url, allow_private, resolve)
    except InvalidInput as exc:
        return None, exc.message
    parts = urlsplit(hook.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection = (
        _PinnedHTTPS(host, address, port, timeout) if scheme == "https"
        else http.client.HTTPConnection(address, port, timeout=timeout))
    headers = {"Content-Type": "application/json", "User-Agent": "provenance-webhooks/1",
               "Host": host if port in (80, 443) else f"{host}:{port}",
               "Provenance-Event": delivery.event, "Provenance-Delivery": delivery.id,
               "Provenance-Signature": sign(hook.secret, int(time.time()), body)}
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    finally:
        conn.close()
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
                resolve: Resolver = _resolve) -> int:
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

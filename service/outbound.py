"""Outbound HTTP to addresses a user gave (webhooks, domain verification), made safe to send.

The URL's host is resolved once and every address checked: loopback, private, link-local, multicast and
reserved addresses are refused unless the registry allows them (tests, closed networks); the connection is
then made to the checked address, so a name cannot resolve to a public address when checked and a private
one when used. HTTPS keeps checking the certificate against the host name. Redirects are never followed
here; answers are read up to a size limit.
"""

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from registry.errors import InvalidInput

Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot resolve the host {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def check_url(url: str, allow_private: bool, resolve: Resolver = resolve_host) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) of a URL, or InvalidInput saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"URL {url!r} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidInput("the URL must not carry credentials (user:password@)")
    if len(url) > 2000:
        raise InvalidInput("the URL is longer than 2,000 characters")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f"URL {url!r} has a bad port") from None
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise InvalidInput(f"the host {parts.hostname!r} has no address")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not allow_private and not ip.is_global:
            raise InvalidInput(f"the host {parts.hostname!r} is at {ip}, a private, loopback or reserved "
                               "address: the registry sends requests to public addresses only")
    return parts.scheme, parts.hostname, port, addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a resolved address, with the certificate checked for the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def request(method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
            timeout: float, allow_private: bool, max_bytes: int,
            resolve: Resolver = resolve_host) -> tuple[int, dict[str, str], bytes]:
    """One request to a checked, pinned address: (status, headers in lower case, at most `max_bytes` + 1 bytes
    of the body). InvalidInput for a URL or address that is refused; OSError or HTTPException when the
    exchange fails."""
    scheme, host, port, address = check_url(url, allow_private, resolve)
    parts = urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection = (
        _PinnedHTTPS(host, address, port, timeout) if scheme == "https"
        else http.client.HTTPConnection(address, port, timeout=timeout))
    sent = {"Host": host if port in (80, 443) else f"{host}:{port}", **(headers or {})}
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read(max_bytes + 1)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()

"""Verified ownership: a creator proves control of a web host named in their works' locations by serving a
token the registry gives them at `https://<host>/.well-known/provenance-verification.txt`.

The way trusted registries verify domains (a token at a well-known path, as ACME's HTTP-01 challenge and
the search engines' site verification do). The fetch has a short timeout, reads at most 4 KB, goes to public
addresses only (see `service.outbound`) and follows redirects only on the same host, over HTTPS. A work is
from a verified owner when one of its locations is on a host its owner verified; checks, lookups and the
conflicts an admin resolves say so.
"""

import re
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

from registry.claims import Domain
from registry.errors import InvalidInput, ProvenanceError
from registry.ids import utcnow
from registry.models import Account, Work
from registry.store import Store
from service import access
from service.access import UseCase
from service.outbound import Resolver, request, resolve_host
from service.settings import ServiceSettings

WELL_KNOWN = "/.well-known/provenance-verification.txt"
MAX_BYTES = 4096
MAX_REDIRECTS = 3
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

Fetcher = Callable[[str], bytes]  # a URL to the body it serves; raises ProvenanceError or OSError


def normalize_host(host: str) -> str:
    """A DNS name in lower case (IDNA for non-ASCII names); InvalidInput for IP addresses, ports, paths."""
    text = host.strip().rstrip(".").lower()
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(f"{host!r} is not a valid host name") from None
    if not _HOST.match(text):
        raise InvalidInput(f"{host!r} is not a host name such as example.com (no scheme, port, path or IP "
                           "address)")
    return text


def token_line(token: str) -> str:
    return f"provenance-verification={token}"


def https_fetcher(timeout: float, allow_private: bool, resolve: Resolver = resolve_host,
                  scheme: str = "https") -> Fetcher:
    """GET over HTTPS, following at most 3 redirects on the same host; at most 4 KB. (`scheme` "http" and a
    `resolve` that names a local server are for tests.)"""

    def fetch(url: str) -> bytes:
        url = scheme + url.removeprefix("https")
        host = urlsplit(url).hostname
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, body = request("GET", url, timeout=timeout, allow_private=allow_private,
                                            max_bytes=MAX_BYTES, headers={"User-Agent": "provenance-verifier/1"},
                                            resolve=resolve)
            if status in (301, 302, 303, 307, 308) and "location" in headers:
                url = urljoin(url, headers["location"])
                target = urlsplit(url)
                if target.hostname != host or target.scheme != scheme:
                    raise InvalidInput(f"{host} redirects to {target.scheme}://{target.hostname}: the file must be "
                                       "served by the host itself, over HTTPS")
                continue
            if status != 200:
                raise InvalidInput(f"{url} answered {status}, not 200")
            if len(body) > MAX_BYTES:
                raise InvalidInput(f"{url} serves more than {MAX_BYTES} bytes; serve only the token line")
            return body
        raise InvalidInput(f"{host} redirects more than {MAX_REDIRECTS} times")

    return fetch


class Domains:
    def __init__(self, store: Store, settings: ServiceSettings, fetch: Fetcher | None = None) -> None:
        self.store = store
        self.fetch = fetch or https_fetcher(settings.domain_check_timeout, settings.allow_private_addresses)

    def claim(self, viewer: Account, host: str) -> Domain:
        """Claim a host: the answer holds the token to serve (the same token when claimed before)."""
        access.require(viewer, UseCase.VERIFY_DOMAIN)
        domain = Domain(account_id=viewer.id, host=normalize_host(host), token=secrets.token_urlsafe(24),
                        created_at=utcnow())
        return self.store.add_domain(domain, viewer.id)

    def verify(self, viewer: Account, host: str) -> Domain:
        """Fetch the host's well-known file and verify the claim when it holds the token (on a line of its own,
        as `provenance-verification=<token>`); the answer says what was wrong otherwise."""
        access.require(viewer, UseCase.VERIFY_DOMAIN)
        domain = self.store.get_domain(viewer.id, normalize_host(host))
        url = f"https://{domain.host}{WELL_KNOWN}"
        error: str | None = None
        try:
            body = self.fetch(url)
            lines = {line.strip() for line in body.decode("utf-8", "replace").splitlines()}
            if token_line(domain.token) not in lines:
                error = f"{url} does not hold the line {token_line(domain.token)!r}"
        except ProvenanceError as exc:
            error = exc.message
        except OSError as exc:
            error = f"cannot fetch {url}: {exc}"
        return self.store.record_domain_check(viewer.id, domain.host, error, viewer.id)

    def list(self, viewer: Account) -> list[Domain]:
        access.require(viewer, UseCase.VERIFY_DOMAIN)
        return self.store.list_domains(viewer.id)


def verified_works(store: Store, works: Iterable[Work]) -> set[str]:
    """The works (ids) published on a host their owner verified."""
    works = list(works)
    hosts = store.verified_hosts(sorted({w.owner_id for w in works}))
    return {w.id for w in works if w.owner_id in hosts
            and any(urlsplit(url).hostname in hosts[w.owner_id] for url in w.locations)}

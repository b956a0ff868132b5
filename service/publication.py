"""Publishing reservations without a key: signed declarations, TDM policies, site files, soft-binding lookups.

The use cases behind `/public/...`, `/v1/tdmrep.json` (and its ai.txt and robots.txt siblings) and the
C2PA soft-binding resolution endpoints (`/v1/matches/byBinding`, `/v1/matches/byContent`). A declaration is
built from the work as it is now and signed at each request (see `service.declarations`); what it may show
of the work is the creator's choice (`Work.publish`). Soft-binding answers follow the C2PA Soft Binding
Resolution API's shapes (`matches: [{manifestId, endpoint, similarityScore}]`), each match carrying the
work's signed declaration, since the registry holds declarations rather than C2PA manifests.
"""

import re
from collections.abc import Callable
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from matcher.base import Match, PdqLookup
from registry.content import Content
from registry.errors import Gone, InvalidInput, NotFound
from registry.ids import utcnow
from registry.models import Account, Work, WorkKind, WorkStatus
from registry.store import Store
from service import access, declarations
from service.access import UseCase
from service.domains import normalize_host
from service.exclusions import drop_excluded
from service.indexes import IndexKeeper

BINDING_ALGS = ("io.iscc.v0", "pdq")
MAX_MATCHES = 50
_PDQ = re.compile(r"^[0-9a-fA-F]{64}$")


class BindingMatch(msgspec.Struct, frozen=True, kw_only=True):
    """One match of a soft-binding query, in the C2PA API's shape, with the work's signed declaration."""

    manifestId: str
    endpoint: str
    similarityScore: int
    declaration: dict[str, Any]


class BindingMatches(msgspec.Struct, frozen=True, kw_only=True):
    matches: list[BindingMatch]


class Publisher:
    """Declarations, policies, site files and soft-binding resolution (public unless said otherwise)."""

    def __init__(self, store: Store, indexes: IndexKeeper, key: Callable[[], tuple[Ed25519PrivateKey, str]],
                 load: Callable[[bytes, str | None], Content]) -> None:
        self._store, self._indexes, self._key, self._load = store, indexes, key, load

    def _public_work(self, work_id: str) -> Work:
        """A work the public may read of: active, contested or withdrawn (a rejected one was never the
        claimant's to declare)."""
        try:
            work = self._store.get_work(work_id)
        except NotFound:
            work = None
        if work is None or work.status == WorkStatus.REJECTED:
            raise NotFound(f"no public declaration for {work_id!r}: the id is unknown to this registry")
        return work

    def _owner_name(self, work: Work) -> str:
        return self._store.get_account(work.owner_id).name if work.publish.owner else ""

    def declaration(self, work_id: str, base: str) -> dict[str, Any]:
        """The signed declaration of a work; for a withdrawn one, the signed notice of its withdrawal (status
        `withdrawn`, with the date: the faces answer it with 410)."""
        return self._declare(self._public_work(work_id), base)

    def _declare(self, work: Work, base: str) -> dict[str, Any]:
        key, key_id = self._key()
        if work.status == WorkStatus.WITHDRAWN:
            return declarations.sign(declarations.withdrawal(work, base, key_id, utcnow()), key)
        doc = declarations.declaration(work, base, self._owner_name(work), key_id, utcnow())
        return declarations.sign(doc, key)

    def policy(self, work_id: str, base: str) -> dict[str, Any]:
        """The work's TDM policy (ODRL Offer, TDMRep profile); `Gone` for a withdrawn work."""
        work = self._public_work(work_id)
        if work.status == WorkStatus.WITHDRAWN:
            raise Gone(f"work {work_id} was withdrawn by its owner: it has no policy here any more")
        return declarations.odrl_policy(work, base, self._owner_name(work))

    # -- a creator's site files ---------------------------------------------------------------------------
    def _site_works(self, viewer: Account, host: str) -> tuple[str, list[Work]]:
        access.require(viewer, UseCase.ENROLL)
        clean = normalize_host(host)
        works = []
        for status in (WorkStatus.ACTIVE, WorkStatus.CONTESTED):
            offset = 0
            while page := self._store.list_works(owner_id=viewer.id, status=status, limit=1000, offset=offset):
                works += [w for w in page if declarations.on_host(w, clean)]
                offset += len(page)
        return clean, works

    def tdmrep(self, viewer: Account, host: str, base: str, reserve_rest: bool | None = None) -> list[dict[str, Any]]:
        clean, works = self._site_works(viewer, host)
        return declarations.tdmrep_rules(works, clean, base, reserve_rest)

    def ai_txt(self, viewer: Account, host: str) -> str:
        clean, works = self._site_works(viewer, host)
        return declarations.ai_txt(works, clean)

    def robots(self, viewer: Account, host: str) -> str:
        clean, works = self._site_works(viewer, host)
        return declarations.robots_fragment(works, clean)

    # -- soft-binding resolution --------------------------------------------------------------------------
    def by_binding(self, alg: str, value: str, base: str, max_results: int = 10) -> BindingMatches:
        """Works whose ISCC Content-Code (`io.iscc.v0`, within its calibrated distance) or PDQ hash (`pdq`,
        within the lookups' distance) matches `value`."""
        limit = _limit(max_results)
        hits: list[tuple[str, float]] = []
        if alg == "io.iscc.v0":
            hits = [(w, 1.0 - d / 64) for w, d in self._indexes.codes.near(value)]
        elif alg == "pdq":
            if not _PDQ.match(value.strip()):
                raise InvalidInput("a pdq binding value is the 64 hex digits of a PDQ hash")
            image = self._indexes.matchers.get(WorkKind.IMAGE)
            if isinstance(image, PdqLookup):
                hits = list(image.lookup_pdq([bytes.fromhex(value.strip())])[0])
        else:
            raise InvalidInput(f"unknown soft-binding algorithm {alg!r}; this registry resolves "
                               f"{', '.join(BINDING_ALGS)}")
        return self._answer(hits, base, limit)

    def by_content(self, data: bytes, filename: str | None, base: str, max_results: int = 10) -> BindingMatches:
        """Works the content matches, as a check matches it (every signal of its kind)."""
        limit = _limit(max_results)
        content = self._load(data, filename)
        found: list[Match] = drop_excluded(self._store, self._indexes.matcher_for(content.kind).search(content))
        return self._answer([(m.work_id, m.score) for m in found], base, limit)

    def _answer(self, hits: list[tuple[str, float]], base: str, limit: int) -> BindingMatches:
        works = self._store.get_works([w for w, _ in hits])
        matches = []
        for work_id, score in sorted(hits, key=lambda h: -h[1]):
            work = works.get(work_id)
            if work is None or work.status != WorkStatus.ACTIVE:
                continue
            matches.append(BindingMatch(manifestId=work.id, endpoint=base,
                                        similarityScore=max(0, min(100, round(score * 100))),
                                        declaration=self._declare(work, base)))
            if len(matches) == limit:
                break
        return BindingMatches(matches=matches)


def _limit(max_results: int) -> int:
    if not 1 <= max_results <= MAX_MATCHES:
        raise InvalidInput(f"maxResults must be between 1 and {MAX_MATCHES}")
    return max_results

"""Bulk lookups for training: may each of these items be used for this purpose?

A trainer sends up to `MAX_ITEMS` items, each with its own id and any of: the SHA-256 of its bytes, its PDQ
hash, its ISCC code, the URL it was fetched from, its text; or up to `MAX_FILES` files. Hashes and URLs search
the indexes only (SHA-256 and locations exactly, PDQ and the ISCC Content-Code within their calibrated
distances); texts and files are matched as checks are. Each item's answer follows the CAWG training-and-data-
mining semantics for the purpose: a matched work that says `notAllowed` makes it `reserved`, one that says
`constrained` makes it `constrained` (not allowed without a licence), otherwise `allowed`; no match at all is
`no_match`. The lookup is kept with every result and audited with the item count and a digest of the items.
"""

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

import msgspec

from matcher.base import Match, PdqLookup
from matcher.iscc import content_unit
from registry.content import Content
from registry.errors import InvalidInput, ProvenanceError
from registry.ids import new_id, utcnow
from registry.locations import normalize_url
from registry.models import Account, Lookup, LookupMatch, LookupResult, Work, WorkKind, WorkStatus
from registry.store import Store
from registry.terms import TDM_KEYS, OptOuts
from service.domains import verified_works
from service.exclusions import drop_excluded, drop_excluded_rows
from service.indexes import IndexKeeper

MAX_ITEMS = 10_000
MAX_FILES = 100
Hex64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]
_FIELDS = ("sha256", "pdq", "iscc", "url", "text")
USE_RANK = {"allowed": 0, "constrained": 1, "notAllowed": 2}  # how far a use keeps an item out
REASON = {"allowed": "allowed", "constrained": "constrained", "notAllowed": "reserved"}  # an item's reason by use


class LookupItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One item of a lookup: the caller's id and at least one of the other fields."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    sha256: Hex64 | None = None
    pdq: Hex64 | None = None
    iscc: Annotated[str, msgspec.Meta(max_length=200)] | None = None  # an ISCC-CODE or its Content-Code
    url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    text: Annotated[str, msgspec.Meta(min_length=1)] | None = None


class FileItem(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # the file's name, or its position
    data: bytes
    filename: str | None = None


def check_items(purpose: str, items: Sequence[LookupItem], files: Sequence[FileItem]) -> list[str | None]:
    """Refuse a bad purpose, an over-limit batch, an item without anything to look up or with an ISCC that
    holds no Content-Code, naming the item; return each item's normalised URL."""
    if purpose not in TDM_KEYS:
        raise InvalidInput(f"unknown purpose {purpose!r} for a lookup; use one of {', '.join(TDM_KEYS)}")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"a lookup holds at most {MAX_ITEMS} items, not {len(items)}: split the batch")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"a lookup holds at most {MAX_FILES} files, not {len(files)}: split the batch")
    if not items and not files:
        raise InvalidInput("the lookup has no items")
    urls: list[str | None] = []
    for n, item in enumerate(items):
        if all(getattr(item, f) is None for f in _FIELDS):
            raise InvalidInput(f"item {n} ({item.id!r}) has none of {', '.join(_FIELDS)}: give at least one",
                               item=n)
        try:
            urls.append(None if item.url is None else normalize_url(item.url))
            if item.iscc is not None:
                content_unit(item.iscc)
        except InvalidInput as exc:
            raise InvalidInput(f"item {n} ({item.id!r}): {exc.message}", item=n) from None
    return urls


def digest(purpose: str, items: Sequence[LookupItem], files: Sequence[FileItem]) -> str:
    """SHA-256 of the lookup as received (purpose, items as canonical JSON, files by their SHA-256)."""
    body = {"purpose": purpose, "items": items,
            "files": [{"id": f.id, "sha256": hashlib.sha256(f.data).hexdigest()} for f in files]}
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


def use_for(opt_outs: OptOuts, purpose: str) -> str:
    choice = getattr(opt_outs, purpose)
    return str(choice.use)


def run_lookup(account: Account, purpose: str, items: Sequence[LookupItem], files: Sequence[FileItem], *,
               store: Store, indexes: IndexKeeper, load: Callable[[bytes, str | None], Content],
               now: datetime | None = None) -> Lookup:
    """`now`: the time grants are judged at (the registry's clock; the system's by default)."""
    urls = check_items(purpose, items, files)
    found: list[dict[str, tuple[float, str]]] = [{} for _ in range(len(items) + len(files))]  # work -> (conf, by)

    def hit(row: int, work_id: str, confidence: float, by: str) -> None:
        if confidence > found[row].get(work_id, (-1.0, ""))[0]:
            found[row][work_id] = (confidence, by)

    shas = [(n, it.sha256.lower()) for n, it in enumerate(items) if it.sha256 is not None]
    by_sha = store.active_works_by("sha256", [s for _, s in shas])
    for n, sha in shas:
        for work in by_sha.get(sha, []):
            hit(n, work.id, 1.0, "sha256")
    located = [(n, url) for n, url in enumerate(urls) if url is not None]
    by_url = store.active_works_by("url", [u for _, u in located])
    for n, url in located:
        for work in by_url.get(url, []):
            hit(n, work.id, 1.0, "url")
    pdqs = [(n, bytes.fromhex(it.pdq)) for n, it in enumerate(items) if it.pdq is not None]
    if pdqs:
        image = indexes.matchers.get(WorkKind.IMAGE)
        if isinstance(image, PdqLookup):
            for (n, _), hits in zip(pdqs, image.lookup_pdq([h for _, h in pdqs]), strict=True):
                for work_id, confidence in hits:
                    hit(n, work_id, confidence, "pdq")
    for n, item in enumerate(items):
        if item.iscc is not None:
            for work_id, distance in indexes.codes.near(item.iscc):
                hit(n, work_id, 1.0 - distance / 64, "iscc")
    for n, item in enumerate(items):
        if item.text is not None:
            for m in _search(store, indexes, load, n, item.id, item.text.encode("utf-8"), None):
                hit(n, m.work_id, m.score, "text")
    for k, f in enumerate(files):
        for m in _search(store, indexes, load, len(items) + k, f.id, f.data, f.filename):
            hit(len(items) + k, m.work_id, m.score, "file")
    drop_excluded_rows(store, found, [it.sha256.lower() if it.sha256 else None for it in items])
    works = store.get_works(sorted({w for row in found for w in row}))
    verified = verified_works(store, works.values())
    grants = {w: g.id for w, g in store.active_grants(account.id, list(works), purpose, now or utcnow()).items()}
    ids = [it.id for it in items] + [f.id for f in files]
    results = [_result(item_id, row, works, purpose, verified, grants)
               for item_id, row in zip(ids, found, strict=True)]
    return Lookup(id=new_id("lku"), account_id=account.id, created_at=utcnow(), purpose=purpose,
                  items=len(ids), digest=digest(purpose, items, files),
                  not_allowed=sum(not r.allowed for r in results), results=results)


def _search(store: Store, indexes: IndexKeeper, load: Callable[[bytes, str | None], Content], n: int, item_id: str,
            data: bytes, filename: str | None) -> list[Match]:
    """The item's content matched as a check matches it; content that cannot be read is refused, naming the item."""
    try:
        content = load(data, filename)
    except ProvenanceError as exc:
        raise type(exc)(f"item {n} ({item_id!r}): {exc.message}", item=n, **exc.details) from None
    return drop_excluded(store, indexes.matcher_for(content.kind).search(content))


def _result(item_id: str, row: dict[str, tuple[float, str]], works: dict[str, Work], purpose: str,
            verified: set[str], grants: dict[str, str]) -> LookupResult:
    """One item's answer; a work the caller holds a grant for is `allowed`, naming the grant."""
    matches = [LookupMatch(work_id=w, confidence=conf, by=by, verified_owner=w in verified, grant_id=grants.get(w),
                           use="allowed" if w in grants else use_for(works[w].opt_outs, purpose))
               for w, (conf, by) in sorted(row.items(), key=lambda kv: -kv[1][0])
               if w in works and works[w].status == WorkStatus.ACTIVE]
    if not matches:
        return LookupResult(id=item_id, allowed=True, reason="no_match")
    worst = max((m.use for m in matches), key=USE_RANK.__getitem__)
    return LookupResult(id=item_id, allowed=worst == "allowed", reason=REASON[worst], matches=matches)

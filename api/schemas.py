"""Request and response bodies of the HTTP API, as msgspec structs."""

from datetime import datetime
from typing import Annotated, Any

import msgspec

from registry.evidence import Evidence
from registry.models import Account, Check, Lookup, LookupResult, MatchRecord, TrainingRun, Work, work_etag
from registry.terms import LicensePatch, LicenseTerms, OptOuts, OptOutsPatch, Purpose
from service.lookups import LookupItem


class WorkMetadata(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The optional `metadata` part of an enrollment (JSON)."""

    title: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    license: LicenseTerms | None = None
    opt_outs: OptOuts | None = None
    locations: list[str] = []  # where the owner publishes the work: http(s) URLs


class WorkUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A PATCH of a work's terms: the fields named change, every other field keeps its value (a use named
    in `opt_outs` is replaced whole). Send `If-Match` with the work's ETag to refuse a change made since."""

    license: LicensePatch | None = None
    opt_outs: OptOutsPatch | None = None
    locations: list[str] | None = None  # replaces the list (send [] to clear it)


class WorkOut(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    sha256: str
    title: str
    owner: str
    license: LicenseTerms
    opt_outs: OptOuts
    status: str
    created_at: datetime
    media_type: str
    size: int
    cawg_training_mining: dict[str, Any]
    locations: list[str]
    etag: str  # also the ETag header: send it back as If-Match to change the work only if nobody did since

    @classmethod
    def of(cls, work: Work, owner: str) -> "WorkOut":
        return cls(id=work.id, kind=work.kind.value, sha256=work.sha256, title=work.title, owner=owner,
                   license=work.license, opt_outs=work.opt_outs, status=work.status.value,
                   created_at=work.created_at, media_type=work.media_type, size=work.size,
                   cawg_training_mining=work.opt_outs.to_cawg(), locations=list(work.locations),
                   etag=work_etag(work))


class MatchOut(msgspec.Struct, kw_only=True):
    work_id: str
    score: float
    title: str
    owner: str
    license: LicenseTerms
    opt_outs: OptOuts
    requirement: str
    evidence: Evidence

    @classmethod
    def of(cls, m: MatchRecord, owner: str) -> "MatchOut":
        return cls(work_id=m.work_id, score=m.score, title=m.title, owner=owner, license=m.license,
                   opt_outs=m.opt_outs, requirement=m.requirement, evidence=m.evidence)


class CheckOut(msgspec.Struct, kw_only=True):
    id: str
    verdict: str
    purpose: str
    kind: str
    sha256: str
    created_at: datetime
    operator: str
    matcher_version: str
    matches: list[MatchOut]

    @classmethod
    def of(cls, c: Check, names: dict[str, str]) -> "CheckOut":
        return cls(id=c.id, verdict=c.verdict.value, purpose=c.purpose, kind=c.kind.value, sha256=c.sha256,
                   created_at=c.created_at, operator=names.get(c.account_id, c.account_id),
                   matcher_version=c.matcher_version,
                   matches=[MatchOut.of(m, names.get(m.owner_id, m.owner_id)) for m in c.matches])


class TextCheck(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A text check sent as JSON instead of a multipart upload."""

    text: Annotated[str, msgspec.Meta(min_length=1)]
    purpose: Purpose = "release"


class KeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")]
    role: Annotated[str, msgspec.Meta(pattern=r"^(admin|creator|operator|auditor)$")]


class KeyOut(msgspec.Struct, kw_only=True):
    id: str
    prefix: str
    account: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None
    key: str | None = None  # the secret, only in the answer that created it


class AccountOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: str

    @classmethod
    def of(cls, a: Account) -> "AccountOut":
        return cls(id=a.id, name=a.name, role=a.role.value)


class Page(msgspec.Struct, kw_only=True):
    limit: int
    offset: int
    next_offset: int | None


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorOut(msgspec.Struct, kw_only=True):
    error: ErrorBody


class LookupRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /v1/lookups` as JSON."""

    purpose: str | None = None  # ai_training when neither the body nor the query names one
    items: list[LookupItem]


class LookupOut(msgspec.Struct, kw_only=True):
    id: str
    purpose: str
    operator: str
    created_at: datetime
    items: int
    not_allowed: int
    digest: str
    results: list[LookupResult]

    @classmethod
    def of(cls, lookup: Lookup, names: dict[str, str]) -> "LookupOut":
        return cls(id=lookup.id, purpose=lookup.purpose, operator=names.get(lookup.account_id, lookup.account_id),
                   created_at=lookup.created_at, items=lookup.items, not_allowed=lookup.not_allowed,
                   digest=lookup.digest, results=lookup.results)


class TrainingRunOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    model: str
    purpose: str
    operator: str
    created_at: datetime
    status: str
    closed_at: datetime | None
    items: int
    works: int
    violations: int
    by_use: dict[str, int]

    @classmethod
    def of(cls, run: TrainingRun, names: dict[str, str]) -> "TrainingRunOut":
        return cls(id=run.id, name=run.name, model=run.model, purpose=run.purpose,
                   operator=names.get(run.account_id, run.account_id), created_at=run.created_at,
                   status=run.status, closed_at=run.closed_at, items=run.items, works=run.works,
                   violations=run.violations, by_use=run.by_use)


class IncludedWorkOut(msgspec.Struct, kw_only=True):
    work_id: str
    use: str
    violation: bool
    items: int
    license: LicenseTerms
    opt_outs: OptOuts
    first_at: datetime


class IncludedWorksPage(msgspec.Struct, kw_only=True):
    works: list[IncludedWorkOut]
    next: str | None  # pass as `cursor` for the next page; null on the last


class WorkRunOut(msgspec.Struct, kw_only=True):
    """A run that included a work, as the work's owner sees it: the run's name, model, purpose and status,
    and this work's inclusion (never the rest of the run)."""

    run_id: str
    name: str
    model: str
    purpose: str
    status: str
    operator: str
    included: IncludedWorkOut

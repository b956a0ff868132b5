"""Request and response bodies of the HTTP API, as msgspec structs."""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from registry.claims import DisputeReason, Keep, Notification, Webhook
from registry.evidence import Evidence
from registry.models import (
    Account,
    Check,
    CheckRevision,
    Licensed,
    Lookup,
    LookupResult,
    MatchRecord,
    TrainingRun,
    Work,
    work_etag,
)
from registry.terms import LicensePatch, LicenseTerms, Offer, OptOuts, OptOutsPatch, Publication, Purpose
from service.lookups import LookupItem
from service.ownership import Enrollment


class WorkMetadata(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The optional `metadata` part of an enrollment (JSON)."""

    title: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    license: LicenseTerms | None = None
    opt_outs: OptOuts | None = None  # none: what the file declares (C2PA, XMP), then the account's defaults
    locations: list[str] = []  # where the owner publishes the work: http(s) URLs
    publish: Publication | None = None  # what its public declaration shows; none: the account's default
    offers: list[Offer] | None = None  # licences offered; none: the account's default offers


class WorkUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A PATCH of a work's terms: the fields named change, every other field keeps its value (a use named
    in `opt_outs` is replaced whole). Send `If-Match` with the work's ETag to refuse a change made since."""

    license: LicensePatch | None = None
    opt_outs: OptOutsPatch | None = None
    locations: list[str] | None = None  # replaces the list (send [] to clear it)
    publish: Publication | None = None  # what the public declaration shows (title, owner)
    offers: list[Offer] | None = None  # replaces the list of licence offers (send [] to withdraw them all)


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
    iscc: str | None  # the ISCC-CODE (Content, Data and Instance units)
    publish: Publication  # what the public declaration (/public/works/{id}) shows besides the terms
    opt_out_sources: dict[str, str]  # per use: request, c2pa:..., xmp:plus:DataMining, account_default, ...
    declaration_url: str  # the public declaration, readable without a key
    offers: list[Offer]  # the licences its owner offers (request one: POST /v1/grants)
    withdrawn_at: datetime | None = None

    @classmethod
    def of(cls, work: Work, owner: str) -> "WorkOut":
        return cls(id=work.id, kind=work.kind.value, sha256=work.sha256, title=work.title, owner=owner,
                   license=work.license, opt_outs=work.opt_outs, status=work.status.value,
                   created_at=work.created_at, media_type=work.media_type, size=work.size,
                   cawg_training_mining=work.opt_outs.to_cawg(), locations=list(work.locations),
                   etag=work_etag(work), iscc=work.iscc or None, publish=work.publish,
                   opt_out_sources=work.opt_out_sources, declaration_url=f"/public/works/{work.id}",
                   withdrawn_at=work.withdrawn_at, offers=list(work.offers))


class SimilarOut(msgspec.Struct, kw_only=True):
    work_id: str
    title: str
    score: float


class EnrolledOut(WorkOut, kw_only=True):
    """An enrollment's answer: the work, plus what the registry noticed about its content."""

    notice: str | None = None  # set when the work is contested
    similar: list[SimilarOut] = []  # the creator's own works this content resembles

    @classmethod
    def of_enrollment(cls, e: Enrollment, owner: str) -> "EnrolledOut":
        base = WorkOut.of(e.work, owner)
        notice = ("this content matches a work enrolled earlier by another account: it is enrolled as contested "
                  "and is not matched until an admin resolves the conflict (you are notified)"
                  if e.contested else None)
        return cls(**msgspec.structs.asdict(base), notice=notice,
                   similar=[SimilarOut(work_id=s.work_id, title=s.title, score=s.score) for s in e.similar])


class DisputeCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Dispute one match of your check: the work it matched, why, and a note for the owner."""

    work_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    reason: DisputeReason
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class NoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class AppealDecision(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    outcome: Literal["uphold", "release"]
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ConflictResolve(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    keep: Keep  # earlier, newer or both
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class WebhookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    events: Annotated[list[str], msgspec.Meta(min_length=1, max_length=20)]
    secret: str | None = None  # 16-200 characters; left out, the registry makes one (shown once)


class WebhookOut(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    created_at: datetime
    secret: str | None = None  # only in the answer that created it

    @classmethod
    def of(cls, hook: Webhook, with_secret: bool = False) -> "WebhookOut":
        return cls(id=hook.id, url=hook.url, events=list(hook.events), created_at=hook.created_at,
                   secret=hook.secret if with_secret else None)


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: str
    notification_id: str
    event: str
    status: str
    attempts: int
    next_at: datetime
    created_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class MarkRead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ids: Annotated[list[str], msgspec.Meta(max_length=1000)] | None = None  # left out: all of them


class NotificationsPage(msgspec.Struct, kw_only=True):
    items: list[Notification]
    unread: int
    next: str | None  # pass as `before` for the next page


class MatchOut(msgspec.Struct, kw_only=True):
    work_id: str
    score: float
    title: str
    owner: str
    license: LicenseTerms
    opt_outs: OptOuts
    requirement: str
    evidence: Evidence
    released_by: str | None = None  # the dispute that released this match: it no longer counts in the verdict
    verified_owner: bool = False  # the work is published on a web host its owner verified
    share: float = 0.0  # the work's attribution share of the output (a check's shares sum to 1)
    licensed: Licensed | None = None  # the grant that licensed this match (requirement is then clear)

    @classmethod
    def of(cls, m: MatchRecord, owner: str) -> "MatchOut":
        return cls(work_id=m.work_id, score=m.score, title=m.title, owner=owner, license=m.license,
                   opt_outs=m.opt_outs, requirement=m.requirement, evidence=m.evidence, released_by=m.released_by,
                   verified_owner=m.verified_owner, share=m.share, licensed=m.licensed)


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
    revisions: list[CheckRevision] = []  # verdict changes since the check was made (released matches)
    share_method: str = ""  # how the matches' attribution shares were computed


    @classmethod
    def of(cls, c: Check, names: dict[str, str]) -> "CheckOut":
        return cls(id=c.id, verdict=c.verdict.value, purpose=c.purpose, kind=c.kind.value, sha256=c.sha256,
                   created_at=c.created_at, operator=names.get(c.account_id, c.account_id),
                   matcher_version=c.matcher_version,
                   matches=[MatchOut.of(m, names.get(m.owner_id, m.owner_id)) for m in c.matches],
                   revisions=list(c.revisions), share_method=c.share_method)


class TextCheck(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A check sent as JSON instead of a multipart upload: the output's text, or only its ISCC code."""

    text: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    iscc: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
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

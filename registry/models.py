"""The registry's records as msgspec structs: accounts, keys, works, checks and audit entries."""

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from registry.evidence import Evidence
from registry.money import Money
from registry.terms import LicenseTerms, Offer, OptOuts, Publication


class Role(StrEnum):
    ADMIN = "admin"
    CREATOR = "creator"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class WorkKind(StrEnum):
    IMAGE = "image"
    TEXT = "text"


class WorkStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"  # by its owner, who may restore it
    CONTESTED = "contested"  # another owner enrolled the same content earlier: not matched until resolved
    REJECTED = "rejected"  # an admin resolved an ownership conflict against it


class Verdict(StrEnum):
    CLEAR = "clear"
    ATTRIBUTION_REQUIRED = "attribution_required"
    LICENSE_REQUIRED = "license_required"
    BLOCKED = "blocked"


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    role: Role
    created_at: datetime
    default_license: LicenseTerms | None = None
    default_opt_outs: OptOuts | None = None
    default_publish: Publication | None = None  # what new works' public declarations show
    default_offers: tuple[Offer, ...] = ()  # the licence offers new works get


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """An API key as stored: only the SHA-256 of the secret, never the secret."""

    id: str
    account_id: str
    key_hash: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class Work(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    owner_id: str
    kind: WorkKind
    title: str
    sha256: str
    media_type: str
    size: int
    created_at: datetime
    status: WorkStatus
    license: LicenseTerms
    opt_outs: OptOuts
    locations: tuple[str, ...] = ()  # where its owner publishes it: normalised http(s) URLs
    iscc: str = ""  # the ISCC-CODE (Content, Data and Instance units), computed at enrollment
    publish: Publication = Publication()  # what its public declaration shows besides the terms
    opt_out_sources: dict[str, str] = {}  # where each opt-out came from, when not from the creator's request
    withdrawn_at: datetime | None = None
    offers: tuple[Offer, ...] = ()  # licences its owner offers (see `registry.terms.Offer`)


def work_etag(work: Work) -> str:
    """The version of a work's changeable state (terms, locations and status), as an HTTP entity tag."""
    state: list[object] = [work.license, work.opt_outs, work.status.value]
    if work.locations:  # works without locations keep the ETags they had before locations existed
        state.append(list(work.locations))
    if work.publish != Publication():  # likewise works whose declaration shows only the terms
        state.append(work.publish)
    if work.offers:  # and works without offers
        state.append(list(work.offers))
    state_bytes = msgspec.json.encode(state, order="sorted")
    return '"' + hashlib.sha256(state_bytes).hexdigest()[:24] + '"'




class CheckRevision(msgspec.Struct, frozen=True, kw_only=True):
    """A change of a check's verdict after it was made: which match was released, by which dispute."""

    at: datetime
    work_id: str
    dispute_id: str
    verdict_before: str
    verdict_after: str


class Licensed(msgspec.Struct, frozen=True, kw_only=True):
    """The grant that licensed a match: the requirement it would have had without it."""

    grant_id: str
    offer_id: str
    would_require: str


class MatchRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One enrolled work matched by a check: the matcher's evidence and the work's terms at check time."""

    work_id: str
    score: float
    evidence: Evidence
    title: str
    owner_id: str
    license: LicenseTerms
    opt_outs: OptOuts
    requirement: str
    released_by: str | None = None  # the dispute that released this match: no longer in the verdict
    verified_owner: bool = False  # the work is published on a host its owner verified (at check time)
    share: float = 0.0  # the work's attribution share of the check (the shares of a check sum to 1)
    licensed: "Licensed | None" = None  # the checking account held a grant for this work and purpose


class Check(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    account_id: str
    created_at: datetime
    purpose: str
    kind: WorkKind
    sha256: str
    verdict: Verdict
    matches: list[MatchRecord]
    matcher_version: str
    content_blob: str | None = None
    revisions: list[CheckRevision] = []  # verdict changes after the check (released matches), oldest first
    likeness: str = ""  # the output's fingerprint for releases: "pdq:<hex>" (images), "words:<sha256>" (texts)
    share_method: str = ""  # how the matches' attribution shares were computed (name/version)


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One link of the append-only audit chain."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class FileOutcome(msgspec.Struct, kw_only=True):
    filename: str
    status: str  # enrolled, skipped (already enrolled), rejected; queued or running while the job runs
    work_id: str | None = None
    error: str | None = None
    code: str | None = None  # why it was skipped or rejected, as the API's error codes say it


class Job(msgspec.Struct, kw_only=True):
    id: str
    owner_id: str
    created_at: datetime
    status: str  # queued, running, done
    total: int
    enrolled: int = 0
    skipped: int = 0
    rejected: int = 0
    results: list[FileOutcome] = msgspec.field(default_factory=list)  # the files done so far, in order
    finished_at: datetime | None = None


class JobFile(msgspec.Struct, frozen=True, kw_only=True):
    """One staged file of a bulk job, claimed by a worker: where its bytes are and the terms to enroll it with."""

    job_id: str
    position: int
    filename: str
    blob: str
    owner_id: str
    license: LicenseTerms | None
    opt_outs: OptOuts | None


class SignedTreeHead(msgspec.Struct, frozen=True, kw_only=True):
    """A signed statement of the audit log's Merkle tree: its size, root hash and time (RFC 9162 style).

    The signature (Ed25519, base64) covers `signed_message()`; `key_id` is the SHA-256 of the public key."""

    size: int
    root: str  # hex
    timestamp: int  # milliseconds since the epoch
    key_id: str
    signature: str

    def signed_message(self) -> bytes:
        return f"provenance-tree-head-v1\n{self.size}\n{self.root}\n{self.timestamp}\n".encode()


class StoredAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The answer kept for a request made with an Idempotency-Key (`status` None: still being answered)."""

    request_hash: str
    status: int | None = None
    media_type: str | None = None
    body: str | None = None


class CheckFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Filters for listing checks; every field is optional."""

    account_id: str | None = None
    work_id: str | None = None
    verdict: Verdict | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0
    before: tuple[datetime, str] | None = None  # a cursor: only checks older than this (created_at, id)


class LookupMatch(msgspec.Struct, frozen=True, kw_only=True):
    """An enrolled work a lookup item matched, how sure the match is, and the work's use for the purpose."""

    work_id: str
    confidence: float
    use: str  # the CAWG use for the lookup's purpose: allowed, notAllowed or constrained
    by: str  # what matched: sha256, pdq, iscc, url, text or file
    verified_owner: bool = False  # the work is published on a host its owner verified
    grant_id: str | None = None  # the caller holds this grant for the work and purpose: `use` is allowed


class LookupResult(msgspec.Struct, frozen=True, kw_only=True):
    """One item of a lookup: may it be used for the purpose? `reason`: no_match, allowed, reserved (a
    matched work says notAllowed) or constrained (a matched work's use has conditions; CAWG counts that as
    not allowed)."""

    id: str
    allowed: bool
    reason: str
    matches: list[LookupMatch] = []


class Lookup(msgspec.Struct, frozen=True, kw_only=True):
    """A bulk lookup as recorded: who asked, for what purpose, a digest of the items and every result."""

    id: str
    account_id: str
    created_at: datetime
    purpose: str
    items: int
    digest: str  # SHA-256 of the items as received (canonical JSON), also in the audit entry
    not_allowed: int
    results: list[LookupResult]


class IncludedWork(msgspec.Struct, frozen=True, kw_only=True):
    """An enrolled work a training run included: its terms when it was first included, and whether that went
    against its reservation for the run's purpose (`use` not `allowed`)."""

    work_id: str
    owner_id: str
    use: str
    violation: bool
    items: int  # the run's items that matched it
    license: LicenseTerms
    opt_outs: OptOuts
    first_at: datetime


class TrainingRun(msgspec.Struct, frozen=True, kw_only=True):
    """A training run an operator records: its items are matched as lookups are, and the works they matched
    are kept with their terms; closing it freezes it. `works`, `violations` and `by_use` count its works."""

    id: str
    account_id: str
    name: str
    model: str
    purpose: str
    created_at: datetime
    status: str = "open"  # open, closed
    closed_at: datetime | None = None
    items: int = 0
    works: int = 0
    violations: int = 0
    by_use: dict[str, int] = {}


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """A licence an operator asked for under one of a work's offers, and what became of it: `requested`,
    `granted` (until `expires_at`), `denied` or `revoked`; `expired` is a granted one past its date."""

    id: str
    work_id: str
    owner_id: str
    grantee_id: str
    offer_id: str
    purpose: str
    price: Money
    per: str
    note: str
    status: str
    created_at: datetime
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    decision_note: str = ""

    def state(self, now: datetime) -> str:
        """The status as of `now`: a granted grant past `expires_at` is `expired`."""
        if self.status == "granted" and self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return self.status


class Pool(msgspec.Struct, frozen=True, kw_only=True):
    """Money an operator sets aside for the creators whose works its checks matched (basis `checks`) or a
    training run included (basis `training_run`), shared when it is closed."""

    id: str
    account_id: str
    name: str
    amount: Money
    basis: str
    period_from: datetime
    period_until: datetime
    training_run_id: str | None
    min_payout_minor: int
    created_at: datetime
    status: str = "open"  # open, closed
    closed_at: datetime | None = None
    method: str = ""  # the allocation method and version used at closing
    digest: str = ""  # SHA-256 of the closed statement lines (canonical JSON), also in the audit entry


class StatementItem(msgspec.Struct, frozen=True, kw_only=True):
    """What earned part of a line: a check's match (its share) or a training run's inclusion of a work."""

    work_id: str
    check_id: str | None = None
    weight: int  # the integer weight behind the allocation (parts per billion of a check, or 1 a work)


class StatementLine(msgspec.Struct, frozen=True, kw_only=True):
    """One creator's line of a closed pool: the pool's amount allocated to them, what an earlier pool of the
    same operator carried over, what is paid now and what is carried to the next statement."""

    pool_id: str
    creator_id: str
    currency: str
    weight: int
    allocated_minor: int
    carried_in_minor: int
    paid_minor: int
    carried_out_minor: int
    items: list[StatementItem] = []

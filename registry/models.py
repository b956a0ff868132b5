"""The registry's records as msgspec structs: accounts, keys, works, checks and audit entries."""

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from registry.evidence import Evidence
from registry.terms import LicenseTerms, OptOuts, Publication


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


def work_etag(work: Work) -> str:
    """The version of a work's changeable state (terms, locations and status), as an HTTP entity tag."""
    state: list[object] = [work.license, work.opt_outs, work.status.value]
    if work.locations:  # works without locations keep the ETags they had before locations existed
        state.append(list(work.locations))
    if work.publish != Publication():  # likewise works whose declaration shows only the terms
        state.append(work.publish)
    state_bytes = msgspec.json.encode(state, order="sorted")
    return '"' + hashlib.sha256(state_bytes).hexdigest()[:24] + '"'




class CheckRevision(msgspec.Struct, frozen=True, kw_only=True):
    """A change of a check's verdict after it was made: which match was released, by which dispute."""

    at: datetime
    work_id: str
    dispute_id: str
    verdict_before: str
    verdict_after: str


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

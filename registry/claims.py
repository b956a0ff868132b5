"""The records of contested ownership and disputed matches: conflicts, disputes, exclusions, notifications.

Modelled on YouTube Content ID's ownership conflicts, disputes and appeals (a claimant answers a dispute in
30 days or it expires; an upheld claim is appealed once within 7 days), kept here in the open: every step is
an audit entry, every deadline ends in a state.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec

from registry.models import WorkKind


class ConflictStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Keep(StrEnum):
    """Who keeps the content when an admin resolves an ownership conflict."""

    EARLIER = "earlier"  # the earlier work stays; the newcomer's is rejected
    NEWER = "newer"  # the newcomer's work becomes active; the earlier one is rejected
    BOTH = "both"  # both stay active (a licence shared by both, say)


class OwnershipConflict(msgspec.Struct, frozen=True, kw_only=True):
    """A work enrolled while another owner's active work has the same content (`by` "sha256") or a verified
    match of it (`by` "match", with the matcher's score). The newer work stays `contested` until resolved."""

    id: str
    work_id: str  # the newcomer's work
    work_owner_id: str
    earlier_work_id: str
    earlier_owner_id: str
    by: str
    score: float
    status: ConflictStatus
    created_at: datetime
    keep: Keep | None = None
    note: str = ""
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    # whether each owner has verified a domain the work is published on (worked out when read, for admins)
    work_verified: bool = False
    earlier_verified: bool = False


class DisputeReason(StrEnum):
    MISIDENTIFIED = "misidentified"
    LICENSED = "licensed"
    PUBLIC_DOMAIN = "public_domain"
    EXCEPTION = "exception"
    OTHER = "other"


class DisputeStatus(StrEnum):
    OPEN = "open"  # the work's owner answers by the deadline
    UPHELD = "upheld"  # the operator may appeal once by the deadline
    APPEALED = "appealed"  # an admin decides
    RELEASED = "released"  # the owner released the match
    EXPIRED = "expired"  # the owner did not answer in time: released
    CONFIRMED = "confirmed"  # upheld and not appealed in time, or the appeal was refused
    OVERTURNED = "overturned"  # the appeal succeeded: released


RELEASING = frozenset({DisputeStatus.RELEASED, DisputeStatus.EXPIRED, DisputeStatus.OVERTURNED})
FINAL = RELEASING | {DisputeStatus.CONFIRMED}
ANSWER_PERIOD = timedelta(days=30)
APPEAL_PERIOD = timedelta(days=7)


class DisputeEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    action: str  # opened, upheld, released, expired, appealed, appeal_upheld, appeal_released
    actor: str
    status: DisputeStatus  # the status it led to
    note: str = ""


class Dispute(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's dispute of one match of one of their checks, and every step it went through."""

    id: str
    check_id: str
    work_id: str
    operator_id: str
    owner_id: str
    reason: DisputeReason
    note: str
    status: DisputeStatus
    opened_at: datetime
    deadline: datetime | None  # of the step now due (answer, or appeal); None once final or appealed
    appealed: bool = False
    history: tuple[DisputeEvent, ...] = ()

    @property
    def released(self) -> bool:
        return self.status in RELEASING


class DisputeFilter(msgspec.Struct, frozen=True, kw_only=True):
    operator_id: str | None = None
    owner_id: str | None = None
    status: DisputeStatus | None = None
    check_id: str | None = None
    limit: int = 100
    offset: int = 0
    before: tuple[datetime, str] | None = None  # a cursor: only disputes opened before this (opened_at, id)


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """A notification to be written with the change it reports (same transaction)."""

    account_id: str
    event: str
    subject: str
    details: dict[str, Any] = {}


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    account_id: str
    event: str
    subject: str
    details: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = None


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """Where an account's notifications are POSTed, signed with `secret` (HMAC-SHA256)."""

    id: str
    account_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime
    active: bool = True


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt history of sending one notification to one webhook."""

    id: str
    webhook_id: str
    notification_id: str
    event: str
    body: str
    status: str  # pending, delivered, failed (gave up after the last attempt)
    attempts: int
    next_at: datetime
    created_at: datetime
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


class Exclusion(msgspec.Struct, frozen=True, kw_only=True):
    """Content that must never match: an output that matches it at least as closely as it matches a work
    in its scope does not match that work (every work, or one work: a public-domain source it builds on).
    Indexed by the matchers under its id, like a work."""

    id: str
    kind: WorkKind
    sha256: str
    media_type: str
    work_id: str | None  # the one work it applies to; None: every work
    created_by: str
    note: str
    created_at: datetime
    active: bool = True


class Domain(msgspec.Struct, frozen=True, kw_only=True):
    """A web host a creator claims; verified once the registry read its token at the well-known path."""

    account_id: str
    host: str
    token: str
    created_at: datetime
    verified_at: datetime | None = None
    checked_at: datetime | None = None
    last_error: str | None = None

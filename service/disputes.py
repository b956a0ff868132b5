"""Match disputes: an operator disputes a match of their check, the work's owner upholds or releases it within
30 days (else it expires as released), an upheld dispute is appealed once within 7 days, an admin decides.

The state machine is `transition` (pure: a dispute, an action, who and when, to the next dispute or a
refusal that says why); the store applies it inside its write transaction, so that two answers to one
dispute, or an answer racing the expiry task of another replica, cannot both land. A dispute that ends
released revises the check's verdict (its history kept) and stops that output matching that work for the
operator.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from registry.claims import (
    ANSWER_PERIOD,
    APPEAL_PERIOD,
    FINAL,
    Dispute,
    DisputeEvent,
    DisputeFilter,
    DisputeReason,
    DisputeStatus,
    Notice,
)
from registry.errors import Conflict, InvalidInput, NotFound
from registry.ids import new_id
from registry.models import Account, Role
from registry.store import Store
from service import access
from service.access import UseCase
from service.clock import Clock

SYSTEM = "system"
MAX_NOTE = 2000
# action: (the statuses it may start from, who may take it)
ACTIONS: dict[str, tuple[frozenset[DisputeStatus], str]] = {
    "uphold": (frozenset({DisputeStatus.OPEN}), "owner"),
    "release": (frozenset({DisputeStatus.OPEN, DisputeStatus.UPHELD, DisputeStatus.APPEALED}), "owner"),
    "appeal": (frozenset({DisputeStatus.UPHELD}), "operator"),
    "appeal_upheld": (frozenset({DisputeStatus.APPEALED}), "admin"),
    "appeal_released": (frozenset({DisputeStatus.APPEALED}), "admin"),
    "expired": (frozenset({DisputeStatus.OPEN, DisputeStatus.UPHELD}), "system"),
}


RELEASE_PDQ_BITS = 8  # a re-encoded or resized copy of one output; two different outputs are further apart


def same_output(sha256: str, likeness: str, released_sha256: str, released_likeness: str) -> bool:
    """Is this output the one a dispute released (its bytes, its normalised words, or its PDQ hash within
    `RELEASE_PDQ_BITS`)?"""
    if sha256 and sha256 == released_sha256:  # a code-only check has no bytes, hence no SHA-256
        return True
    if not likeness or not released_likeness:
        return False
    if likeness.startswith("pdq:") and released_likeness.startswith("pdq:"):
        a, b = bytes.fromhex(likeness[4:]), bytes.fromhex(released_likeness[4:])
        return len(a) == len(b) and sum((x ^ y).bit_count() for x, y in zip(a, b, strict=True)) <= RELEASE_PDQ_BITS
    return likeness == released_likeness


def clean_note(note: str | None) -> str:
    cleaned = "".join(ch for ch in (note or "") if ch.isprintable() or ch == "\n").strip()
    if len(cleaned) > MAX_NOTE:
        raise InvalidInput(f"note is {len(cleaned)} characters long; the limit is {MAX_NOTE}")
    return cleaned


def transition(d: Dispute, action: str, actor: str, now: datetime, note: str = "") -> Dispute:
    """The dispute after `action` taken by `actor` at `now`; Conflict (409) when the action is not open to it
    now (answered already, deadline passed, appealed once already)."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    starts, _ = ACTIONS[action]
    if d.status in FINAL:
        raise Conflict(f"dispute {d.id} is {d.status.value}: it is closed and keeps its history")
    if d.status not in starts:
        raise Conflict(f"dispute {d.id} is {d.status.value}; '{action}' needs it "
                       f"{' or '.join(sorted(s.value for s in starts))}")
    due = d.deadline is not None and now >= d.deadline
    if action == "expired":
        if not due:
            raise Conflict(f"dispute {d.id}'s deadline has not passed")
        status, deadline = ((DisputeStatus.EXPIRED, None) if d.status == DisputeStatus.OPEN
                            else (DisputeStatus.CONFIRMED, None))
    elif due and d.status in (DisputeStatus.OPEN, DisputeStatus.UPHELD):
        assert d.deadline is not None
        what = "answer" if d.status == DisputeStatus.OPEN else "appeal"
        raise Conflict(f"the time to {what} dispute {d.id} ended at {d.deadline.isoformat()}; it is closed "
                       "by the next expiry round")
    elif action == "uphold":
        status, deadline = DisputeStatus.UPHELD, now + APPEAL_PERIOD
    elif action == "release":
        status, deadline = DisputeStatus.RELEASED, None
    elif action == "appeal":
        if d.appealed:
            raise Conflict(f"dispute {d.id} was appealed once already")
        status, deadline = DisputeStatus.APPEALED, None
    elif action == "appeal_upheld":
        status, deadline = DisputeStatus.CONFIRMED, None
    else:  # appeal_released
        status, deadline = DisputeStatus.OVERTURNED, None
    event = DisputeEvent(at=now, action=action, actor=actor, status=status, note=note)
    return msgspec.structs.replace(d, status=status, deadline=deadline, appealed=d.appealed or action == "appeal",
                                   history=(*d.history, event))


def _event_name(action: str, status: DisputeStatus) -> str:
    if action in ("uphold", "release"):
        return "dispute.answered"
    if action == "appeal":
        return "appeal.opened"
    if action.startswith("appeal_"):
        return "appeal.decided"
    return "dispute.expired" if status == DisputeStatus.EXPIRED else "dispute.confirmed"


def notices_for(d: Dispute, action: str, admins: Sequence[str]) -> list[Notice]:
    """Who hears of a step: both parties (the one who took it too, as a receipt), admins of appeals."""
    details = {"dispute_id": d.id, "check_id": d.check_id, "work_id": d.work_id, "status": d.status.value,
               "deadline": d.deadline.isoformat() if d.deadline else None}
    event = _event_name(action, d.status)
    to = [d.operator_id, d.owner_id] + (list(admins) if action == "appeal" else [])
    return [Notice(account_id=a, event=event, subject=d.id, details=details) for a in dict.fromkeys(to)]


class Disputes:
    """The dispute use cases; every face (API, web, CLI) calls these."""

    def __init__(self, store: Store, clock: Clock, admins: Callable[[], list[str]]) -> None:
        self.store, self.clock, self._admins = store, clock, admins

    def open(self, operator: Account, check_id: str, work_id: str, reason: DisputeReason, note: str = "") -> Dispute:
        access.require(operator, UseCase.DISPUTE)
        try:
            check = self.store.get_check(check_id)
        except NotFound:
            check = None
        if check is None or (check.account_id != operator.id and operator.role != Role.ADMIN):
            raise NotFound(f"no check {check_id} of this account: an operator disputes the matches of their "
                           "own checks")
        match = next((m for m in check.matches if m.work_id == work_id), None)
        if match is None:
            raise NotFound(f"check {check_id} did not match work {work_id}; dispute one of its matches: "
                           f"{', '.join(m.work_id for m in check.matches) or 'it has none'}")
        if match.released_by:
            raise Conflict(f"this match was released already by dispute {match.released_by}")
        now = self.clock.now()
        text = clean_note(note)
        dispute = Dispute(
            id=new_id("dsp"), check_id=check.id, work_id=work_id, operator_id=check.account_id,
            owner_id=match.owner_id, reason=reason, note=text, status=DisputeStatus.OPEN, opened_at=now,
            deadline=now + ANSWER_PERIOD,
            history=(DisputeEvent(at=now, action="opened", actor=operator.id, status=DisputeStatus.OPEN,
                                  note=text),))
        details = {"dispute_id": dispute.id, "check_id": check.id, "work_id": work_id, "reason": reason.value,
                   "deadline": (now + ANSWER_PERIOD).isoformat()}
        notices = [Notice(account_id=match.owner_id, event="dispute.opened", subject=dispute.id, details=details)]
        return self.store.add_dispute(dispute, operator.id, notices)

    def get(self, viewer: Account, dispute_id: str) -> Dispute:
        access.require(viewer, UseCase.READ_DISPUTES)
        try:
            found: Dispute | None = self.store.get_dispute(dispute_id)
        except NotFound:
            found = None
        return access.readable_dispute(viewer, found, dispute_id)

    def list(self, viewer: Account, status: DisputeStatus | None = None, check_id: str | None = None,
             limit: int = 100, offset: int = 0, before: tuple[datetime, str] | None = None) -> list[Dispute]:
        """An operator's disputes, a creator's (of matches of their works); auditors and admins all. Newest
        first; `before` a cursor (opened_at, id)."""
        access.require(viewer, UseCase.READ_DISPUTES)
        flt = DisputeFilter(status=status, check_id=check_id, limit=limit, offset=offset, before=before)
        if viewer.role == Role.OPERATOR:
            flt = msgspec.structs.replace(flt, operator_id=viewer.id)
        elif viewer.role == Role.CREATOR:
            flt = msgspec.structs.replace(flt, owner_id=viewer.id)
        return self.store.list_disputes(flt)

    def act(self, viewer: Account, dispute_id: str, action: str, note: str = "") -> Dispute:
        """Take `action` on a dispute: the owner `uphold`s or `release`s, the operator `appeal`s, an admin
        decides an appeal (`appeal_upheld`, `appeal_released`)."""
        if action not in ACTIONS or action == "expired":
            raise InvalidInput(f"unknown action {action!r}; use uphold, release, appeal, appeal_upheld or "
                               "appeal_released")
        _, who = ACTIONS[action]
        access.require(viewer, {"owner": UseCase.ANSWER_DISPUTE, "operator": UseCase.DISPUTE,
                                "admin": UseCase.DECIDE_APPEAL}[who])
        self.get(viewer, dispute_id)  # 404 for a dispute this account may not see
        text = clean_note(note)
        now = self.clock.now()
        admins = self._admins()

        def change(d: Dispute) -> tuple[Dispute, list[Notice]]:
            party = d.owner_id if who == "owner" else d.operator_id
            if who != "admin" and viewer.id != party and viewer.role != Role.ADMIN:
                raise NotFound(f"no dispute {dispute_id} for this account to {action}")
            after = transition(d, action, viewer.id, now, text)
            return after, notices_for(after, action, admins)

        return self.store.change_dispute(dispute_id, change, viewer.id)

    def expire_due(self) -> int:
        """Close every dispute whose deadline passed (open: expired, released; upheld and not appealed:
        confirmed). Safe on every replica at once: each dispute changes once, inside the store's transaction."""
        now = self.clock.now()
        admins = self._admins()
        closed: list[str] = []

        def expire(d: Dispute) -> tuple[Dispute, list[Notice]] | None:
            if d.status not in (DisputeStatus.OPEN, DisputeStatus.UPHELD) or d.deadline is None or now < d.deadline:
                return None  # answered, or closed by another replica, meanwhile
            after = transition(d, "expired", SYSTEM, now)
            closed.append(d.id)
            return after, notices_for(after, "expired", admins)

        for dispute_id in self.store.due_disputes(now):
            self.store.change_dispute(dispute_id, expire, SYSTEM)
        return len(closed)

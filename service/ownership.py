"""Ownership conflicts: a work whose content another owner enrolled first (the same bytes, or a verified
match) is enrolled `contested`: not matched by checks and lookups, the earlier work's terms keep applying,
both owners (and admins) are told, and an admin resolves it. The newcomer is never told which work or
account it collided with.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from matcher.base import Match
from registry.claims import ConflictStatus, Keep, Notice, OwnershipConflict
from registry.errors import NotFound
from registry.models import Account, Work, WorkStatus
from registry.store import Store
from service import access
from service.access import UseCase
from service.disputes import clean_note
from service.domains import verified_works


class Similar(msgspec.Struct, frozen=True, kw_only=True):
    """One of the enrolling creator's own works that the new content matches."""

    work_id: str
    title: str
    score: float


class Enrollment(msgspec.Struct, frozen=True, kw_only=True):
    """A new work, the creator's own works it resembles, and whether it is contested."""

    work: Work
    similar: list[Similar] = []

    @property
    def contested(self) -> bool:
        return self.work.status == WorkStatus.CONTESTED


def split_matches(owner: Account, found: Sequence[Match], works: dict[str, Work]
                  ) -> tuple[list[tuple[str, str, float]], list[Similar]]:
    """Matches of new content against the index: other owners' active works (rivals: work id, signal, score,
    strongest first) and the owner's own (similar)."""
    rivals: list[tuple[str, str, float]] = []
    similar: list[Similar] = []
    for m in sorted(found, key=lambda m: -m.score):
        work = works.get(m.work_id)
        if work is None or work.status != WorkStatus.ACTIVE:
            continue
        if work.owner_id == owner.id:
            similar.append(Similar(work_id=work.id, title=work.title, score=m.score))
        else:
            rivals.append((work.id, "match", m.score))
    return rivals, similar


def contest_notices(admins: Callable[[], Sequence[str]]) -> Callable[[OwnershipConflict], list[Notice]]:
    """What the two owners and the admins hear when a conflict opens (the newcomer: not whose work); the
    admins are looked up only when a conflict does open."""

    def notices(c: OwnershipConflict) -> list[Notice]:
        newcomer = {"conflict_id": c.id, "work_id": c.work_id, "status": "contested",
                    "message": "this content matches a work enrolled earlier by another account; it is not "
                               "matched until an admin resolves the conflict"}
        earlier = {"conflict_id": c.id, "work_id": c.earlier_work_id, "by": c.by,
                   "message": "another account enrolled content that matches your work; your work's terms "
                              "keep applying while an admin resolves the conflict"}
        admin = {"conflict_id": c.id, "work_id": c.work_id, "earlier_work_id": c.earlier_work_id, "by": c.by}
        out = [Notice(account_id=c.work_owner_id, event="work.contested", subject=c.work_id, details=newcomer),
               Notice(account_id=c.earlier_owner_id, event="work.contested", subject=c.earlier_work_id,
                      details=earlier)]
        return out + [Notice(account_id=a, event="conflict.opened", subject=c.id, details=admin) for a in admins()]

    return notices


def _resolved_notices(c: OwnershipConflict) -> list[Notice]:
    kept = {"conflict_id": c.id, "keep": c.keep.value if c.keep else None, "note": c.note}
    return [Notice(account_id=c.work_owner_id, event="conflict.resolved", subject=c.work_id,
                   details={**kept, "work_id": c.work_id,
                            "work_status": "rejected" if c.keep == Keep.EARLIER else "active"}),
            Notice(account_id=c.earlier_owner_id, event="conflict.resolved", subject=c.earlier_work_id,
                   details={**kept, "work_id": c.earlier_work_id,
                            "work_status": "rejected" if c.keep == Keep.NEWER else "active"})]


def _with_verified(store: Store, conflicts: list[OwnershipConflict]) -> list[OwnershipConflict]:
    """Mark which side published its work on a host it verified (an admin weighs a verified earlier claim
    first)."""
    works = store.get_works([i for c in conflicts for i in (c.work_id, c.earlier_work_id)])
    verified = verified_works(store, works.values())
    return [msgspec.structs.replace(c, work_verified=c.work_id in verified,
                                    earlier_verified=c.earlier_work_id in verified) for c in conflicts]


def for_review(page: list[OwnershipConflict]) -> list[OwnershipConflict]:
    """A page of conflicts (newest first) in the order an admin reviews them: open ones first, and among
    them verified earlier claims first; otherwise newest first."""
    return sorted(page, key=lambda c: (c.status != ConflictStatus.OPEN, not c.earlier_verified))


class Conflicts:
    def __init__(self, store: Store, on_resolved: Callable[[], object] = lambda: None) -> None:
        self.store = store
        self._on_resolved = on_resolved  # brings this process's indexes in line with the works' new statuses

    def list(self, viewer: Account, status: ConflictStatus | None = None, limit: int = 100,
             offset: int = 0, before: tuple[datetime, str] | None = None) -> list[OwnershipConflict]:
        """A creator's conflicts (either side, redacted); auditors and admins all of them."""
        access.require(viewer, UseCase.READ_CONFLICTS)
        scope = access.works_owner_scope(viewer)
        found = _with_verified(self.store, self.store.list_conflicts(account_id=scope, status=status, limit=limit,
                                                                     offset=offset, before=before))
        return [access.conflict_view(viewer, c) for c in found]

    def get(self, viewer: Account, conflict_id: str) -> OwnershipConflict:
        access.require(viewer, UseCase.READ_CONFLICTS)
        try:
            found: OwnershipConflict | None = self.store.get_conflict(conflict_id)
        except NotFound:
            found = None
        readable = access.readable_conflict(viewer, found, conflict_id)
        return access.conflict_view(viewer, _with_verified(self.store, [readable])[0])

    def resolve(self, admin: Account, conflict_id: str, keep: Keep, note: str = "") -> OwnershipConflict:
        """An admin decides who keeps the content: the earlier owner, the newcomer, or both."""
        access.require(admin, UseCase.RESOLVE_CONFLICT)
        resolved = self.store.resolve_conflict(conflict_id, keep, clean_note(note), admin.id, _resolved_notices)
        self._on_resolved()
        return resolved

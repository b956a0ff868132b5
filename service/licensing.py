"""Licences and payouts: grants under a work's offers, and pools shared among the creators behind the matches.

- **Grants.** An operator asks for a licence under one of a work's offers for one purpose; an offer with
  `auto_grant` grants it at once, else the owner approves or denies it. A grant lasts the offer's
  `valid_days` and the owner may revoke it. While it holds, the grantee's checks and lookups of that work for
  that purpose no longer ask for a licence (`licensed` on the match); past checks keep what they said.
- **Pools.** An operator sets an amount aside for a period of its checks (each creator's weight: the
  attribution shares of their works' matches, `service.attribution`) or for a closed training run (one per
  included work). Closing a pool allocates it exactly (`service.allocation`), adds what earlier pools of the
  same operator carried over, pays totals at or above the pool's minimum and carries the rest; the lines are
  written once. `recompute` rebuilds a closed pool from the record alone (the checks and their shares, the
  run's included works, earlier pools' lines) and compares it line by line.
"""

import hashlib
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec

from registry.claims import Notice
from registry.errors import Conflict, InvalidInput, NotFound
from registry.ids import new_id
from registry.models import (
    Account,
    Check,
    CheckFilter,
    Grant,
    Pool,
    Role,
    StatementItem,
    StatementLine,
    WorkStatus,
)
from registry.money import MAX_MINOR, Money
from registry.store import Store
from service import access, attribution
from service.access import UseCase
from service.allocation import METHOD, SHARE_SCALE, statement
from service.clock import Clock
from service.training import own_run

GRANT_STATUSES = ("requested", "granted", "denied", "revoked", "expired")
Note = Annotated[str, msgspec.Meta(max_length=2000)]


class GrantRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    work_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    offer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    purpose: Literal["release", "ai_training", "ai_generative_training", "ai_inference", "data_mining"]
    note: Note = ""


class NewPool(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    amount_minor: Annotated[int, msgspec.Meta(gt=0, le=MAX_MINOR)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    basis: Literal["checks", "training_run"]
    from_: datetime | None = msgspec.field(default=None, name="from")
    until: datetime | None = None
    training_run_id: str | None = None
    min_payout_minor: Annotated[int, msgspec.Meta(ge=0, le=MAX_MINOR)] = 0


class Recomputation(msgspec.Struct, frozen=True, kw_only=True):
    """A closed pool recomputed from the record: whether every line agrees, and the lines that do not."""

    pool_id: str
    agrees: bool
    digest_recorded: str
    digest_recomputed: str
    lines: int
    differences: list[dict[str, object]]


def lines_digest(lines: list[StatementLine]) -> str:
    return hashlib.sha256(msgspec.json.encode(lines, order="sorted")).hexdigest()


class Licensing:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    # -- grants -------------------------------------------------------------------------------------------
    def request(self, viewer: Account, spec: GrantRequest) -> Grant:
        access.require(viewer, UseCase.REQUEST_GRANT)
        work = self.store.get_work(spec.work_id)  # NotFound names it
        if work.status != WorkStatus.ACTIVE:
            raise Conflict(f"work {work.id} is {work.status.value}: it offers no licence now")
        offer = next((o for o in work.offers if o.id == spec.offer_id), None)
        if offer is None:
            known = ", ".join(str(o.id) for o in work.offers) or "none"
            raise NotFound(f"work {work.id} has no offer {spec.offer_id!r}; its offers: {known}")
        if not offer.covers(spec.purpose):
            raise InvalidInput(f"offer {offer.id} covers {', '.join(offer.purposes)}, not {spec.purpose}")
        now = self.clock.now()
        grant = Grant(id=new_id("grt"), work_id=work.id, owner_id=work.owner_id, grantee_id=viewer.id,
                      offer_id=str(offer.id), purpose=spec.purpose, price=offer.price, per=offer.per,
                      note=spec.note, status="requested", created_at=now)
        if offer.auto_grant:
            grant = msgspec.structs.replace(grant, status="granted", decided_at=now,
                                            expires_at=now + timedelta(days=offer.valid_days))
        stored = self.store.add_grant(grant, viewer.id)
        self.store.notify([Notice(account_id=work.owner_id, event=f"grant.{stored.status}", subject=stored.id,
                                  details={"grant_id": stored.id, "work_id": work.id, "purpose": spec.purpose,
                                           "offer_id": stored.offer_id})])
        return stored

    def _visible(self, viewer: Account, grant_id: str) -> Grant:
        try:
            grant = self.store.get_grant(grant_id)
        except NotFound:
            grant = None
        if grant is None or not (viewer.role in (Role.ADMIN, Role.AUDITOR)
                                 or viewer.id in (grant.owner_id, grant.grantee_id)):
            raise NotFound(f"no grant {grant_id}")
        return grant

    def get(self, viewer: Account, grant_id: str) -> Grant:
        access.require(viewer, UseCase.READ_GRANTS)
        return self._visible(viewer, grant_id)

    def decide(self, viewer: Account, grant_id: str, outcome: Literal["approve", "deny", "revoke"],
               note: str = "") -> Grant:
        """The owner approves or denies a requested grant, or revokes a granted one."""
        access.require(viewer, UseCase.DECIDE_GRANT)
        grant = self._visible(viewer, grant_id)
        if viewer.id != grant.owner_id and viewer.role != Role.ADMIN:
            raise NotFound(f"no grant {grant_id} of your works")
        now = self.clock.now()

        def change(current: Grant) -> Grant:  # inside the write transaction
            state = current.state(now)
            if outcome in ("approve", "deny") and state != "requested":
                raise Conflict(f"grant {grant_id} is {state}: only a requested grant is approved or denied")
            if outcome == "revoke" and state != "granted":
                raise Conflict(f"grant {grant_id} is {state}: only a granted, unexpired grant is revoked")
            if outcome == "approve":
                work = self.store.get_work(current.work_id)
                offer = next((o for o in work.offers if o.id == current.offer_id), None)
                days = offer.valid_days if offer is not None else 365
                return msgspec.structs.replace(current, status="granted", decided_at=now, decision_note=note,
                                               expires_at=now + timedelta(days=days))
            status = "denied" if outcome == "deny" else "revoked"
            return msgspec.structs.replace(current, status=status, decided_at=now, decision_note=note)

        changed = self.store.change_grant(grant_id, change, viewer.id)
        self.store.notify([Notice(account_id=changed.grantee_id, event=f"grant.{changed.status}", subject=changed.id,
                                  details={"grant_id": changed.id, "work_id": changed.work_id,
                                           "purpose": changed.purpose})])
        return changed

    def grants(self, viewer: Account, status: str | None = None, limit: int = 100,
             before: tuple[datetime, str] | None = None) -> list[Grant]:
        """A creator's grants on their works, an operator's own; auditors and admins all. `expired` is a
        granted grant past its date."""
        access.require(viewer, UseCase.READ_GRANTS)
        if status is not None and status not in GRANT_STATUSES:
            raise InvalidInput(f"unknown grant status {status!r}; use one of {', '.join(GRANT_STATUSES)}")
        owner = viewer.id if viewer.role == Role.CREATOR else None
        grantee = viewer.id if viewer.role == Role.OPERATOR else None
        stored = "granted" if status == "expired" else status
        now = self.clock.now()
        found = self.store.list_grants(owner_id=owner, grantee_id=grantee, status=stored, limit=limit, before=before)
        return [g for g in found if status is None or g.state(now) == status]

    # -- pools --------------------------------------------------------------------------------------------
    def create_pool(self, viewer: Account, spec: NewPool) -> Pool:
        access.require(viewer, UseCase.MANAGE_POOLS)
        if spec.basis == "checks":
            if spec.from_ is None or spec.until is None:
                raise InvalidInput('a pool on the basis "checks" needs "from" and "until" (the period of checks)')
            if spec.until <= spec.from_:
                raise InvalidInput('"until" must be after "from"')
            if spec.training_run_id is not None:
                raise InvalidInput('"training_run_id" is for the basis "training_run"')
            period = (spec.from_, spec.until)
        else:
            if not spec.training_run_id:
                raise InvalidInput('a pool on the basis "training_run" needs "training_run_id"')
            run = own_run(self.store, viewer, spec.training_run_id)
            period = (run.created_at, run.closed_at or run.created_at)
        for name, value in (("from", period[0]), ("until", period[1])):
            if value.tzinfo is None:
                raise InvalidInput(f'"{name}" needs a time zone, e.g. 2026-11-01T00:00:00Z')
        pool = Pool(id=new_id("pol"), account_id=viewer.id, name=spec.name.strip(),
                    amount=Money(amount_minor=spec.amount_minor, currency=spec.currency), basis=spec.basis,
                    period_from=period[0], period_until=period[1], training_run_id=spec.training_run_id,
                    min_payout_minor=spec.min_payout_minor, created_at=self.clock.now())
        return self.store.add_pool(pool, viewer.id)

    def _pool(self, viewer: Account, pool_id: str, own: bool = False) -> Pool:
        access.require(viewer, UseCase.MANAGE_POOLS if own else UseCase.READ_POOLS)
        try:
            pool = self.store.get_pool(pool_id)
        except NotFound:
            pool = None
        if pool is None or (viewer.role == Role.OPERATOR and pool.account_id != viewer.id):
            raise NotFound(f"no pool {pool_id}")
        return pool

    def get_pool(self, viewer: Account, pool_id: str) -> Pool:
        return self._pool(viewer, pool_id)

    def pools(self, viewer: Account, limit: int = 100, before: tuple[datetime, str] | None = None) -> list[Pool]:
        access.require(viewer, UseCase.READ_POOLS)
        return self.store.list_pools(viewer.id if viewer.role == Role.OPERATOR else None, limit, before)

    def close(self, viewer: Account, pool_id: str) -> tuple[Pool, list[StatementLine]]:
        pool = self._pool(viewer, pool_id, own=True)
        if pool.status != "open":
            raise Conflict(f"pool {pool_id} is closed already: its statements never change")
        now = self.clock.now()
        if pool.basis == "checks" and pool.period_until > now:
            raise Conflict(f"pool {pool_id}'s period runs until {pool.period_until.isoformat()}: close it after")
        closing = msgspec.structs.replace(pool, status="closed", closed_at=now, method=METHOD)
        lines = self._lines(closing)
        closed = self.store.close_pool(msgspec.structs.replace(closing, digest=lines_digest(lines)), lines, viewer.id)
        self.store.notify([Notice(account_id=line.creator_id, event="statement.closed", subject=pool.id,
                                  details={"pool_id": pool.id, "paid_minor": line.paid_minor,
                                           "currency": line.currency}) for line in lines])
        return closed, lines

    def _lines(self, pool: Pool) -> list[StatementLine]:
        """The statement of `pool` (closing at `pool.closed_at`), computed from the record."""
        assert pool.closed_at is not None
        weights: dict[str, int] = defaultdict(int)
        items: dict[str, list[StatementItem]] = defaultdict(list)
        if pool.basis == "checks":
            for check in self._checks(pool):
                released = {r.work_id for r in check.revisions if r.at <= pool.closed_at}
                # checks made before shares were recorded get them now, by the same method, from their evidence
                shares = [m.share for m in check.matches] if check.share_method else \
                    attribution.shares([(m.score, m.evidence) for m in check.matches])
                for match, share in zip(check.matches, shares, strict=True):
                    weight = round(share * SHARE_SCALE)
                    if match.work_id in released or weight <= 0:
                        continue
                    weights[match.owner_id] += weight
                    items[match.owner_id].append(StatementItem(work_id=match.work_id, check_id=check.id,
                                                               weight=weight))
        else:
            run = self.store.get_training_run(str(pool.training_run_id))
            if run.status != "closed":
                raise Conflict(f"training run {run.id} is open: close it first, so that the works it included "
                               "are final")
            after = ""
            while page := self.store.training_run_works(run.id, after, 1000):
                for included in page:
                    weights[included.owner_id] += 1
                    items[included.owner_id].append(StatementItem(work_id=included.work_id, weight=1))
                after = page[-1].work_id
        carried = self.store.carried_over(pool.account_id, pool.amount.currency, pool.closed_at, pool.id)
        return statement(pool, weights, items, carried)

    def _checks(self, pool: Pool) -> list[Check]:
        """The operator's checks in the pool's period [from, until)."""
        out: list[Check] = []
        before = None
        while True:
            page = self.store.list_checks(CheckFilter(account_id=pool.account_id, since=pool.period_from,
                                                      until=pool.period_until, limit=500, before=before))
            out += [c for c in page if pool.period_from <= c.created_at < pool.period_until]
            if len(page) < 500:
                return out
            before = (page[-1].created_at, page[-1].id)

    def statements(self, viewer: Account, pool_id: str) -> tuple[Pool, list[StatementLine]]:
        pool = self._pool(viewer, pool_id)
        return pool, self.store.pool_lines(pool.id)

    def creator_statements(self, viewer: Account, limit: int = 100) -> list[tuple[Pool, StatementLine]]:
        """A creator's lines, newest first, each with its pool."""
        access.require(viewer, UseCase.READ_STATEMENTS)
        found = self.store.creator_lines(viewer.id, limit)
        pools = {p: self.store.get_pool(p) for p in {line.pool_id for _, line in found}}
        return [(pools[line.pool_id], line) for _, line in found]

    def recompute(self, viewer: Account, pool_id: str) -> Recomputation:
        pool = self._pool(viewer, pool_id)
        if pool.status != "closed":
            raise Conflict(f"pool {pool_id} is open: there is nothing to recompute until it is closed")
        recorded = self.store.pool_lines(pool.id)
        again = self._lines(pool)
        old = {line.creator_id: line for line in recorded}
        new = {line.creator_id: line for line in again}
        differences: list[dict[str, object]] = []
        for creator in sorted(set(old) | set(new)):
            a, b = old.get(creator), new.get(creator)
            if a != b:
                differences.append({"creator_id": creator, "recorded": a, "recomputed": b})
        digest = lines_digest(again)
        return Recomputation(pool_id=pool.id, agrees=not differences and digest == pool.digest,
                             digest_recorded=pool.digest, digest_recomputed=digest, lines=len(recorded),
                             differences=differences)


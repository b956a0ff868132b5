"""The store's part for contested ownership and disputed matches: conflicts, disputes, released matches,
notifications and webhook deliveries, in portable SQL (SQLite and PostgreSQL).

Every change is written with its audit entry and its notifications in one transaction; a notification for
an account with webhooks also queues one delivery per webhook (an outbox), so a notification is never
lost nor sent for a change that was rolled back.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from registry.claims import (
    RELEASING,
    ConflictStatus,
    Delivery,
    Dispute,
    DisputeEvent,
    DisputeFilter,
    DisputeReason,
    DisputeStatus,
    Domain,
    Exclusion,
    Keep,
    Notice,
    Notification,
    OwnershipConflict,
    Webhook,
)
from registry.errors import Conflict, NotFound
from registry.ids import new_id, utcnow
from registry.models import Check, CheckRevision, MatchRecord, Work, WorkKind, WorkStatus
from registry.sql_base import Before, Cursor, Row, SqlBase, _dt, _json, _ts, keyset
from registry.store import DisputeChange
from registry.terms import combine

CLAIMS_MIGRATION = """
CREATE TABLE conflicts (
    id TEXT PRIMARY KEY, work_id TEXT NOT NULL, work_owner_id TEXT NOT NULL, earlier_work_id TEXT NOT NULL,
    earlier_owner_id TEXT NOT NULL, by_signal TEXT NOT NULL, score DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, keep TEXT, note TEXT NOT NULL, resolved_at TEXT,
    resolved_by TEXT
);
CREATE INDEX conflicts_status ON conflicts (status, created_at, id);
CREATE INDEX conflicts_work ON conflicts (work_id);
CREATE TABLE disputes (
    id TEXT PRIMARY KEY, check_id TEXT NOT NULL, work_id TEXT NOT NULL, operator_id TEXT NOT NULL,
    owner_id TEXT NOT NULL, reason TEXT NOT NULL, note TEXT NOT NULL, status TEXT NOT NULL,
    opened_at TEXT NOT NULL, deadline TEXT, appealed INTEGER NOT NULL, history TEXT NOT NULL,
    UNIQUE (check_id, work_id)
);
CREATE INDEX disputes_due ON disputes (status, deadline);
CREATE INDEX disputes_operator ON disputes (operator_id, opened_at);
CREATE INDEX disputes_owner ON disputes (owner_id, opened_at);
CREATE TABLE released_matches (
    account_id TEXT NOT NULL, sha256 TEXT NOT NULL, work_id TEXT NOT NULL, dispute_id TEXT NOT NULL,
    PRIMARY KEY (account_id, sha256, work_id)
);
CREATE TABLE notifications (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL,
    details TEXT NOT NULL, created_at TEXT NOT NULL, read_at TEXT
);
CREATE INDEX notifications_account ON notifications (account_id, created_at, id);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL,
    created_at TEXT NOT NULL, active INTEGER NOT NULL
);
CREATE INDEX webhooks_account ON webhooks (account_id);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, notification_id TEXT NOT NULL, event TEXT NOT NULL,
    body TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, next_at TEXT NOT NULL,
    created_at TEXT NOT NULL, claimed_until TEXT, last_status INTEGER, last_error TEXT, delivered_at TEXT
);
CREATE INDEX deliveries_due ON webhook_deliveries (status, next_at);
CREATE INDEX deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
CREATE TABLE exclusions (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, sha256 TEXT NOT NULL, media_type TEXT NOT NULL, work_id TEXT,
    created_by TEXT NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL, active INTEGER NOT NULL
);
CREATE INDEX exclusions_sha256 ON exclusions (sha256);
CREATE TABLE domains (
    account_id TEXT NOT NULL, host TEXT NOT NULL, token TEXT NOT NULL, created_at TEXT NOT NULL, verified_at TEXT,
    checked_at TEXT, last_error TEXT, PRIMARY KEY (account_id, host)
);
ALTER TABLE checks ADD COLUMN revisions TEXT NOT NULL DEFAULT '[]'
"""

def _conflict(r: Row) -> OwnershipConflict:
    return OwnershipConflict(
        id=r["id"], work_id=r["work_id"], work_owner_id=r["work_owner_id"], earlier_work_id=r["earlier_work_id"],
        earlier_owner_id=r["earlier_owner_id"], by=r["by_signal"], score=float(r["score"]),
        status=ConflictStatus(r["status"]), created_at=_dt(r["created_at"]),
        keep=Keep(r["keep"]) if r["keep"] else None, note=r["note"],
        resolved_at=_dt(r["resolved_at"]) if r["resolved_at"] else None, resolved_by=r["resolved_by"],
    )


def _dispute(r: Row) -> Dispute:
    return Dispute(
        id=r["id"], check_id=r["check_id"], work_id=r["work_id"], operator_id=r["operator_id"],
        owner_id=r["owner_id"], reason=DisputeReason(r["reason"]), note=r["note"],
        status=DisputeStatus(r["status"]), opened_at=_dt(r["opened_at"]),
        deadline=_dt(r["deadline"]) if r["deadline"] else None, appealed=bool(r["appealed"]),
        history=msgspec.json.decode(r["history"], type=tuple[DisputeEvent, ...]),
    )


def _notification(r: Row) -> Notification:
    return Notification(
        id=r["id"], account_id=r["account_id"], event=r["event"], subject=r["subject"],
        details=msgspec.json.decode(r["details"]), created_at=_dt(r["created_at"]),
        read_at=_dt(r["read_at"]) if r["read_at"] else None,
    )


def _webhook(r: Row) -> Webhook:
    return Webhook(
        id=r["id"], account_id=r["account_id"], url=r["url"], events=tuple(msgspec.json.decode(r["events"])),
        secret=r["secret"], created_at=_dt(r["created_at"]), active=bool(r["active"]),
    )


def _delivery(r: Row) -> Delivery:
    return Delivery(
        id=r["id"], webhook_id=r["webhook_id"], notification_id=r["notification_id"], event=r["event"],
        body=r["body"], status=r["status"], attempts=int(r["attempts"]), next_at=_dt(r["next_at"]),
        created_at=_dt(r["created_at"]), last_status=r["last_status"], last_error=r["last_error"],
        delivered_at=_dt(r["delivered_at"]) if r["delivered_at"] else None,
    )


def _exclusion(r: Row) -> Exclusion:
    return Exclusion(
        id=r["id"], kind=WorkKind(r["kind"]), sha256=r["sha256"], media_type=r["media_type"], work_id=r["work_id"],
        created_by=r["created_by"], note=r["note"], created_at=_dt(r["created_at"]), active=bool(r["active"]),
    )


def _domain(r: Row) -> Domain:
    return Domain(account_id=r["account_id"], host=r["host"], token=r["token"], created_at=_dt(r["created_at"]),
                  verified_at=_dt(r["verified_at"]) if r["verified_at"] else None,
                  checked_at=_dt(r["checked_at"]) if r["checked_at"] else None, last_error=r["last_error"])


def notification_body(n: Notification) -> str:
    """What a webhook receives for a notification (the signed body)."""
    return _json({"id": n.id, "event": n.event, "subject": n.subject, "details": n.details,
                  "created_at": _ts(n.created_at)})


class ClaimsSql(SqlBase):
    # -- notifications (written inside the transaction of the change they report) ----------------------
    def _notify(self, c: Cursor, notices: Sequence[Notice]) -> None:
        now = utcnow()
        for notice in notices:
            n = Notification(id=new_id("ntf"), account_id=notice.account_id, event=notice.event,
                             subject=notice.subject, details=notice.details, created_at=now)
            c.execute("INSERT INTO notifications (id, account_id, event, subject, details, created_at)"
                      " VALUES (?, ?, ?, ?, ?, ?)",
                      (n.id, n.account_id, n.event, n.subject, _json(n.details), _ts(now)))
            hooks = c.execute("SELECT * FROM webhooks WHERE account_id = ? AND active = 1",
                              (n.account_id,)).fetchall()
            body = notification_body(n)
            for hook in map(_webhook, hooks):
                if n.event in hook.events or "*" in hook.events:
                    c.execute("INSERT INTO webhook_deliveries (id, webhook_id, notification_id, event, body, status,"
                              " attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                              (new_id("dlv"), hook.id, n.id, n.event, body, _ts(now), _ts(now)))

    def notify(self, notices: Sequence[Notice]) -> None:
        with self._write() as c:
            self._notify(c, notices)

    def list_notifications(self, account_id: str, *, unread: bool = False, before: str | None = None,
                           limit: int = 100) -> list[Notification]:
        """An account's notifications, newest first; `before` a notification id (the cursor)."""
        sql = "SELECT * FROM notifications WHERE account_id = ?"
        args: list[Any] = [account_id]
        if unread:
            sql += " AND read_at IS NULL"
        if before:
            row = self._one("SELECT created_at FROM notifications WHERE id = ? AND account_id = ?", before, account_id)
            if row is None:
                raise NotFound(f"no notification {before} to page from")
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            args += [row["created_at"], row["created_at"], before]
        rows = self._all(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", *args, limit)
        return [_notification(r) for r in rows]

    def unread_count(self, account_id: str) -> int:
        row = self._one("SELECT count(*) AS n FROM notifications WHERE account_id = ? AND read_at IS NULL", account_id)
        return int(row["n"]) if row else 0

    def mark_read(self, account_id: str, ids: Sequence[str] | None) -> int:
        """Mark an account's notifications read (`ids` None: all of them); how many changed."""
        with self._write() as c:
            if ids is None:
                cur = c.execute("UPDATE notifications SET read_at = ? WHERE account_id = ? AND read_at IS NULL",
                                (_ts(utcnow()), account_id))
                return int(cur.rowcount or 0)
            changed = 0
            for nid in ids:
                cur = c.execute("UPDATE notifications SET read_at = ? WHERE id = ? AND account_id = ?"
                                " AND read_at IS NULL", (_ts(utcnow()), nid, account_id))
                changed += int(cur.rowcount or 0)
            return changed

    # -- webhooks -------------------------------------------------------------------------------------
    def add_webhook(self, hook: Webhook, actor: str) -> Webhook:
        with self._write() as c:
            c.execute("INSERT INTO webhooks (id, account_id, url, events, secret, created_at, active)"
                      " VALUES (?, ?, ?, ?, ?, ?, 1)",
                      (hook.id, hook.account_id, hook.url, _json(list(hook.events)), hook.secret,
                       _ts(hook.created_at)))
            self._audit(c, actor, "webhook.added", hook.id,
                        {"account_id": hook.account_id, "url": hook.url, "events": list(hook.events)})
        return hook

    def get_webhook(self, webhook_id: str) -> Webhook:
        row = self._one("SELECT * FROM webhooks WHERE id = ?", webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        return _webhook(row)

    def list_webhooks(self, account_id: str) -> list[Webhook]:
        rows = self._all("SELECT * FROM webhooks WHERE account_id = ? AND active = 1 ORDER BY created_at, id",
                         account_id)
        return [_webhook(r) for r in rows]

    def remove_webhook(self, webhook_id: str, actor: str) -> Webhook:
        with self._write() as c:
            c.execute("UPDATE webhooks SET active = 0 WHERE id = ?", (webhook_id,))
            c.execute("UPDATE webhook_deliveries SET status = 'cancelled' WHERE webhook_id = ? AND status = 'pending'",
                      (webhook_id,))
            self._audit(c, actor, "webhook.removed", webhook_id, {})
        return self.get_webhook(webhook_id)

    def claim_deliveries(self, now: datetime, lease_until: datetime, limit: int = 20) -> list[tuple[Delivery, Webhook]]:
        """Claim due deliveries until `lease_until` (another replica skips them until then)."""
        claimed: list[tuple[Delivery, Webhook]] = []
        if self._one("SELECT 1 AS due FROM webhook_deliveries WHERE status = 'pending' AND next_at <= ? LIMIT 1",
                     _ts(now)) is None:
            return claimed  # nothing due: no write transaction (every replica asks every few seconds)
        with self._write() as c:
            rows = c.execute(
                "SELECT d.*, w.account_id AS w_account_id, w.url AS w_url, w.events AS w_events,"
                " w.secret AS w_secret, w.created_at AS w_created_at, w.active AS w_active"
                " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.status = 'pending' AND d.next_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until < ?)"
                " ORDER BY d.next_at, d.id LIMIT ?", (_ts(now), _ts(now), limit)).fetchall()
            for r in rows:
                c.execute("UPDATE webhook_deliveries SET claimed_until = ? WHERE id = ?", (_ts(lease_until), r["id"]))
                hook = Webhook(id=r["webhook_id"], account_id=r["w_account_id"], url=r["w_url"],
                               events=tuple(msgspec.json.decode(r["w_events"])), secret=r["w_secret"],
                               created_at=_dt(r["w_created_at"]), active=bool(r["w_active"]))
                claimed.append((_delivery(r), hook))
        return claimed

    def finish_delivery(self, delivery_id: str, *, delivered: bool, status: int | None, error: str | None,
                        retry_at: datetime | None) -> None:
        """Record an attempt: delivered, to be retried at `retry_at`, or given up (`retry_at` None)."""
        outcome = "delivered" if delivered else ("pending" if retry_at is not None else "failed")
        now = utcnow()
        with self._write() as c:
            c.execute("UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, last_status = ?,"
                      " last_error = ?, next_at = ?, claimed_until = NULL, delivered_at = ? WHERE id = ?",
                      (outcome, status, error, _ts(retry_at or now), _ts(now) if delivered else None, delivery_id))

    def list_deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        rows = self._all("SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC"
                         " LIMIT ?", webhook_id, limit)
        return [_delivery(r) for r in rows]

    # -- ownership conflicts --------------------------------------------------------------------------
    def _earlier_rival(self, c: Cursor, work: Work,
                       rivals: Sequence[tuple[str, str, float]]) -> tuple[Row, str, float] | None:
        """The active work of another owner this work contests: same content first (checked here, inside the
        write transaction, so that concurrent enrollments of one content leave one active work), else the
        first of `rivals` (work id, signal, score: verified matches found before the transaction) still active."""
        same = c.execute("SELECT id, owner_id FROM works WHERE sha256 = ? AND status = 'active' AND owner_id != ?"
                         " AND id != ? ORDER BY created_at, id LIMIT 1",
                         (work.sha256, work.owner_id, work.id)).fetchone()
        if same:
            return same, "sha256", 1.0
        for rival_id, by, score in rivals:
            row = c.execute("SELECT id, owner_id FROM works WHERE id = ? AND status = 'active' AND owner_id != ?",
                            (rival_id, work.owner_id)).fetchone()
            if row:
                return row, by, score
        return None

    def _contest_if_rival(self, c: Cursor, work: Work, rivals: Sequence[tuple[str, str, float]], actor: str,
                          notices: Callable[[OwnershipConflict], list[Notice]] | None) -> Work:
        """The active `work` just written, or contested (with its conflict opened) when it has a rival."""
        rival = self._earlier_rival(c, work, rivals)
        if rival is None:
            return work
        self._open_conflict(c, work, rival, actor, notices or (lambda _: []))
        return msgspec.structs.replace(work, status=WorkStatus.CONTESTED)

    def _open_conflict(self, c: Cursor, work: Work, rival: tuple[Row, str, float], actor: str,
                       notices: Callable[[OwnershipConflict], list[Notice]]) -> OwnershipConflict:
        row, by, score = rival
        conflict = OwnershipConflict(
            id=new_id("cfl"), work_id=work.id, work_owner_id=work.owner_id, earlier_work_id=row["id"],
            earlier_owner_id=row["owner_id"], by=by, score=score, status=ConflictStatus.OPEN, created_at=utcnow())
        c.execute("INSERT INTO conflicts (id, work_id, work_owner_id, earlier_work_id, earlier_owner_id, by_signal,"
                  " score, status, created_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, '')",
                  (conflict.id, work.id, work.owner_id, conflict.earlier_work_id, conflict.earlier_owner_id, by,
                   score, _ts(conflict.created_at)))
        c.execute("UPDATE works SET status = 'contested' WHERE id = ?", (work.id,))
        self._audit(c, actor, "conflict.opened", conflict.id,
                    {"work_id": work.id, "earlier_work_id": conflict.earlier_work_id, "by": by, "score": score})
        self._notify(c, notices(conflict))
        return conflict

    def get_conflict(self, conflict_id: str) -> OwnershipConflict:
        row = self._one("SELECT * FROM conflicts WHERE id = ?", conflict_id)
        if row is None:
            raise NotFound(f"no conflict {conflict_id}")
        return _conflict(row)

    def conflicts_of_work(self, work_id: str) -> list[OwnershipConflict]:
        rows = self._all("SELECT * FROM conflicts WHERE work_id = ? OR earlier_work_id = ? ORDER BY created_at, id",
                         work_id, work_id)
        return [_conflict(r) for r in rows]

    def list_conflicts(self, *, account_id: str | None = None, status: ConflictStatus | None = None,
                       limit: int = 100, offset: int = 0, before: Before = None) -> list[OwnershipConflict]:
        """Conflicts newest first: all, or those where `account_id` is either owner."""
        where: list[str] = []
        args: list[Any] = []
        keyset(where, args, before)
        if account_id is not None:
            where.append("(work_owner_id = ? OR earlier_owner_id = ?)")
            args += [account_id, account_id]
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        sql = "SELECT * FROM conflicts" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._all(sql + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", *args, limit, offset)
        return [_conflict(r) for r in rows]

    def resolve_conflict(self, conflict_id: str, keep: Keep, note: str, actor: str,
                         notices: Callable[[OwnershipConflict], list[Notice]]) -> OwnershipConflict:
        """Resolve an open conflict: the works' statuses change (each audited as `work.activated` or
        `work.rejected`, which every replica's index follows); Conflict when it was resolved already."""
        with self._write() as c:
            row = c.execute("SELECT * FROM conflicts WHERE id = ?", (conflict_id,)).fetchone()
            if row is None:
                raise NotFound(f"no conflict {conflict_id}")
            conflict = _conflict(row)
            if conflict.status != ConflictStatus.OPEN:
                raise Conflict(f"conflict {conflict_id} was resolved already ({conflict.keep} kept it)")
            now = utcnow()
            if keep in (Keep.NEWER, Keep.BOTH):
                self._set_status(c, conflict.work_id, WorkStatus.CONTESTED, WorkStatus.ACTIVE, "work.activated", actor,
                                 conflict_id)
            else:
                self._set_status(c, conflict.work_id, WorkStatus.CONTESTED, WorkStatus.REJECTED, "work.rejected",
                                 actor, conflict_id)
            if keep == Keep.NEWER:
                self._set_status(c, conflict.earlier_work_id, WorkStatus.ACTIVE, WorkStatus.REJECTED, "work.rejected",
                                 actor, conflict_id)
            c.execute("UPDATE conflicts SET status = 'resolved', keep = ?, note = ?, resolved_at = ?, resolved_by = ?"
                      " WHERE id = ?", (keep.value, note, _ts(now), actor, conflict_id))
            self._audit(c, actor, "conflict.resolved", conflict_id,
                        {"keep": keep.value, "note": note, "work_id": conflict.work_id,
                         "earlier_work_id": conflict.earlier_work_id})
            resolved = msgspec.structs.replace(conflict, status=ConflictStatus.RESOLVED, keep=keep, note=note,
                                               resolved_at=now, resolved_by=actor)
            self._notify(c, notices(resolved))
        return resolved

    def _set_status(self, c: Cursor, work_id: str, expected: WorkStatus, new: WorkStatus, action: str, actor: str,
                    conflict_id: str) -> None:
        cur = c.execute("UPDATE works SET status = ? WHERE id = ? AND status = ?", (new.value, work_id, expected.value))
        if cur.rowcount:
            self._audit(c, actor, action, work_id, {"conflict_id": conflict_id, "status": new.value})

    # -- disputes -------------------------------------------------------------------------------------
    def add_dispute(self, dispute: Dispute, actor: str, notices: Sequence[Notice]) -> Dispute:
        with self._write() as c:
            existing = c.execute("SELECT id FROM disputes WHERE check_id = ? AND work_id = ?",
                                 (dispute.check_id, dispute.work_id)).fetchone()
            if existing:
                raise Conflict(f"this match is disputed already (dispute {existing['id']}); a match is disputed "
                               "once, and an upheld dispute is appealed", existing_id=existing["id"])
            c.execute("INSERT INTO disputes (id, check_id, work_id, operator_id, owner_id, reason, note, status,"
                      " opened_at, deadline, appealed, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                      (dispute.id, dispute.check_id, dispute.work_id, dispute.operator_id, dispute.owner_id,
                       dispute.reason.value, dispute.note, dispute.status.value, _ts(dispute.opened_at),
                       _ts(dispute.deadline) if dispute.deadline else None, _json(list(dispute.history))))
            self._audit(c, actor, "dispute.opened", dispute.id,
                        {"check_id": dispute.check_id, "work_id": dispute.work_id, "reason": dispute.reason.value,
                         "note": dispute.note, "deadline": _ts(dispute.deadline) if dispute.deadline else None})
            self._notify(c, notices)
        return dispute

    def get_dispute(self, dispute_id: str) -> Dispute:
        row = self._one("SELECT * FROM disputes WHERE id = ?", dispute_id)
        if row is None:
            raise NotFound(f"no dispute {dispute_id}")
        return _dispute(row)

    def list_disputes(self, flt: DisputeFilter) -> list[Dispute]:
        where, args = [], []
        for column, value in (("operator_id", flt.operator_id), ("owner_id", flt.owner_id),
                              ("status", flt.status), ("check_id", flt.check_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        keyset(where, args, flt.before, "opened_at")
        sql = "SELECT * FROM disputes" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._all(sql + " ORDER BY opened_at DESC, id DESC LIMIT ? OFFSET ?", *args, flt.limit, flt.offset)
        return [_dispute(r) for r in rows]

    def due_disputes(self, now: datetime, limit: int = 500) -> list[str]:
        """Disputes whose deadline has passed and that still wait (open or upheld)."""
        rows = self._all("SELECT id FROM disputes WHERE status IN ('open', 'upheld') AND deadline <= ?"
                         " ORDER BY deadline, id LIMIT ?", _ts(now), limit)
        return [r["id"] for r in rows]

    def change_dispute(self, dispute_id: str, change: DisputeChange, actor: str) -> Dispute:
        """Apply `change` to the dispute as it is inside the write transaction (it may raise to refuse, or
        return None: nothing to do). Its last history event is audited as `dispute.<action>`; a dispute that
        comes to release its match revises the check's verdict and stops the pair matching for the operator."""
        with self._write() as c:
            row = c.execute("SELECT * FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
            if row is None:
                raise NotFound(f"no dispute {dispute_id}")
            before = _dispute(row)
            changed = change(before)
            if changed is None:
                return before
            after, notices = changed
            c.execute("UPDATE disputes SET status = ?, deadline = ?, appealed = ?, history = ? WHERE id = ?",
                      (after.status.value, _ts(after.deadline) if after.deadline else None, int(after.appealed),
                       _json(list(after.history)), dispute_id))
            event = after.history[-1]
            self._audit(c, actor, f"dispute.{event.action}", dispute_id,
                        {"status": after.status.value, "note": event.note, "at": _ts(event.at),
                         "deadline": _ts(after.deadline) if after.deadline else None})
            if after.status in RELEASING and before.status not in RELEASING:
                self._release_match(c, after, event.at, actor)
            self._notify(c, notices)
        return after

    def _release_match(self, c: Cursor, dispute: Dispute, at: datetime, actor: str) -> None:
        row = c.execute("SELECT * FROM checks WHERE id = ?", (dispute.check_id,)).fetchone()
        if row is None:
            raise NotFound(f"no check {dispute.check_id}")
        check = _check_row(row)
        matches = [msgspec.structs.replace(m, released_by=dispute.id) if m.work_id == dispute.work_id else m
                   for m in check.matches]
        verdict = combine(m.requirement for m in matches if m.released_by is None)
        revision = CheckRevision(at=at, work_id=dispute.work_id, dispute_id=dispute.id,
                                 verdict_before=check.verdict.value, verdict_after=verdict)
        c.execute("UPDATE checks SET verdict = ?, matches = ?, revisions = ? WHERE id = ?",
                  (verdict, _json(matches), _json([*check.revisions, revision]), check.id))
        c.execute("INSERT INTO released_matches (account_id, sha256, work_id, dispute_id, likeness)"
                  " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                  (check.account_id, check.sha256, dispute.work_id, dispute.id, check.likeness))
        self._audit(c, actor, "check.revised", check.id,
                    {"work_id": dispute.work_id, "dispute_id": dispute.id, "verdict_before": check.verdict.value,
                     "verdict_after": verdict})

    # -- exclusions -----------------------------------------------------------------------------------
    def add_exclusion(self, exclusion: Exclusion, actor: str) -> Exclusion:
        """Register content that must never match; `exclusion.added` puts it in every replica's index."""
        with self._write() as c:
            same = c.execute("SELECT id FROM exclusions WHERE sha256 = ? AND active = 1 AND"
                             " coalesce(work_id, '') = ?", (exclusion.sha256, exclusion.work_id or "")).fetchone()
            if same:
                raise Conflict(f"this content is excluded already (exclusion {same['id']})", existing_id=same["id"])
            c.execute("INSERT INTO exclusions (id, kind, sha256, media_type, work_id, created_by, note, created_at,"
                      " active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                      (exclusion.id, exclusion.kind.value, exclusion.sha256, exclusion.media_type, exclusion.work_id,
                       exclusion.created_by, exclusion.note, _ts(exclusion.created_at)))
            self._audit(c, actor, "exclusion.added", exclusion.id,
                        {"kind": exclusion.kind.value, "sha256": exclusion.sha256, "work_id": exclusion.work_id,
                         "note": exclusion.note})
        return exclusion

    def remove_exclusion(self, exclusion_id: str, actor: str) -> Exclusion:
        with self._write() as c:
            cur = c.execute("UPDATE exclusions SET active = 0 WHERE id = ? AND active = 1", (exclusion_id,))
            if cur.rowcount:
                self._audit(c, actor, "exclusion.removed", exclusion_id, {})
        return self.get_exclusion(exclusion_id)

    def get_exclusion(self, exclusion_id: str) -> Exclusion:
        row = self._one("SELECT * FROM exclusions WHERE id = ?", exclusion_id)
        if row is None:
            raise NotFound(f"no exclusion {exclusion_id}")
        return _exclusion(row)

    def list_exclusions(self, *, created_by: str | None = None, active: bool | None = True, limit: int = 100,
                        offset: int = 0, before: Before = None) -> list[Exclusion]:
        where: list[str] = []
        args: list[Any] = []
        keyset(where, args, before)
        if created_by is not None:
            where.append("created_by = ?")
            args.append(created_by)
        if active is not None:
            where.append("active = ?")
            args.append(int(active))
        sql = "SELECT * FROM exclusions" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._all(sql + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", *args, limit, offset)
        return [_exclusion(r) for r in rows]

    def active_exclusions(self, kind: WorkKind | None = None) -> list[Exclusion]:
        rows = self._all("SELECT * FROM exclusions WHERE active = 1" + (" AND kind = ?" if kind else "")
                         + " ORDER BY id", *([kind.value] if kind else []))
        return [_exclusion(r) for r in rows]

    def get_exclusions(self, ids: list[str]) -> dict[str, Exclusion]:
        return {r["id"]: _exclusion(r) for r in self._all_in("SELECT * FROM exclusions WHERE id IN ({in})", ids)}

    def exclusions_by_sha256(self, shas: list[str]) -> dict[str, list[Exclusion]]:
        found: dict[str, list[Exclusion]] = {}
        for r in self._all_in("SELECT * FROM exclusions WHERE active = 1 AND sha256 IN ({in})", shas):
            found.setdefault(r["sha256"], []).append(_exclusion(r))
        return found

    # -- verified domains -----------------------------------------------------------------------------
    def add_domain(self, domain: Domain, actor: str) -> Domain:
        """Claim a host for an account (the claim kept, with its token, when it exists already)."""
        with self._write() as c:
            row = c.execute("SELECT * FROM domains WHERE account_id = ? AND host = ?",
                            (domain.account_id, domain.host)).fetchone()
            if row:
                return _domain(row)
            c.execute("INSERT INTO domains (account_id, host, token, created_at) VALUES (?, ?, ?, ?)",
                      (domain.account_id, domain.host, domain.token, _ts(domain.created_at)))
            self._audit(c, actor, "domain.claimed", domain.host, {"account_id": domain.account_id})
        return domain

    def get_domain(self, account_id: str, host: str) -> Domain:
        row = self._one("SELECT * FROM domains WHERE account_id = ? AND host = ?", account_id, host)
        if row is None:
            raise NotFound(f"no claim of {host} by this account; claim it first (POST /v1/domains)")
        return _domain(row)

    def list_domains(self, account_id: str | None = None) -> list[Domain]:
        if account_id is None:
            return [_domain(r) for r in self._all("SELECT * FROM domains ORDER BY host, account_id")]
        return [_domain(r) for r in self._all("SELECT * FROM domains WHERE account_id = ? ORDER BY host", account_id)]

    def record_domain_check(self, account_id: str, host: str, error: str | None, actor: str) -> Domain:
        """The outcome of fetching the host's token: verified (error None, audited) or why not."""
        now = _ts(utcnow())
        with self._write() as c:
            if error is None:
                c.execute("UPDATE domains SET verified_at = ?, checked_at = ?, last_error = NULL"
                          " WHERE account_id = ? AND host = ?", (now, now, account_id, host))
                self._audit(c, actor, "domain.verified", host, {"account_id": account_id})
            else:
                c.execute("UPDATE domains SET checked_at = ?, last_error = ? WHERE account_id = ? AND host = ?",
                          (now, error[:500], account_id, host))
        return self.get_domain(account_id, host)

    def verified_hosts(self, account_ids: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for r in self._all_in("SELECT account_id, host FROM domains WHERE verified_at IS NOT NULL"
                              " AND account_id IN ({in})", account_ids):
            found.setdefault(r["account_id"], set()).add(r["host"])
        return found

    def released_matches(self, account_id: str, work_ids: list[str]) -> list[tuple[str, str, str, str]]:
        """The released pairs of this operator with these works: (work id, output SHA-256, output likeness,
        dispute id)."""
        rows = self._all_in("SELECT work_id, sha256, likeness, dispute_id FROM released_matches WHERE account_id = ?"
                            " AND work_id IN ({in})", work_ids, account_id)
        return [(r["work_id"], r["sha256"], r["likeness"], r["dispute_id"]) for r in rows]


def _check_row(r: Row) -> Check:
    from registry.models import Verdict

    return Check(
        id=r["id"], account_id=r["account_id"], created_at=_dt(r["created_at"]), purpose=r["purpose"],
        kind=WorkKind(r["kind"]), sha256=r["sha256"], verdict=Verdict(r["verdict"]),
        matches=msgspec.json.decode(r["matches"], type=list[MatchRecord]),
        matcher_version=r["matcher_version"], content_blob=r["content_blob"],
        revisions=msgspec.json.decode(r["revisions"] or "[]", type=list[CheckRevision]),
        likeness=r["likeness"],
    )

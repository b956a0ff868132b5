"""The store's part for licensing and compensation: grants, pools and closed statement lines, in portable SQL.

Every change is written with its audit entry in one transaction. A pool is closed once: its lines are
inserted and its status changed in the same transaction as the audit entry that holds their digest, so a
closed statement never changes and can be recomputed from the record.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from registry.errors import Conflict, NotFound
from registry.models import Grant, Pool, StatementLine
from registry.sql_base import Before, SqlBase, _dt, _json, _ts, keyset

GrantChange = Callable[[Grant], Grant]


class LicensingSql(SqlBase):
    # -- grants ---------------------------------------------------------------------------------------------
    def add_grant(self, grant: Grant, actor: str) -> Grant:
        with self._write() as c:
            c.execute("INSERT INTO grants (id, work_id, owner_id, grantee_id, purpose, status, created_at, expires_at,"
                      " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (grant.id, grant.work_id, grant.owner_id, grant.grantee_id, grant.purpose, grant.status,
                       _ts(grant.created_at), _ts(grant.expires_at) if grant.expires_at else None, _json(grant)))
            self._audit(c, actor, f"grant.{grant.status}", grant.id, {
                "work_id": grant.work_id, "offer_id": grant.offer_id, "purpose": grant.purpose,
                "grantee_id": grant.grantee_id, "price": grant.price, "per": grant.per,
                **({"expires_at": grant.expires_at} if grant.expires_at else {})})
        return grant

    def get_grant(self, grant_id: str) -> Grant:
        row = self._one("SELECT body FROM grants WHERE id = ?", grant_id)
        if row is None:
            raise NotFound(f"no grant {grant_id}")
        return msgspec.json.decode(row["body"], type=Grant)

    def change_grant(self, grant_id: str, change: GrantChange, actor: str) -> Grant:
        """Apply `change` (which raises to refuse) inside the write transaction; audited as `grant.<status>`."""
        with self._write() as c:
            row = c.execute("SELECT body FROM grants WHERE id = ?", (grant_id,)).fetchone()
            if row is None:
                raise NotFound(f"no grant {grant_id}")
            new = change(msgspec.json.decode(row["body"], type=Grant))
            c.execute("UPDATE grants SET status = ?, expires_at = ?, body = ? WHERE id = ?",
                      (new.status, _ts(new.expires_at) if new.expires_at else None, _json(new), grant_id))
            details: dict[str, Any] = {"work_id": new.work_id, "grantee_id": new.grantee_id, "purpose": new.purpose}
            if new.expires_at:
                details["expires_at"] = new.expires_at
            if new.decision_note:
                details["note"] = new.decision_note
            self._audit(c, actor, f"grant.{new.status}", grant_id, details)
        return new

    def list_grants(self, *, owner_id: str | None = None, grantee_id: str | None = None, status: str | None = None,
                    limit: int = 100, before: Before = None) -> list[Grant]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("owner_id", owner_id), ("grantee_id", grantee_id), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        keyset(where, args, before)
        sql = "SELECT body FROM grants" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._all(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", *args, limit)
        return [msgspec.json.decode(r["body"], type=Grant) for r in rows]

    def active_grants(self, grantee_id: str, work_ids: list[str], purpose: str, now: datetime) -> dict[str, Grant]:
        """The grant (the one lasting longest) `grantee_id` holds now for each of `work_ids` and `purpose`."""
        found: dict[str, Grant] = {}
        if not work_ids:
            return found
        for start in range(0, len(work_ids), 500):
            chunk = work_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._all(f"SELECT body FROM grants WHERE grantee_id = ? AND purpose = ? AND status = 'granted'"
                             f" AND expires_at > ? AND work_id IN ({marks}) ORDER BY expires_at",
                             grantee_id, purpose, _ts(now), *chunk)
            for r in rows:
                grant = msgspec.json.decode(r["body"], type=Grant)
                found[grant.work_id] = grant
        return found

    # -- pools ----------------------------------------------------------------------------------------------
    def add_pool(self, pool: Pool, actor: str) -> Pool:
        with self._write() as c:
            c.execute("INSERT INTO pools (id, account_id, created_at, status, body) VALUES (?, ?, ?, ?, ?)",
                      (pool.id, pool.account_id, _ts(pool.created_at), pool.status, _json(pool)))
            self._audit(c, actor, "pool.created", pool.id, {
                "name": pool.name, "amount": pool.amount, "basis": pool.basis, "from": pool.period_from,
                "until": pool.period_until, "training_run_id": pool.training_run_id,
                "min_payout_minor": pool.min_payout_minor})
        return pool

    def get_pool(self, pool_id: str) -> Pool:
        row = self._one("SELECT body FROM pools WHERE id = ?", pool_id)
        if row is None:
            raise NotFound(f"no pool {pool_id}")
        return msgspec.json.decode(row["body"], type=Pool)

    def list_pools(self, account_id: str | None = None, limit: int = 100, before: Before = None) -> list[Pool]:
        where: list[str] = []
        args: list[Any] = []
        if account_id is not None:
            where.append("account_id = ?")
            args.append(account_id)
        keyset(where, args, before)
        sql = "SELECT body FROM pools" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._all(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", *args, limit)
        return [msgspec.json.decode(r["body"], type=Pool) for r in rows]

    def close_pool(self, closed: Pool, lines: list[StatementLine], actor: str) -> Pool:
        """Write a pool's statement lines and mark it closed, once (Conflict when it was closed already)."""
        assert closed.closed_at is not None
        with self._write() as c:
            row = c.execute("SELECT status FROM pools WHERE id = ?", (closed.id,)).fetchone()
            if row is None:
                raise NotFound(f"no pool {closed.id}")
            if row["status"] != "open":
                raise Conflict(f"pool {closed.id} is closed already: its statements never change")
            c.executemany("INSERT INTO pool_lines (pool_id, creator_id, account_id, currency, closed_at, body)"
                          " VALUES (?, ?, ?, ?, ?, ?)",
                          [(closed.id, line.creator_id, closed.account_id, line.currency, _ts(closed.closed_at),
                            _json(line)) for line in lines])
            c.execute("UPDATE pools SET status = 'closed', body = ? WHERE id = ?", (_json(closed), closed.id))
            self._audit(c, actor, "pool.closed", closed.id, {
                "amount": closed.amount, "method": closed.method, "digest": closed.digest, "lines": len(lines),
                "paid_minor": sum(line.paid_minor for line in lines),
                "carried_out_minor": sum(line.carried_out_minor for line in lines)})
        return closed

    def pool_lines(self, pool_id: str) -> list[StatementLine]:
        rows = self._all("SELECT body FROM pool_lines WHERE pool_id = ? ORDER BY creator_id", pool_id)
        return [msgspec.json.decode(r["body"], type=StatementLine) for r in rows]

    def creator_lines(self, creator_id: str, limit: int = 100) -> list[tuple[datetime, StatementLine]]:
        rows = self._all("SELECT closed_at, body FROM pool_lines WHERE creator_id = ?"
                         " ORDER BY closed_at DESC, pool_id DESC LIMIT ?", creator_id, limit)
        return [(_dt(r["closed_at"]), msgspec.json.decode(r["body"], type=StatementLine)) for r in rows]

    def carried_over(self, account_id: str, currency: str, before: datetime,
                     exclude_pool: str = "") -> dict[str, int]:
        """For each creator, what the operator's latest pool in `currency` closed before `before` carried
        over to them (0 is left out)."""
        rows = self._all("SELECT creator_id, closed_at, pool_id, body FROM pool_lines WHERE account_id = ?"
                         " AND currency = ? AND closed_at < ? AND pool_id <> ? ORDER BY closed_at, pool_id",
                         account_id, currency, _ts(before), exclude_pool)
        latest: dict[str, int] = {}
        for r in rows:
            latest[r["creator_id"]] = msgspec.json.decode(r["body"], type=StatementLine).carried_out_minor
        return {k: v for k, v in latest.items() if v}

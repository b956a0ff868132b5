"""The store in portable SQL, shared by the SQLite and PostgreSQL implementations.

The schema is the same on both (text timestamps in UTC ISO 8601, JSON as text) so that one body of
queries serves both; a subclass supplies connections, the write transaction and the audit lock.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import msgspec

from registry.audit import ChainReport, verify_chain
from registry.claims import Notice
from registry.errors import Conflict, NotFound
from registry.ids import new_id, same_hash, utcnow
from registry.models import (
    Account,
    ApiKey,
    AuditEntry,
    Check,
    CheckFilter,
    FileOutcome,
    IncludedWork,
    Job,
    JobFile,
    Lookup,
    LookupResult,
    Role,
    SignedTreeHead,
    StoredAnswer,
    TrainingRun,
    Work,
    WorkKind,
    WorkStatus,
)
from registry.sql_base import Before, Cursor, Row, _dt, _enc, _ts, keyset
from registry.sql_claims import CLAIMS_MIGRATION, ClaimsSql, _check_row
from registry.sql_licensing import LicensingSql
from registry.store import INDEX_ACTIONS, ContestNotices, TermsChange, WorkChange
from registry.terms import LicenseTerms, Offer, OptOuts, Publication, legacy_fee_offer

SCHEMA = """
CREATE TABLE accounts (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, created_at TEXT NOT NULL,
    default_license TEXT, default_opt_outs TEXT
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE works (
    id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES accounts(id), kind TEXT NOT NULL,
    title TEXT NOT NULL, sha256 TEXT NOT NULL, media_type TEXT NOT NULL, size BIGINT NOT NULL,
    created_at TEXT NOT NULL, status TEXT NOT NULL, license TEXT NOT NULL, opt_outs TEXT NOT NULL,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX works_status ON works (status, kind);
CREATE TABLE checks (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), created_at TEXT NOT NULL,
    purpose TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL, verdict TEXT NOT NULL,
    matches TEXT NOT NULL, matcher_version TEXT NOT NULL, content_blob TEXT
);
CREATE INDEX checks_time ON checks (created_at);
CREATE TABLE check_matches (
    check_id TEXT NOT NULL REFERENCES checks(id), work_id TEXT NOT NULL, score DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (check_id, work_id)
);
CREATE INDEX check_matches_work ON check_matches (work_id);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
)
"""
MIGRATIONS: list[str | Callable[[Cursor], None]] = [  # numbered by position; append, never edit
    SCHEMA,
    # 2: a creator's works in order, for the web pages (newest first) and the API (oldest first)
    "CREATE INDEX works_owner_time ON works (owner_id, created_at, id)",
    # 3: answers kept for Idempotency-Key retries (24 h), shared by every replica
    """CREATE TABLE idempotency (
        account_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, created_at TEXT NOT NULL,
        status INTEGER, media_type TEXT, body TEXT, PRIMARY KEY (account_id, key)
    )""",
    # 4: web sessions held on the server, so that signing out ends them everywhere
    "CREATE TABLE web_sessions (id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, expires_at TEXT NOT NULL)",
    # 5: the signed heads of the audit log's Merkle tree, kept to check that the log only grows
    """CREATE TABLE tree_heads (
        size BIGINT PRIMARY KEY, root TEXT NOT NULL, timestamp BIGINT NOT NULL, key_id TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    # 6: bulk enrollment jobs staged in the store (their files in the blob store), shared by every replica
    """CREATE TABLE jobs (
        id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL,
        total INTEGER NOT NULL, enrolled INTEGER NOT NULL, skipped INTEGER NOT NULL, rejected INTEGER NOT NULL,
        license TEXT, opt_outs TEXT, finished_at TEXT
    );
    CREATE TABLE job_files (
        job_id TEXT NOT NULL REFERENCES jobs(id), position INTEGER NOT NULL, filename TEXT NOT NULL,
        blob TEXT NOT NULL, status TEXT NOT NULL, claimed_at TEXT, work_id TEXT, error TEXT, code TEXT,
        PRIMARY KEY (job_id, position)
    );
    CREATE INDEX job_files_status ON job_files (status, job_id, position);
    CREATE TABLE job_owners (owner_id TEXT PRIMARY KEY, last_served TEXT NOT NULL)""",
    # 7: where works are published (looked up by normalised URL), works by content hash, bulk lookups
    """ALTER TABLE works ADD COLUMN locations TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE work_locations (
        url TEXT NOT NULL, work_id TEXT NOT NULL REFERENCES works(id), PRIMARY KEY (url, work_id)
    );
    CREATE INDEX works_sha256 ON works (sha256);
    CREATE TABLE lookups (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, created_at TEXT NOT NULL, purpose TEXT NOT NULL,
        items INTEGER NOT NULL, digest TEXT NOT NULL, not_allowed INTEGER NOT NULL, results TEXT NOT NULL
    );
    CREATE INDEX lookups_account ON lookups (account_id, created_at)""",
    # 8: training runs and the works they included, with the terms at the time
    """CREATE TABLE training_runs (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL,
        purpose TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL, closed_at TEXT,
        items BIGINT NOT NULL
    );
    CREATE TABLE training_run_works (
        run_id TEXT NOT NULL REFERENCES training_runs(id), work_id TEXT NOT NULL, owner_id TEXT NOT NULL,
        use TEXT NOT NULL, violation INTEGER NOT NULL, items BIGINT NOT NULL, license TEXT NOT NULL,
        opt_outs TEXT NOT NULL, first_at TEXT NOT NULL, PRIMARY KEY (run_id, work_id)
    );
    CREATE INDEX training_run_works_work ON training_run_works (work_id, run_id)""",
    # 9: ownership conflicts, disputes and appeals, released matches, notifications and webhook deliveries
    CLAIMS_MIGRATION,
    # 10: a released match holds for the output's fingerprint, not only its bytes (a re-encoded copy)
    """ALTER TABLE checks ADD COLUMN likeness TEXT NOT NULL DEFAULT '';
    ALTER TABLE released_matches ADD COLUMN likeness TEXT NOT NULL DEFAULT '';
    CREATE INDEX released_matches_work ON released_matches (account_id, work_id)""",
    # 11: public declarations: ISCC codes, what each declaration shows, where opt-outs came from, withdrawal dates
    """ALTER TABLE works ADD COLUMN iscc TEXT NOT NULL DEFAULT '';
    ALTER TABLE works ADD COLUMN publish TEXT;
    ALTER TABLE works ADD COLUMN opt_out_sources TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE works ADD COLUMN withdrawn_at TEXT;
    ALTER TABLE accounts ADD COLUMN default_publish TEXT""",
    # 12: licensing: offers (stored fees become offers), grants, pools and their closed statement lines
    """ALTER TABLE works ADD COLUMN offers TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE accounts ADD COLUMN default_offers TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE grants (
        id TEXT PRIMARY KEY, work_id TEXT NOT NULL, owner_id TEXT NOT NULL, grantee_id TEXT NOT NULL,
        purpose TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, body TEXT NOT NULL
    );
    CREATE INDEX grants_grantee ON grants (grantee_id, work_id, purpose);
    CREATE INDEX grants_owner ON grants (owner_id, created_at);
    CREATE TABLE pools (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX pools_account ON pools (account_id, created_at);
    CREATE TABLE pool_lines (
        pool_id TEXT NOT NULL REFERENCES pools(id), creator_id TEXT NOT NULL, account_id TEXT NOT NULL,
        currency TEXT NOT NULL, closed_at TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (pool_id, creator_id)
    );
    CREATE INDEX pool_lines_creator ON pool_lines (creator_id, closed_at);
    CREATE INDEX pool_lines_carry ON pool_lines (account_id, creator_id, currency, closed_at)""",
    # 13: (data) every stored float fee becomes an integer-priced offer; terms keep no fee
    lambda c: fees_to_offers(c),
]


def fees_to_offers(c: Cursor) -> None:
    """Migration 13: the works' and accounts' float fees become offers (`registry.terms.legacy_fee_offer`)."""
    for table, license_col, offers_col in (("works", "license", "offers"),
                                           ("accounts", "default_license", "default_offers")):
        rows = c.execute(f"SELECT id, {license_col} AS license, {offers_col} AS offers FROM {table}"
                         f" WHERE {license_col} LIKE ?", ('%"fee":{%',)).fetchall()
        for row in rows:
            terms = msgspec.json.decode(row["license"], type=LicenseTerms)
            if terms.fee is None:
                continue
            offers = [*msgspec.json.decode(row["offers"], type=list[Offer]),
                      legacy_fee_offer(terms.fee, terms.terms_url)]
            c.execute(f"UPDATE {table} SET {license_col} = ?, {offers_col} = ? WHERE id = ?",
                      (_enc.encode(msgspec.structs.replace(terms, fee=None)).decode(), _enc.encode(offers).decode(),
                       row["id"]))


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _account(r: Row) -> Account:
    return Account(
        id=r["id"], name=r["name"], role=Role(r["role"]), created_at=_dt(r["created_at"]),
        default_license=msgspec.json.decode(r["default_license"], type=LicenseTerms)
        if r["default_license"] else None,
        default_opt_outs=msgspec.json.decode(r["default_opt_outs"], type=OptOuts)
        if r["default_opt_outs"] else None,
        default_publish=msgspec.json.decode(r["default_publish"], type=Publication)
        if r["default_publish"] else None,
        default_offers=tuple(msgspec.json.decode(r["default_offers"], type=list[Offer])),
    )


def _key(r: Row) -> ApiKey:
    return ApiKey(
        id=r["id"], account_id=r["account_id"], key_hash=r["key_hash"], prefix=r["prefix"],
        created_at=_dt(r["created_at"]), revoked_at=_dt(r["revoked_at"]) if r["revoked_at"] else None,
    )


def _work(r: Row) -> Work:
    return Work(
        id=r["id"], owner_id=r["owner_id"], kind=WorkKind(r["kind"]), title=r["title"], sha256=r["sha256"],
        media_type=r["media_type"], size=r["size"], created_at=_dt(r["created_at"]),
        status=WorkStatus(r["status"]),
        license=msgspec.json.decode(r["license"], type=LicenseTerms),
        opt_outs=msgspec.json.decode(r["opt_outs"], type=OptOuts),
        locations=tuple(msgspec.json.decode(r["locations"], type=list[str])),
        iscc=r["iscc"], publish=msgspec.json.decode(r["publish"], type=Publication) if r["publish"] else Publication(),
        opt_out_sources=msgspec.json.decode(r["opt_out_sources"], type=dict[str, str]),
        withdrawn_at=_dt(r["withdrawn_at"]) if r["withdrawn_at"] else None,
        offers=tuple(msgspec.json.decode(r["offers"], type=list[Offer])),
    )


def _lookup(r: Row) -> Lookup:
    return Lookup(
        id=r["id"], account_id=r["account_id"], created_at=_dt(r["created_at"]), purpose=r["purpose"],
        items=r["items"], digest=r["digest"], not_allowed=r["not_allowed"],
        results=msgspec.json.decode(r["results"], type=list[LookupResult]),
    )


def _included(r: Row) -> IncludedWork:
    return IncludedWork(
        work_id=r["work_id"], owner_id=r["owner_id"], use=r["use"], violation=bool(r["violation"]),
        items=int(r["items"]), license=msgspec.json.decode(r["license"], type=LicenseTerms),
        opt_outs=msgspec.json.decode(r["opt_outs"], type=OptOuts), first_at=_dt(r["first_at"]),
    )


_check = _check_row


def _audit(r: Row) -> AuditEntry:
    return AuditEntry(
        seq=r["seq"], at=_dt(r["at"]), actor=r["actor"], action=r["action"], subject=r["subject"],
        details=msgspec.json.decode(r["details"]), prev_hash=r["prev_hash"], hash=r["hash"],
    )


class SqlStore(ClaimsSql, LicensingSql):
    """The `Store` logic in portable SQL; subclasses supply connections, transactions and the audit lock."""

    # -- accounts and keys ----------------------------------------------------------------------------
    def create_account(self, name: str, role: Role, actor: str) -> Account:
        account = Account(id=new_id("acc"), name=name, role=role, created_at=utcnow())
        with self._write() as c:
            if c.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"an account named {name!r} exists already", name=name)
            c.execute(
                "INSERT INTO accounts (id, name, role, created_at) VALUES (?, ?, ?, ?)",
                (account.id, name, role.value, _ts(account.created_at)),
            )
            self._audit(c, actor, "account.created", account.id, {"name": name, "role": role.value})
        return account

    def get_account(self, account_id: str) -> Account:
        row = self._one("SELECT * FROM accounts WHERE id = ?", account_id)
        if row is None:
            raise NotFound(f"no account {account_id}")
        return _account(row)

    def find_account(self, name: str) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE name = ?", name)
        return _account(row) if row else None

    def list_accounts(self) -> list[Account]:
        return [_account(r) for r in self._all("SELECT * FROM accounts ORDER BY created_at, id")]

    def set_account_defaults(
        self, account_id: str, license: LicenseTerms | None, opt_outs: OptOuts | None, actor: str,
        publish: Publication | None = None, offers: Sequence[Offer] = (),
    ) -> Account:
        self.get_account(account_id)
        with self._write() as c:
            c.execute(
                "UPDATE accounts SET default_license = ?, default_opt_outs = ?, default_publish = ?,"
                " default_offers = ? WHERE id = ?",
                (_enc.encode(license).decode() if license else None,
                 _enc.encode(opt_outs).decode() if opt_outs else None,
                 _enc.encode(publish).decode() if publish else None, _enc.encode(list(offers)).decode(), account_id),
            )
            details: dict[str, Any] = {"license": license, "opt_outs": opt_outs}
            if publish is not None:
                details["publish"] = publish
            if offers:
                details["offers"] = list(offers)
            self._audit(c, actor, "account.defaults_set", account_id, details)
        return self.get_account(account_id)

    def create_key(self, account_id: str, key_hash: str, prefix: str, actor: str) -> ApiKey:
        self.get_account(account_id)
        key = ApiKey(id=new_id("key"), account_id=account_id, key_hash=key_hash, prefix=prefix,
                     created_at=utcnow())
        with self._write() as c:
            c.execute(
                "INSERT INTO api_keys (id, account_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
                (key.id, account_id, key_hash, prefix, _ts(key.created_at)),
            )
            self._audit(c, actor, "key.created", key.id, {"account_id": account_id, "prefix": prefix})
        return key

    def revoke_key(self, key_id: str, actor: str) -> ApiKey:
        key = self.get_key(key_id)
        if key.revoked_at is not None:
            return key
        with self._write() as c:
            c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (_ts(utcnow()), key_id))
            self._audit(c, actor, "key.revoked", key_id, {"account_id": key.account_id})
        return self.get_key(key_id)

    def get_key(self, key_id: str) -> ApiKey:
        row = self._one("SELECT * FROM api_keys WHERE id = ?", key_id)
        if row is None:
            raise NotFound(f"no API key {key_id}")
        return _key(row)

    def list_keys(self, account_id: str | None = None) -> list[ApiKey]:
        if account_id is None:
            return [_key(r) for r in self._all("SELECT * FROM api_keys ORDER BY created_at, id")]
        rows = self._all("SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at, id", account_id)
        return [_key(r) for r in rows]

    def authenticate(self, key_hash: str) -> tuple[ApiKey, Account] | None:
        row = self._one("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", key_hash)
        if row is None or not same_hash(row["key_hash"], key_hash):
            return None
        key = _key(row)
        return key, self.get_account(key.account_id)

    # -- works ----------------------------------------------------------------------------------------
    def add_work(self, work: Work, actor: str, rivals: Sequence[tuple[str, str, float]] = (),
                 contest: ContestNotices | None = None) -> Work:
        with self._write() as c:
            existing = c.execute(
                "SELECT id FROM works WHERE owner_id = ? AND sha256 = ?", (work.owner_id, work.sha256)
            ).fetchone()
            if existing:
                raise Conflict(f"this content is enrolled already as work {existing['id']}",
                               existing_id=existing["id"])
            c.execute(
                "INSERT INTO works (id, owner_id, kind, title, sha256, media_type, size, created_at, status,"
                " license, opt_outs, locations, iscc, publish, opt_out_sources, offers)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (work.id, work.owner_id, work.kind.value, work.title, work.sha256, work.media_type, work.size,
                 _ts(work.created_at), work.status.value, _enc.encode(work.license).decode(),
                 _enc.encode(work.opt_outs).decode(), _enc.encode(list(work.locations)).decode(), work.iscc,
                 _enc.encode(work.publish).decode(), _enc.encode(work.opt_out_sources).decode(),
                 _enc.encode(list(work.offers)).decode()),
            )
            c.executemany("INSERT INTO work_locations (url, work_id) VALUES (?, ?)",
                          [(url, work.id) for url in work.locations])
            details: dict[str, Any] = {"owner_id": work.owner_id, "kind": work.kind.value, "sha256": work.sha256,
                                       "title": work.title, "license": work.license, "opt_outs": work.opt_outs}
            if work.locations:
                details["locations"] = list(work.locations)
            if work.iscc:
                details["iscc"] = work.iscc
            if work.publish != Publication():
                details["publish"] = work.publish
            if work.opt_out_sources:
                details["opt_out_sources"] = work.opt_out_sources
            if work.offers:
                details["offers"] = list(work.offers)
            self._audit(c, actor, "work.enrolled", work.id, details)
            if work.status == WorkStatus.ACTIVE:
                work = self._contest_if_rival(c, work, rivals, actor, contest)
        return work

    def restore_work(self, work_id: str, actor: str, rivals: Sequence[tuple[str, str, float]] = (),
                     contest: ContestNotices | None = None) -> Work:
        """A withdrawn work active again (or contested, when another owner's active work has its content
        now); Conflict for a work that is not withdrawn."""
        with self._write() as c:
            row = c.execute("SELECT * FROM works WHERE id = ?", (work_id,)).fetchone()
            if row is None:
                raise NotFound(f"no work {work_id}")
            work = _work(row)
            if work.status != WorkStatus.WITHDRAWN:
                raise Conflict(f"work {work_id} is {work.status.value}, not withdrawn: only a withdrawn work is "
                               "restored")
            c.execute("UPDATE works SET status = 'active', withdrawn_at = NULL WHERE id = ?", (work_id,))
            self._audit(c, actor, "work.restored", work_id, {"owner_id": work.owner_id})
            work = self._contest_if_rival(c, msgspec.structs.replace(work, status=WorkStatus.ACTIVE, withdrawn_at=None),
                                          rivals, actor, contest)
        return work

    def active_works_by(self, column: str, values: list[str]) -> dict[str, list[Work]]:
        """Active works by content SHA-256 (`column` "sha256") or by normalised location ("url")."""
        if column not in ("sha256", "url"):
            raise ValueError(f"no lookup by {column!r}")
        found: dict[str, list[Work]] = {}
        unique = sorted(set(values))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            if column == "sha256":
                rows = self._all(f"SELECT *, sha256 AS found_by FROM works WHERE status = 'active'"
                                 f" AND sha256 IN ({marks}) ORDER BY created_at, id", *chunk)
            else:
                rows = self._all(f"SELECT w.*, l.url AS found_by FROM work_locations l JOIN works w ON w.id = l.work_id"
                                 f" WHERE w.status = 'active' AND l.url IN ({marks}) ORDER BY w.created_at, w.id",
                                 *chunk)
            for r in rows:
                found.setdefault(r["found_by"], []).append(_work(r))
        return found

    def get_works(self, work_ids: list[str]) -> dict[str, Work]:
        return {r["id"]: _work(r) for r in self._all_in("SELECT * FROM works WHERE id IN ({in})", work_ids)}

    def get_work(self, work_id: str) -> Work:
        row = self._one("SELECT * FROM works WHERE id = ?", work_id)
        if row is None:
            raise NotFound(f"no work {work_id}")
        return _work(row)

    def find_work(self, owner_id: str, sha256: str) -> Work | None:
        row = self._one("SELECT * FROM works WHERE owner_id = ? AND sha256 = ?", owner_id, sha256)
        return _work(row) if row else None

    def list_works(
        self,
        owner_id: str | None = None,
        status: WorkStatus | None = None,
        kind: WorkKind | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
        before: Before = None,
    ) -> list[Work]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("owner_id", owner_id), ("status", status), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        if before is not None:
            if not newest_first:
                raise ValueError("a cursor pages newest first")
            keyset(where, args, before)
        sql = "SELECT * FROM works" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id DESC" if newest_first else " ORDER BY created_at, id"
        return [_work(r) for r in self._all(sql + " LIMIT ? OFFSET ?", *args, limit, offset)]

    def iter_active_works(self, kind: WorkKind | None = None) -> Iterator[Work]:
        after = ""
        while True:
            rows = self._all(
                "SELECT * FROM works WHERE status = 'active'" + (" AND kind = ?" if kind else "")
                + " AND id > ? ORDER BY id LIMIT 500",
                *([kind.value] if kind else []), after,
            )
            if not rows:
                return
            for r in rows:
                yield _work(r)
            after = rows[-1]["id"]

    def update_terms(self, work_id: str, change: TermsChange, actor: str) -> Work:
        def whole(work: Work) -> Work:
            license, opt_outs = change(work)
            return msgspec.structs.replace(work, license=license, opt_outs=opt_outs)

        return self.update_work(work_id, whole, actor, terms=True)

    def update_work(self, work_id: str, change: WorkChange, actor: str, *, terms: bool) -> Work:
        with self._write() as c:  # read, change and write in one transaction: concurrent changes never revert
            row = c.execute("SELECT * FROM works WHERE id = ?", (work_id,)).fetchone()
            if row is None:
                raise NotFound(f"no work {work_id}")
            work = _work(row)
            new = change(work)
            if terms:
                c.execute("UPDATE works SET license = ?, opt_outs = ?, offers = ? WHERE id = ?",
                          (_enc.encode(new.license).decode(), _enc.encode(new.opt_outs).decode(),
                           _enc.encode(list(new.offers)).decode(), work_id))
                before: dict[str, Any] = {"license": work.license, "opt_outs": work.opt_outs}
                after: dict[str, Any] = {"license": new.license, "opt_outs": new.opt_outs}
                if work.offers or new.offers:
                    before["offers"], after["offers"] = list(work.offers), list(new.offers)
                self._audit(c, actor, "work.terms_changed", work_id, {"before": before, "after": after})
            if new.locations != work.locations:
                c.execute("UPDATE works SET locations = ? WHERE id = ?",
                          (_enc.encode(list(new.locations)).decode(), work_id))
                c.execute("DELETE FROM work_locations WHERE work_id = ?", (work_id,))
                c.executemany("INSERT INTO work_locations (url, work_id) VALUES (?, ?)",
                              [(url, work_id) for url in new.locations])
                self._audit(c, actor, "work.locations_changed", work_id,
                            {"before": list(work.locations), "after": list(new.locations)})
            if new.publish != work.publish:
                c.execute("UPDATE works SET publish = ? WHERE id = ?", (_enc.encode(new.publish).decode(), work_id))
                self._audit(c, actor, "work.publication_changed", work_id,
                            {"before": work.publish, "after": new.publish})
            sources = new.opt_out_sources if terms else work.opt_out_sources
            if sources != work.opt_out_sources:
                c.execute("UPDATE works SET opt_out_sources = ? WHERE id = ?", (_enc.encode(sources).decode(), work_id))
        if not terms:
            new = msgspec.structs.replace(new, license=work.license, opt_outs=work.opt_outs, offers=work.offers)
        return msgspec.structs.replace(work, license=new.license, opt_outs=new.opt_outs, locations=new.locations,
                                       publish=new.publish, opt_out_sources=sources, offers=new.offers)

    def set_iscc(self, work_id: str, iscc: str) -> None:
        """Record the ISCC-CODE of a work enrolled before codes were computed (derived from its bytes: not
        a change of the work, so not audited)."""
        with self._write() as c:
            c.execute("UPDATE works SET iscc = ? WHERE id = ? AND iscc = ''", (iscc, work_id))

    def withdraw_work(self, work_id: str, actor: str) -> Work:
        with self._write() as c:
            row = c.execute("SELECT * FROM works WHERE id = ?", (work_id,)).fetchone()
            if row is None:
                raise NotFound(f"no work {work_id}")
            work = _work(row)
            if work.status in (WorkStatus.WITHDRAWN, WorkStatus.REJECTED):
                return work
            at = utcnow()
            c.execute("UPDATE works SET status = 'withdrawn', withdrawn_at = ? WHERE id = ?", (_ts(at), work_id))
            self._audit(c, actor, "work.withdrawn", work_id, {"owner_id": work.owner_id})
        return msgspec.structs.replace(work, status=WorkStatus.WITHDRAWN, withdrawn_at=at)

    def work_changes(self, after_seq: int, limit: int = 1000,
                     actions: tuple[str, ...] = INDEX_ACTIONS) -> list[tuple[int, str, str]]:
        marks = ", ".join("?" * len(actions))
        rows = self._all(f"SELECT seq, action, subject FROM audit_log WHERE seq > ? AND action IN ({marks})"
                         " ORDER BY seq LIMIT ?", after_seq, *actions, limit)
        return [(int(r["seq"]), r["action"], r["subject"]) for r in rows]

    def last_seq(self) -> int:
        row = self._one("SELECT max(seq) AS v FROM audit_log")
        return int(row["v"] or 0) if row else 0

    # -- checks ---------------------------------------------------------------------------------------
    def add_check(self, check: Check, actor: str, notices: Sequence[Notice] = ()) -> Check:
        with self._write() as c:
            c.execute(
                "INSERT INTO checks (id, account_id, created_at, purpose, kind, sha256, verdict, matches,"
                " matcher_version, content_blob, likeness) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (check.id, check.account_id, _ts(check.created_at), check.purpose, check.kind.value,
                 check.sha256, check.verdict.value, _enc.encode(check.matches).decode(),
                 check.matcher_version, check.content_blob, check.likeness),
            )
            c.executemany(
                "INSERT INTO check_matches (check_id, work_id, score) VALUES (?, ?, ?)",
                [(check.id, m.work_id, m.score) for m in check.matches],
            )
            self._audit(c, actor, "check.made", check.id,
                        {"purpose": check.purpose, "sha256": check.sha256, "verdict": check.verdict.value,
                         "matches": [{"work_id": m.work_id, "score": m.score} for m in check.matches],
                         "matcher_version": check.matcher_version})
            self._notify(c, notices)
        return check

    def add_lookup(self, lookup: Lookup, actor: str) -> Lookup:
        with self._write() as c:
            c.execute(
                "INSERT INTO lookups (id, account_id, created_at, purpose, items, digest, not_allowed, results)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (lookup.id, lookup.account_id, _ts(lookup.created_at), lookup.purpose, lookup.items,
                 lookup.digest, lookup.not_allowed, _enc.encode(lookup.results).decode()),
            )
            self._audit(c, actor, "lookup.made", lookup.id,
                        {"purpose": lookup.purpose, "items": lookup.items, "digest": lookup.digest,
                         "not_allowed": lookup.not_allowed})
        return lookup

    def get_lookup(self, lookup_id: str) -> Lookup:
        row = self._one("SELECT * FROM lookups WHERE id = ?", lookup_id)
        if row is None:
            raise NotFound(f"no lookup {lookup_id}")
        return _lookup(row)

    # -- training runs ------------------------------------------------------------------------------------
    def add_training_run(self, run: TrainingRun, actor: str) -> TrainingRun:
        with self._write() as c:
            c.execute("INSERT INTO training_runs (id, account_id, name, model, purpose, created_at, status, items)"
                      " VALUES (?, ?, ?, ?, ?, ?, 'open', 0)",
                      (run.id, run.account_id, run.name, run.model, run.purpose, _ts(run.created_at)))
            self._audit(c, actor, "training_run.created", run.id,
                        {"name": run.name, "model": run.model, "purpose": run.purpose})
        return run

    def _run(self, c: Cursor | None, run_id: str) -> TrainingRun:
        one = (lambda sql, *a: c.execute(sql, a).fetchone()) if c is not None else self._one
        allr = (lambda sql, *a: c.execute(sql, a).fetchall()) if c is not None else self._all
        row = one("SELECT * FROM training_runs WHERE id = ?", run_id)
        if row is None:
            raise NotFound(f"no training run {run_id}")
        by_use = {r["use"]: int(r["n"]) for r in allr(
            "SELECT use, count(*) AS n FROM training_run_works WHERE run_id = ? GROUP BY use", run_id)}
        violations = one("SELECT count(*) AS n FROM training_run_works WHERE run_id = ? AND violation = 1", run_id)
        return TrainingRun(id=row["id"], account_id=row["account_id"], name=row["name"], model=row["model"],
                           purpose=row["purpose"], created_at=_dt(row["created_at"]), status=row["status"],
                           closed_at=_dt(row["closed_at"]) if row["closed_at"] else None, items=int(row["items"]),
                           works=sum(by_use.values()), violations=int(violations["n"]) if violations else 0,
                           by_use=by_use)

    def get_training_run(self, run_id: str) -> TrainingRun:
        return self._run(None, run_id)

    def add_training_items(self, run_id: str, items: int, digest: str, included: list[IncludedWork],
                           actor: str) -> TrainingRun:
        with self._write() as c:
            run = self._run(c, run_id)
            if run.status != "open":
                raise Conflict(f"training run {run_id} is closed: its record is frozen; record a new run")
            c.execute("UPDATE training_runs SET items = items + ? WHERE id = ?", (items, run_id))
            known = {r["work_id"] for r in c.execute(
                "SELECT work_id FROM training_run_works WHERE run_id = ?", (run_id,)).fetchall()}
            new = [w for w in included if w.work_id not in known]
            c.executemany("UPDATE training_run_works SET items = items + ? WHERE run_id = ? AND work_id = ?",
                          [(w.items, run_id, w.work_id) for w in included if w.work_id in known])
            c.executemany(
                "INSERT INTO training_run_works (run_id, work_id, owner_id, use, violation, items, license, opt_outs,"
                " first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, w.work_id, w.owner_id, w.use, int(w.violation), w.items, _enc.encode(w.license).decode(),
                  _enc.encode(w.opt_outs).decode(), _ts(w.first_at)) for w in new])
            self._audit(c, actor, "training_run.items_added", run_id,
                        {"items": items, "digest": digest, "new_works": [w.work_id for w in new],
                         "violations": [w.work_id for w in new if w.violation]})
            return self._run(c, run_id)

    def close_training_run(self, run_id: str, actor: str) -> TrainingRun:
        with self._write() as c:
            run = self._run(c, run_id)
            if run.status != "open":
                return run
            c.execute("UPDATE training_runs SET status = 'closed', closed_at = ? WHERE id = ?",
                      (_ts(utcnow()), run_id))
            self._audit(c, actor, "training_run.closed", run_id,
                        {"items": run.items, "works": run.works, "violations": run.violations,
                         "by_use": run.by_use})
            return self._run(c, run_id)

    def list_training_runs(self, account_id: str | None = None, limit: int = 100,
                           offset: int = 0, before: Before = None) -> list[TrainingRun]:
        where: list[str] = []
        args: list[Any] = []
        if account_id:
            where.append("account_id = ?")
            args.append(account_id)
        keyset(where, args, before)
        rows = self._all("SELECT id FROM training_runs" + (" WHERE " + " AND ".join(where) if where else "")
                         + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", *args, limit, offset)
        return [self._run(None, r["id"]) for r in rows]

    def training_run_works(self, run_id: str, after: str = "", limit: int = 100,
                           owner_id: str | None = None) -> list[IncludedWork]:
        rows = self._all("SELECT * FROM training_run_works WHERE run_id = ? AND work_id > ?"
                         + (" AND owner_id = ?" if owner_id else "") + " ORDER BY work_id LIMIT ?",
                         run_id, after, *([owner_id] if owner_id else []), limit)
        return [_included(r) for r in rows]

    def work_training_runs(self, work_id: str) -> list[tuple[TrainingRun, IncludedWork]]:
        rows = self._all("SELECT * FROM training_run_works WHERE work_id = ? ORDER BY first_at, run_id", work_id)
        return [(self._run(None, r["run_id"]), _included(r)) for r in rows]

    def get_check(self, check_id: str) -> Check:
        row = self._one("SELECT * FROM checks WHERE id = ?", check_id)
        if row is None:
            raise NotFound(f"no check {check_id}")
        return _check(row)

    def list_checks(self, flt: CheckFilter) -> list[Check]:
        where, args = [], []
        if flt.account_id is not None:
            where.append("account_id = ?")
            args.append(flt.account_id)
        if flt.verdict is not None:
            where.append("verdict = ?")
            args.append(flt.verdict.value)
        if flt.since is not None:
            where.append("created_at >= ?")
            args.append(_ts(flt.since))
        if flt.until is not None:
            where.append("created_at < ?")
            args.append(_ts(flt.until))
        if flt.work_id is not None:
            where.append("id IN (SELECT check_id FROM check_matches WHERE work_id = ?)")
            args.append(flt.work_id)
        keyset(where, args, flt.before)
        sql = "SELECT * FROM checks" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        return [_check(r) for r in self._all(sql, *args, flt.limit, flt.offset)]

    def match_counts(self, work_ids: list[str]) -> dict[str, int]:
        if not work_ids:
            return {}
        marks = ", ".join("?" for _ in work_ids)
        rows = self._all(f"SELECT work_id, COUNT(*) AS n FROM check_matches WHERE work_id IN ({marks})"
                         " GROUP BY work_id", *work_ids)
        return {r["work_id"]: int(r["n"]) for r in rows}

    # -- audit ----------------------------------------------------------------------------------------
    def audit_entries(self, after_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        if limit is None:
            rows = self._all("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq", after_seq)
        else:
            rows = self._all("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", after_seq, limit)
        return [_audit(r) for r in rows]

    def verify_audit(self) -> ChainReport:
        return verify_chain(self._iter_audit())

    def _iter_audit(self) -> Iterator[AuditEntry]:
        after = 0
        while batch := self.audit_entries(after, 1000):
            yield from batch
            after = batch[-1].seq

    # -- idempotency --------------------------------------------------------------------------------
    def claim_request(self, account_id: str, key: str, request_hash: str,
                      max_age_seconds: float) -> StoredAnswer | None:
        with self._write() as c:
            row = c.execute("SELECT * FROM idempotency WHERE account_id = ? AND key = ?", (account_id, key)).fetchone()
            now = utcnow()
            if row is not None and (now - _dt(row["created_at"])).total_seconds() <= max_age_seconds:
                return StoredAnswer(request_hash=row["request_hash"], status=row["status"],
                                    media_type=row["media_type"], body=row["body"])
            if row is not None:
                c.execute("DELETE FROM idempotency WHERE account_id = ? AND key = ?", (account_id, key))
            c.execute("INSERT INTO idempotency (account_id, key, request_hash, created_at) VALUES (?, ?, ?, ?)",
                      (account_id, key, request_hash, _ts(now)))
        return None

    def finish_request(self, account_id: str, key: str, status: int, media_type: str, body: str) -> None:
        with self._write() as c:
            c.execute("UPDATE idempotency SET status = ?, media_type = ?, body = ? WHERE account_id = ? AND key = ?",
                      (status, media_type, body, account_id, key))

    def release_request(self, account_id: str, key: str) -> None:
        with self._write() as c:
            c.execute("DELETE FROM idempotency WHERE account_id = ? AND key = ? AND status IS NULL",
                      (account_id, key))

    # -- web sessions --------------------------------------------------------------------------------
    def create_session(self, session_id: str, key_hash: str, expires_at: datetime) -> None:
        with self._write() as c:
            c.execute("DELETE FROM web_sessions WHERE expires_at < ?", (_ts(utcnow()),))
            c.execute("INSERT INTO web_sessions (id, key_hash, expires_at) VALUES (?, ?, ?)",
                      (session_id, key_hash, _ts(expires_at)))

    def get_session(self, session_id: str) -> tuple[str, datetime] | None:
        row = self._one("SELECT key_hash, expires_at FROM web_sessions WHERE id = ?", session_id)
        return None if row is None else (row["key_hash"], _dt(row["expires_at"]))

    def delete_session(self, session_id: str) -> None:
        with self._write() as c:
            c.execute("DELETE FROM web_sessions WHERE id = ?", (session_id,))

    # -- signed tree heads ----------------------------------------------------------------------------
    def add_tree_head(self, head: SignedTreeHead) -> None:
        with self._write() as c:
            c.execute("INSERT INTO tree_heads (size, root, timestamp, key_id, signature) VALUES (?, ?, ?, ?, ?)"
                      " ON CONFLICT (size) DO NOTHING",
                      (head.size, head.root, head.timestamp, head.key_id, head.signature))

    def tree_heads(self, limit: int = 100) -> list[SignedTreeHead]:
        rows = self._all("SELECT * FROM tree_heads ORDER BY size DESC LIMIT ?", limit)
        return [SignedTreeHead(size=int(r["size"]), root=r["root"], timestamp=int(r["timestamp"]),
                               key_id=r["key_id"], signature=r["signature"]) for r in rows]

    # -- bulk jobs -----------------------------------------------------------------------------------
    def add_job(self, job: Job, files: list[tuple[str, str]], license: LicenseTerms | None,
                opt_outs: OptOuts | None) -> Job:
        with self._write() as c:
            c.execute("INSERT INTO jobs (id, owner_id, created_at, status, total, enrolled, skipped, rejected,"
                      " license, opt_outs) VALUES (?, ?, ?, 'queued', ?, 0, 0, 0, ?, ?)",
                      (job.id, job.owner_id, _ts(job.created_at), len(files),
                       _enc.encode(license).decode() if license else None,
                       _enc.encode(opt_outs).decode() if opt_outs else None))
            c.executemany("INSERT INTO job_files (job_id, position, filename, blob, status)"
                          " VALUES (?, ?, ?, ?, 'queued')",
                          [(job.id, i, name, blob) for i, (name, blob) in enumerate(files)])
        return self.get_job(job.id)

    def get_job(self, job_id: str) -> Job:
        row = self._one("SELECT * FROM jobs WHERE id = ?", job_id)
        if row is None:
            raise NotFound(f"no job {job_id}")
        done = self._all("SELECT * FROM job_files WHERE job_id = ? AND status NOT IN ('queued', 'running')"
                         " ORDER BY position", job_id)
        return Job(id=row["id"], owner_id=row["owner_id"], created_at=_dt(row["created_at"]), status=row["status"],
                   total=int(row["total"]), enrolled=int(row["enrolled"]), skipped=int(row["skipped"]),
                   rejected=int(row["rejected"]),
                   finished_at=_dt(row["finished_at"]) if row["finished_at"] else None,
                   results=[FileOutcome(filename=f["filename"], status=f["status"], work_id=f["work_id"],
                                        error=f["error"], code=f["code"]) for f in done])

    def claim_job_file(self, stale_before: datetime) -> JobFile | None:
        """The next file to enroll, creators served in turn (the one served longest ago first), or a file
        whose worker stopped before `stale_before` (a replica that died); None when none waits."""
        with self._write() as c:
            row = c.execute(
                "SELECT f.job_id, f.position, f.filename, f.blob, j.owner_id, j.license, j.opt_outs"
                " FROM job_files f JOIN jobs j ON j.id = f.job_id LEFT JOIN job_owners o ON o.owner_id = j.owner_id"
                " WHERE f.status = 'queued' OR (f.status = 'running' AND f.claimed_at < ?)"
                " ORDER BY COALESCE(o.last_served, ''), j.created_at, f.job_id, f.position LIMIT 1",
                (_ts(stale_before),)).fetchone()
            if row is None:
                return None
            now = _ts(utcnow())
            c.execute("UPDATE job_files SET status = 'running', claimed_at = ? WHERE job_id = ? AND position = ?",
                      (now, row["job_id"], row["position"]))
            c.execute("UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'queued'", (row["job_id"],))
            c.execute("INSERT INTO job_owners (owner_id, last_served) VALUES (?, ?)"
                      " ON CONFLICT (owner_id) DO UPDATE SET last_served = excluded.last_served",
                      (row["owner_id"], now))
        return JobFile(job_id=row["job_id"], position=int(row["position"]), filename=row["filename"],
                       blob=row["blob"], owner_id=row["owner_id"],
                       license=msgspec.json.decode(row["license"], type=LicenseTerms) if row["license"] else None,
                       opt_outs=msgspec.json.decode(row["opt_outs"], type=OptOuts) if row["opt_outs"] else None)

    def finish_job_file(self, job_id: str, position: int, outcome: FileOutcome) -> None:
        column = {"enrolled": "enrolled", "skipped": "skipped"}.get(outcome.status, "rejected")
        with self._write() as c:
            updated = c.execute(
                "UPDATE job_files SET status = ?, work_id = ?, error = ?, code = ?"
                " WHERE job_id = ? AND position = ? AND status = 'running'",
                (outcome.status, outcome.work_id, outcome.error, outcome.code, job_id, position))
            if getattr(updated, "rowcount", 1) == 0:
                return  # another worker finished it (this one was taken for dead)
            c.execute(f"UPDATE jobs SET {column} = {column} + 1 WHERE id = ?", (job_id,))
            left = c.execute("SELECT COUNT(*) AS n FROM job_files WHERE job_id = ? AND status IN ('queued', 'running')",
                             (job_id,)).fetchone()
            if int(left["n"]) == 0:
                c.execute("UPDATE jobs SET status = 'done', finished_at = ? WHERE id = ?", (_ts(utcnow()), job_id))

    def job_files_waiting(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM job_files WHERE status IN ('queued', 'running')")
        return int(row["n"]) if row else 0

    def close(self) -> None:
        raise NotImplementedError

"""The registry service: enrollment, checks, terms and withdrawal, keeping store, blobs and indexes in step.

Order of work for an enrollment, so that bad input leaves nothing behind: decode and fingerprint first
(anything malformed fails here), then the blob (content-addressed, harmless if orphaned), then the work
row and its audit entry in one transaction, then the in-memory index. Indexes are derived state: at
start-up `sync_indexes` adds what the store has and the index lacks and drops what it should not hold.
"""

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from matcher.base import Match, Matcher
from registry.blobs import BlobStore
from registry.content import Content, kind_from_name, load_content
from registry.errors import Conflict, ContentTooLarge, InvalidInput, NotFound, PermissionDenied, ProvenanceError
from registry.ids import hash_api_key, new_api_key, new_id, utcnow
from registry.jobs import JobRunner
from registry.models import Account, ApiKey, Check, MatchRecord, Role, Verdict, Work, WorkKind, WorkStatus
from registry.settings import Settings
from registry.store import Store
from registry.terms import PURPOSES, LicenseTerms, OptOuts, combine, requirement

SYSTEM = "system"
log = logging.getLogger("provenance.registry")


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    failed: list[str] = field(default_factory=list)


class Registry:
    """Everything a creator, operator or auditor can do, independent of CLI or HTTP."""

    def __init__(self, settings: Settings, store: Store, blobs: BlobStore, matchers: Iterable[Matcher]) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.matchers: dict[WorkKind, Matcher] = {m.kind: m for m in matchers}
        self._index_lock = threading.RLock()
        self._jobs: JobRunner | None = None
        self._seen_seq = 0
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def jobs(self) -> JobRunner:
        """Bulk-enrollment jobs, run by a worker thread started on first use."""
        if self._jobs is None:
            self._jobs = JobRunner(self.enroll)
        return self._jobs

    # -- content --------------------------------------------------------------------------------------
    def load(self, data: bytes, kind: WorkKind | None = None) -> Content:
        if len(data) > self.settings.max_upload_bytes:
            raise ContentTooLarge(
                f"upload is {len(data)} bytes, over the limit of {self.settings.max_upload_bytes}")
        return load_content(data, max_pixels=self.settings.max_image_pixels,
                            max_text_chars=self.settings.max_text_chars, kind=kind)

    def matcher_for(self, kind: WorkKind) -> Matcher:
        try:
            return self.matchers[kind]
        except KeyError:
            raise InvalidInput(f"no matcher is configured for {kind.value} content") from None

    @property
    def matcher_version(self) -> str:
        return "; ".join(f"{k.value}={m.version}" for k, m in sorted(self.matchers.items()))

    # -- accounts and keys ----------------------------------------------------------------------------
    def ensure_account(self, name: str, role: Role, actor: str = SYSTEM) -> Account:
        account = self.store.find_account(name)
        if account is None:
            return self.store.create_account(name, role, actor)
        if account.role != role:
            raise InvalidInput(f"account {name!r} exists with role {account.role.value}, not {role.value}")
        return account

    def create_key(self, name: str, role: Role, actor: str = SYSTEM) -> tuple[ApiKey, str]:
        """Create (or reuse) the account `name` and give it a new key; the secret is returned once."""
        account = self.ensure_account(name, role, actor)
        secret = new_api_key()
        key = self.store.create_key(account.id, hash_api_key(secret), secret[:10], actor)
        return key, secret

    def authenticate(self, secret: str) -> tuple[ApiKey, Account] | None:
        return self.store.authenticate(hash_api_key(secret))

    # -- works ----------------------------------------------------------------------------------------
    def enroll(self, owner: Account, data: bytes, *, title: str | None = None,
               license: LicenseTerms | None = None, opt_outs: OptOuts | None = None,
               actor: str | None = None, filename: str | None = None) -> Work:
        if owner.role not in (Role.CREATOR, Role.ADMIN):
            raise PermissionDenied(f"account {owner.name!r} is a {owner.role.value}; only creators enroll works")
        content = self.load(data, kind_from_name(filename))
        existing = self.store.find_work(owner.id, content.sha256)
        if existing is not None:
            raise Conflict(f"this content is enrolled already as work {existing.id}", existing_id=existing.id)
        matcher = self.matcher_for(content.kind)
        fingerprint = matcher.fingerprint(content)
        clean_title = _clean_title(title, content)
        self.blobs.put(content.data)
        work = Work(
            id=new_id("wrk"), owner_id=owner.id, kind=content.kind, title=clean_title,
            sha256=content.sha256, media_type=content.media_type, size=len(content.data),
            created_at=utcnow(), status=WorkStatus.ACTIVE,
            license=license or owner.default_license or LicenseTerms(),
            opt_outs=opt_outs or owner.default_opt_outs or OptOuts(),
        )
        self.store.add_work(work, actor or owner.id)
        with self._index_lock:
            matcher.add(work.id, fingerprint)
        return work

    def withdraw(self, work_id: str, actor: str) -> Work:
        work = self.store.withdraw_work(work_id, actor)
        with self._index_lock:
            self.matcher_for(work.kind).remove(work_id)
        return work

    # -- checks ---------------------------------------------------------------------------------------
    def check(self, account: Account, data: bytes, purpose: str = "release", filename: str | None = None) -> Check:
        if purpose not in PURPOSES:
            raise InvalidInput(f"unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
        content = self.load(data, kind_from_name(filename))
        found: list[Match] = self.matcher_for(content.kind).search(content)
        records = []
        for m in found:
            try:
                work = self.store.get_work(m.work_id)
            except NotFound:
                continue
            if work.status != WorkStatus.ACTIVE:
                continue
            records.append(MatchRecord(
                work_id=work.id, score=m.score, evidence=m.evidence, title=work.title, owner_id=work.owner_id,
                license=work.license, opt_outs=work.opt_outs,
                requirement=requirement(purpose, work.license, work.opt_outs),
            ))
        verdict = Verdict(combine(r.requirement for r in records))
        keep = self.settings.store_check_content or (bool(records) and self.settings.keep_matched_outputs)
        blob = self.blobs.put(content.data) if keep else None
        check = Check(id=new_id("chk"), account_id=account.id, created_at=utcnow(), purpose=purpose,
                      kind=content.kind, sha256=content.sha256, verdict=verdict, matches=records,
                      matcher_version=self.matcher_version, content_blob=blob)
        return self.store.add_check(check, account.id)

    # -- indexes --------------------------------------------------------------------------------------
    def _index_work(self, work: Work) -> None:
        matcher = self.matcher_for(work.kind)
        content = load_content(self.blobs.get(work.sha256), max_pixels=2**40, max_text_chars=2**40, kind=work.kind)
        matcher.add(work.id, matcher.fingerprint(content))

    def apply_changes(self) -> int:
        """Apply enrollments and withdrawals made since the last call, by this process or any other
        (another replica, or the command line), to the in-memory indexes. Returns how many were applied."""
        applied = 0
        while changes := self.store.work_changes(self._seen_seq):
            for seq, action, work_id in changes:
                with self._index_lock:
                    try:
                        work = self.store.get_work(work_id)
                        matcher = self.matcher_for(work.kind)
                        if action == "work.withdrawn" or work.status != WorkStatus.ACTIVE:
                            matcher.remove(work_id)
                        elif not matcher.has(work_id):
                            self._index_work(work)
                    except ProvenanceError as exc:  # one change that cannot be applied must not stall the feed
                        log.warning("cannot apply %s of %s: %s", action, work_id, exc)
                self._seen_seq = seq
                applied += 1
        return applied

    def follow_changes(self, interval: float) -> None:
        """Keep the indexes current from the change feed in a background thread, every `interval` s."""
        if self._follower is not None or interval <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.apply_changes()
                except Exception:  # the database may be briefly unreachable; try again next time
                    log.exception("applying index changes failed")

        self._follower = threading.Thread(target=loop, name="index-follower", daemon=True)
        self._follower.start()

    def sync_indexes(self, rebuild: bool = False) -> SyncReport:
        """Bring every matcher's index in line with the store's active works (all of them if `rebuild`)."""
        report = SyncReport()
        self._seen_seq = self.store.last_seq()  # changes after this are applied by apply_changes
        with self._index_lock:
            for kind, matcher in self.matchers.items():
                if rebuild:
                    matcher.clear()
                indexed = matcher.work_ids()
                active: set[str] = set()
                for work in self.store.iter_active_works(kind):
                    active.add(work.id)
                    if work.id in indexed:
                        continue
                    try:
                        self._index_work(work)
                        report.added += 1
                    except Exception as exc:  # one bad original must not stop the rest
                        report.failed.append(f"{work.id}: {exc}")
                for stale in indexed - active:
                    matcher.remove(stale)
                    report.removed += 1
                matcher.save()
        return report

    def save_indexes(self) -> None:
        with self._index_lock:
            for matcher in self.matchers.values():
                matcher.save()

    def close(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=30)
        if self._jobs is not None:
            self._jobs.close()
        self.save_indexes()
        self.store.close()


def _clean_title(title: str | None, content: Content) -> str:
    if title is None or not title.strip():
        return f"untitled {content.kind.value} {content.sha256[:12]}"
    cleaned = "".join(ch for ch in title if ch.isprintable()).strip()
    if not cleaned:
        raise InvalidInput("title has no printable characters")
    if len(cleaned) > 500:
        raise InvalidInput(f"title is {len(cleaned)} characters long; the limit is 500")
    return cleaned

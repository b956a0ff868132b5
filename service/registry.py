"""The use cases: everything a creator, operator, auditor or admin can do, whatever the face (API, web, CLI).

Each use case takes the calling account, asks `service.access` whether it may, and keeps store, blob
store and indexes in step. Order of work for an enrollment, so that bad input leaves nothing behind:
decode and fingerprint first (anything malformed fails here), then the blob (content-addressed, harmless
if orphaned), then the work row and its audit entry in one transaction, then the in-memory index.
"""

import difflib
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

import msgspec

from matcher.base import Match, Matcher
from matcher.iscc import ISCC_MAX_DISTANCE, content_code_of, content_unit, iscc_codes, iscc_units
from registry.audit import ChainReport
from registry.blobs import BlobStore
from registry.claims import Notice
from registry.content import Content, Decoder, default_decoders, kind_from_name, load_content
from registry.errors import (
    Conflict,
    ContentTooLarge,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ProvenanceError,
    Unauthenticated,
)
from registry.evidence import CodeEvidence
from registry.formats.rights import declared_rights
from registry.ids import hash_api_key, new_api_key, new_id, utcnow
from registry.locations import normalize_locations
from registry.models import (
    Account,
    ApiKey,
    AuditEntry,
    Check,
    CheckFilter,
    IncludedWork,
    Licensed,
    Lookup,
    MatchRecord,
    Role,
    SignedTreeHead,
    StoredAnswer,
    TrainingRun,
    Verdict,
    Work,
    WorkKind,
    WorkStatus,
    work_etag,
)
from registry.store import Store
from registry.terms import (
    PURPOSES,
    LicensePatch,
    LicenseTerms,
    Offer,
    OptOuts,
    OptOutsPatch,
    Publication,
    check_new_terms,
    checked_offers,
    combine,
    merged,
    requirement,
)
from service import access, attribution, bank
from service.access import UseCase
from service.chain import ChainMonitor, ChainStatus
from service.clock import Clock, SystemClock
from service.disputes import Disputes, same_output
from service.domains import Domains, verified_works
from service.exclusions import Exclusions, drop_excluded
from service.indexes import IndexKeeper
from service.jobs import FileOutcome, Job, JobRunner, enroll_file
from service.licensing import Licensing
from service.lookups import FileItem, LookupItem, run_lookup
from service.modalities import likeness
from service.notifications import Notifications
from service.ownership import Conflicts, Enrollment, Similar, contest_notices, split_matches
from service.periodic import run_every
from service.publication import Publisher
from service.settings import ServiceSettings
from service.training import NewTrainingRun, included_works, new_run, own_run
from service.transparency import LogStatus, TransparencyLog, public_pem, signing_key
from service.webhooks import deliver_due

SYSTEM = "system"
IDEMPOTENCY_SECONDS = 24 * 3600
log = logging.getLogger("provenance.registry")


def local_admin(actor: str = "cli") -> Account:
    """The account of a command run on the server itself: it holds the database, so it may do everything;
    its changes are audited under `actor`."""
    return Account(id=actor, name=actor, role=Role.ADMIN, created_at=utcnow())


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    key: ApiKey
    account: Account


class Registry:
    """Everything a creator, operator, auditor or admin can do, independent of CLI or HTTP."""

    def __init__(self, settings: ServiceSettings, store: Store, blobs: BlobStore,
                 open_matchers: Callable[[], Iterable[Matcher]], decoders: Sequence[Decoder] | None = None) -> None:
        self.settings = settings
        self.store = store  # for tests and the composition root; faces call the methods below
        self.blobs = blobs
        self.decoders = list(decoders or default_decoders())
        self.indexes = IndexKeeper(store, blobs, open_matchers, self.decoders)
        self._jobs: JobRunner | None = None
        self._chain = ChainMonitor()
        self._log: TransparencyLog | None = None
        self.counts: Counter[tuple[str, str]] = Counter()  # (event, label): checks by verdict, enrollments by kind
        self._publisher: threading.Thread | None = None
        self._stop = threading.Event()
        self._claims_threads: list[threading.Thread] = []
        self.clock: Clock = SystemClock()
        self.conflicts = Conflicts(store, lambda: self.indexes.apply_changes() if self.indexes.opened else 0)
        self.disputes = Disputes(store, self.clock, self._admin_ids)
        self.notifications = Notifications(store, settings)
        self.exclusions = Exclusions(store, blobs, self.indexes, self.load)
        self.domains = Domains(store, settings)
        self.publication = Publisher(store, self.indexes, lambda: (self.log.key, self.log.key_id), self.load)
        self.licensing = Licensing(store, self.clock)

    def set_clock(self, clock: Clock) -> None:
        """The clock dispute deadlines run on (tests and drills move it forward)."""
        self.clock = self.disputes.clock = self.licensing.clock = clock

    def _admin_ids(self) -> list[str]:
        return [a.id for a in self.store.list_accounts() if a.role == Role.ADMIN]

    def run_claims(self) -> None:
        """Expire disputes whose deadline passed and send due webhook deliveries, in background threads
        (every replica may run them: each dispute and delivery is claimed inside a store transaction)."""
        if self._claims_threads:
            return
        s = self.settings
        if s.dispute_interval > 0:
            self._claims_threads.append(run_every(s.dispute_interval, self.disputes.expire_due, self._stop,
                                                  "dispute-expiry", "expiring disputes failed"))
        if s.webhook_interval > 0:
            self._claims_threads.append(run_every(s.webhook_interval, self.deliver_webhooks, self._stop,
                                                  "webhook-sender", "sending webhook deliveries failed"))

    def deliver_webhooks(self) -> int:
        s = self.settings
        return deliver_due(self.store, utcnow(), timeout=s.webhook_timeout, allow_private=s.allow_private_addresses,
                           max_attempts=s.webhook_max_attempts)

    @property
    def jobs(self) -> JobRunner:
        """Bulk-enrollment jobs, run by a worker thread started on first use."""
        if self._jobs is None:
            self._jobs = JobRunner(self.store, self.blobs, self.enroll, stale_after=self.settings.job_stale_seconds)
        return self._jobs

    # -- content --------------------------------------------------------------------------------------
    def load(self, data: bytes, filename: str | None = None) -> Content:
        limits = self.settings.limits
        if len(data) > limits.max_upload_bytes:
            raise ContentTooLarge(f"upload is {len(data)} bytes, over the limit of {limits.max_upload_bytes}")
        return load_content(data, limits=limits, kind=kind_from_name(filename, self.decoders),
                            decoders=self.decoders)

    # -- accounts and keys ----------------------------------------------------------------------------
    def ensure_account(self, name: str, role: Role, actor: str = SYSTEM) -> Account:
        account = self.store.find_account(name)
        if account is None:
            return self.store.create_account(name, role, actor)
        if account.role != role:
            raise InvalidInput(f"account {name!r} exists with role {account.role.value}, not {role.value}")
        return account

    def create_account(self, viewer: Account, name: str, role: Role) -> Account:
        """An admin creates an account (Conflict when the name is taken)."""
        access.require(viewer, UseCase.MANAGE_KEYS)
        return self.store.create_account(name, role, viewer.id)

    def accounts(self, viewer: Account) -> list[Account]:
        access.require(viewer, UseCase.MANAGE_KEYS)
        return self.store.list_accounts()

    def named_account(self, name: str, role: Role) -> Account:
        """The existing account `name` with `role`; NotFound naming the accounts of that role (and the closest
        name) for a typo, so that a typo never creates an account."""
        account = self.store.find_account(name)
        if account is not None and account.role == role:
            return account
        if account is not None:
            raise InvalidInput(f"account {name!r} is a {account.role.value}, not a {role.value}")
        known = sorted(a.name for a in self.store.list_accounts() if a.role == role)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listed = f"the {role.value} accounts are: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}" \
            if known else f"there is no {role.value} account yet"
        raise NotFound(f"no {role.value} account named {name!r}; {hint}{listed}. Create one with "
                       f"`provenance accounts create --role {role.value} --name {name}`")

    def create_key(self, name: str, role: Role, actor: str = SYSTEM) -> tuple[ApiKey, str]:
        """Create (or reuse) the account `name` and give it a new key; the secret is returned once."""
        account = self.ensure_account(name, role, actor)
        secret = new_api_key()
        key = self.store.create_key(account.id, hash_api_key(secret), secret[:10], actor)
        return key, secret

    def issue_key(self, viewer: Account, name: str, role: Role) -> tuple[ApiKey, str]:
        """An admin gives the account `name` (created if new) a key."""
        access.require(viewer, UseCase.MANAGE_KEYS)
        return self.create_key(name, role, viewer.id)

    def authenticate(self, secret: str) -> tuple[ApiKey, Account] | None:
        return self.store.authenticate(hash_api_key(secret))

    def authenticate_hash(self, key_hash: str) -> tuple[ApiKey, Account] | None:
        """A web session holds the key's hash, never the key; revoking the key ends the session."""
        return self.store.authenticate(key_hash)

    def start_session(self, secret: str, hours: float) -> tuple[str, Account] | None:
        """A web session for the key `secret` (its id, kept in the browser's cookie), None for a bad key."""
        key_hash = hash_api_key(secret.strip())
        found = self.store.authenticate(key_hash)
        if found is None:
            return None
        session_id = new_api_key()
        self.store.create_session(hash_api_key(session_id), key_hash, utcnow() + timedelta(hours=hours))
        return session_id, found[1]

    def session(self, session_id: str) -> tuple[ApiKey, Account] | str:
        """The key and account of a live session, or why there is none: "ended" (signed out or unknown),
        "expired", or "revoked" (its key was revoked)."""
        held = self.store.get_session(hash_api_key(session_id))
        if held is None:
            return "ended"
        key_hash, expires_at = held
        if expires_at < utcnow():
            self.store.delete_session(hash_api_key(session_id))
            return "expired"
        found = self.store.authenticate(key_hash)
        return found if found is not None else "revoked"

    def end_session(self, session_id: str) -> None:
        self.store.delete_session(hash_api_key(session_id))

    def list_keys(self, viewer: Account) -> list[KeyInfo]:
        access.require(viewer, UseCase.MANAGE_KEYS)
        accounts = {a.id: a for a in self.store.list_accounts()}
        return [KeyInfo(key=k, account=accounts[k.account_id]) for k in self.store.list_keys()]

    def revoke_key(self, viewer: Account, key_id: str) -> KeyInfo:
        access.require(viewer, UseCase.MANAGE_KEYS)
        key = self.store.revoke_key(key_id, viewer.id)
        return KeyInfo(key=key, account=self.store.get_account(key.account_id))

    def account_names(self) -> dict[str, str]:
        """Account names by id: the people behind works, checks and audit entries, as answers name them."""
        return {a.id: a.name for a in self.store.list_accounts()}

    def operator_names(self, viewer: Account) -> list[str]:
        access.require(viewer, UseCase.LIST_CHECKS)
        if access.checks_account_scope(viewer) is not None:
            return [viewer.name]
        return sorted(a.name for a in self.store.list_accounts() if a.role == Role.OPERATOR)

    def set_defaults(self, viewer: Account, license: LicenseTerms | None, opt_outs: OptOuts | None,
                     publish: Publication | None = None, offers: Sequence[Offer] | None = None) -> Account:
        """The terms (what public declarations show, the licence offers) a creator's new works get unless they
        choose others; `publish` and `offers` None keep the account's current choice."""
        access.require(viewer, UseCase.ENROLL)
        check_new_terms(license)
        return self.store.set_account_defaults(
            viewer.id, license, opt_outs, viewer.id, publish if publish is not None else viewer.default_publish,
            checked_offers(offers) if offers is not None else viewer.default_offers)

    # -- works ----------------------------------------------------------------------------------------
    def enroll(self, owner: Account, data: bytes, *, title: str | None = None,
               license: LicenseTerms | None = None, opt_outs: OptOuts | None = None,
               actor: str | None = None, filename: str | None = None,
               locations: Sequence[str] = (), publish: Publication | None = None,
               offers: Sequence[Offer] | None = None) -> Work:
        return self.enroll_work(owner, data, title=title, license=license, opt_outs=opt_outs, actor=actor,
                                filename=filename, locations=locations, publish=publish, offers=offers).work

    def enroll_work(self, owner: Account, data: bytes, *, title: str | None = None,
                    license: LicenseTerms | None = None, opt_outs: OptOuts | None = None,
                    actor: str | None = None, filename: str | None = None,
                    locations: Sequence[str] = (), if_unique: bool = False,
                    publish: Publication | None = None, offers: Sequence[Offer] | None = None) -> Enrollment:
        """Enroll a work. Content that matches another owner's active work (same bytes, or a verified match)
        is enrolled `contested` (see `service.ownership`); the owner's own similar works are named, and with
        `if_unique` refuse the enrollment (409). Without `opt_outs`, what the file declares (C2PA
        training-mining assertion, XMP `plus:DataMining`) fills the uses it names, the account's or the
        registry's defaults the rest; `opt_out_sources` says which."""
        access.require(owner, UseCase.ENROLL)
        check_new_terms(license)
        clean_offers = checked_offers(owner.default_offers if offers is None else offers)
        clean_locations = normalize_locations(locations)
        content = self.load(data, filename)
        existing = self.store.find_work(owner.id, content.sha256)
        if existing is not None:
            raise Conflict(f"this content is enrolled already as work {existing.id}", existing_id=existing.id)
        matcher = self.indexes.matcher_for(content.kind)
        fingerprint = matcher.fingerprint(content)
        rivals, similar = self._rivals(owner, matcher, content)
        if if_unique and similar:
            raise Conflict(f"this content resembles your work {similar[0].work_id} ({similar[0].title!r}, score "
                           f"{similar[0].score:.2f}); enroll without if_unique to enroll it anyway",
                           similar_to=similar[0].work_id)
        clean_title = _clean_title(title, content)
        codes = iscc_codes(content)
        chosen, sources = self._opt_outs_for(owner, content, opt_outs)
        self.blobs.put(content.data)
        work = Work(
            id=new_id("wrk"), owner_id=owner.id, kind=content.kind, title=clean_title,
            sha256=content.sha256, media_type=content.media_type, size=len(content.data),
            created_at=utcnow(), status=WorkStatus.ACTIVE,
            license=license or owner.default_license or LicenseTerms(),
            opt_outs=chosen, locations=clean_locations, iscc=codes.iscc,
            publish=publish or owner.default_publish or Publication(), opt_out_sources=sources,
            offers=clean_offers,
        )
        work = self.store.add_work(work, actor or owner.id, rivals, contest_notices(self._admin_ids))
        if work.status == WorkStatus.ACTIVE:
            self.indexes.add(work.kind, work.id, fingerprint, work.iscc)
        self.counts["enrollment", work.kind.value] += 1
        return Enrollment(work=work, similar=similar)

    @staticmethod
    def _opt_outs_for(owner: Account, content: Content, opt_outs: OptOuts | None) -> tuple[OptOuts, dict[str, str]]:
        """The opt-outs a new work gets and where each use's value came from: the request's whole, else the
        file's declarations over the account's defaults (or the registry's)."""
        if opt_outs is not None:
            return opt_outs, dict.fromkeys(PURPOSES, "request")
        base = owner.default_opt_outs or OptOuts()
        fallback = "account_default" if owner.default_opt_outs else "registry_default"
        declared = declared_rights(content.data, content.media_type)
        chosen = msgspec.structs.replace(base, **declared.uses) if declared.uses else base
        return chosen, {key: declared.sources.get(key, fallback) for key in PURPOSES}

    def _rivals(self, owner: Account, matcher: Matcher, content: Content,
                skip: str = "") -> tuple[list[tuple[str, str, float]], list[Similar]]:
        """Other owners' active works this content matches (verified, exclusions applied), and the owner's own."""
        found = [m for m in drop_excluded(self.store, matcher.search(content)) if m.work_id != skip]
        return split_matches(owner, found, self.store.get_works([m.work_id for m in found]))

    def restore(self, viewer: Account, work_id: str) -> Work:
        """A withdrawn work matched again (contested, when another owner's active work has its content now)."""
        access.require(viewer, UseCase.CHANGE_WORK)
        work = access.changeable_work(viewer, self._work_or_none(work_id), work_id)
        if work.status != WorkStatus.WITHDRAWN:
            raise Conflict(f"work {work_id} is {work.status.value}: only a withdrawn work is restored")
        content = load_content(self.blobs.get(work.sha256), limits=self.settings.limits, kind=work.kind,
                               decoders=self.decoders)
        matcher = self.indexes.matcher_for(work.kind)
        rivals, _ = self._rivals(self.store.get_account(work.owner_id), matcher, content, skip=work.id)
        restored = self.store.restore_work(work_id, viewer.id, rivals, contest_notices(self._admin_ids))
        if restored.status == WorkStatus.ACTIVE:
            self.indexes.add(work.kind, work.id, matcher.fingerprint(content), work.iscc)
        return restored

    def enroll_file(self, owner: Account, filename: str, data: bytes, license: LicenseTerms | None,
                    opt_outs: OptOuts | None,
                    offers: Sequence[Offer] | None = None) -> tuple[FileOutcome, ProvenanceError | None]:
        """One file of a batch (titled by its name): what became of it, and the error that refused it."""
        return enroll_file(functools.partial(self.enroll, offers=offers), owner, filename, data, license, opt_outs)

    def submit_job(self, owner: Account, files: list[tuple[str, bytes]], license: LicenseTerms | None,
                   opt_outs: OptOuts | None) -> Job:
        access.require(owner, UseCase.ENROLL)
        return self.jobs.submit(owner, files, license, opt_outs)

    def get_job(self, viewer: Account, job_id: str) -> Job:
        access.require(viewer, UseCase.ENROLL)
        return self.jobs.get(job_id, None if viewer.role == Role.ADMIN else viewer.id)

    def _work_or_none(self, work_id: str) -> Work | None:
        try:
            return self.store.get_work(work_id)
        except NotFound:
            return None

    def get_work(self, viewer: Account, work_id: str) -> Work:
        access.require(viewer, UseCase.READ_WORK)
        return access.readable_work(viewer, self._work_or_none(work_id), work_id)

    def readable_works(self, viewer: Account, work_ids: Sequence[str]) -> dict[str, Work]:
        """Of `work_ids`, the works `viewer` may read (their own; auditors and admins all), by id."""
        found = self.store.get_works([i for i in work_ids if i])
        return {i: w for i, w in found.items() if access.may_read_work(viewer, w)}

    def list_works(self, viewer: Account, *, status: WorkStatus | None = None, owner_name: str | None = None,
                   limit: int = 100, offset: int = 0, newest_first: bool = False,
                   before: tuple[datetime, str] | None = None) -> list[Work]:
        """A creator's own works; auditors and admins everybody's (or one owner's, by name)."""
        access.require(viewer, UseCase.LIST_WORKS)
        owner_id = access.works_owner_scope(viewer)
        if owner_name is not None:
            named = self.store.find_account(owner_name)
            if named is None:
                raise NotFound(f"no account named {owner_name!r}")
            if owner_id is not None and named.id != owner_id:
                return []
            owner_id = named.id
        return self.store.list_works(owner_id=owner_id, status=status, limit=limit, offset=offset,
                                     newest_first=newest_first or before is not None, before=before)

    def update_terms(self, viewer: Account, work_id: str, license: LicenseTerms | LicensePatch | None,
                     opt_outs: OptOuts | OptOutsPatch | None, if_match: str | None = None,
                     locations: Sequence[str] | None = None, publish: Publication | None = None,
                     offers: Sequence[Offer] | None = None) -> Work:
        """Change a work's terms, locations and/or what its public declaration shows, in one transaction. A
        whole `LicenseTerms`/`OptOuts` replaces the old value; a patch changes only the fields it names;
        `locations` replaces the list. With `if_match` (the ETag the caller read), a work changed since is
        refused. Uses the change names count as the creator's choice from then on (`opt_out_sources`)."""
        access.require(viewer, UseCase.CHANGE_WORK)
        if license is None and opt_outs is None and locations is None and publish is None and offers is None:
            raise InvalidInput("nothing to change: give a license, opt-outs, offers, locations, publish or several")
        new_locations = None if locations is None else normalize_locations(locations)
        new_offers = None if offers is None else checked_offers(offers)

        def change(work: Work) -> Work:  # runs inside the store's write transaction
            access.changeable_work(viewer, work, work_id)
            if work.status in (WorkStatus.WITHDRAWN, WorkStatus.REJECTED):
                raise Conflict(f"work {work_id} is {work.status.value}: its terms are frozen"
                               + ("; restore it first (POST /v1/works/{id}/restore)"
                                  if work.status == WorkStatus.WITHDRAWN else ""))
            if if_match is not None and if_match.strip() not in ("*", work_etag(work)):
                raise PreconditionFailed(f"work {work_id} changed since you read it (its ETag is now "
                                         f"{work_etag(work)}); read it again and retry", etag=work_etag(work))
            new_license = merged(work.license, license, LicenseTerms)
            if license is not None:
                check_new_terms(new_license)
            named = PURPOSES if isinstance(opt_outs, OptOuts) else () if opt_outs is None else [
                k for k in PURPOSES if not isinstance(getattr(opt_outs, k), msgspec.UnsetType)]
            sources = {**work.opt_out_sources, **dict.fromkeys(named, "request")} if work.opt_out_sources else {}
            return msgspec.structs.replace(
                work, license=new_license, opt_outs=merged(work.opt_outs, opt_outs, OptOuts),
                locations=work.locations if new_locations is None else new_locations,
                publish=work.publish if publish is None else publish, opt_out_sources=sources,
                offers=work.offers if new_offers is None else new_offers)

        terms = license is not None or opt_outs is not None or offers is not None
        return self.store.update_work(work_id, change, viewer.id, terms=terms)

    def withdraw(self, viewer: Account, work_id: str) -> Work:
        access.require(viewer, UseCase.CHANGE_WORK)
        access.changeable_work(viewer, self._work_or_none(work_id), work_id)
        work = self.store.withdraw_work(work_id, viewer.id)
        self.indexes.remove(work.kind, work_id)
        return work

    def original(self, viewer: Account, work_id: str) -> tuple[Work, bytes]:
        """The enrolled bytes of a work, for its owner only."""
        work = self._work_or_none(work_id)
        if work is None or not access.may_see_original(viewer, work):
            raise NotFound(f"no original of work {work_id} for this account: originals go to their owner only")
        return work, self.blobs.get(work.sha256)

    def work_matches(self, viewer: Account, work_id: str, limit: int = 100, offset: int = 0,
                     before: tuple[datetime, str] | None = None) -> list[Check]:
        """The checks that matched a work, newest first, each showing only the matches the viewer may read."""
        work = self.get_work(viewer, work_id)
        checks = self.store.list_checks(CheckFilter(work_id=work.id, limit=limit, offset=offset, before=before))
        return [self._visible(viewer, c) for c in checks]

    def match_counts(self, viewer: Account, works: list[Work]) -> dict[str, int]:
        readable = [w.id for w in works if access.may_read_work(viewer, w)]
        return self.store.match_counts(readable)

    # -- checks ---------------------------------------------------------------------------------------
    def check(self, account: Account, data: bytes, purpose: str = "release", filename: str | None = None) -> Check:
        access.require(account, UseCase.CHECK)
        _check_purpose(purpose)
        content = self.load(data, filename)
        found: list[Match] = drop_excluded(self.store, self.indexes.matcher_for(content.kind).search(content))
        like = likeness(content, found) if found else ""
        return self._record_check(account, purpose, content.kind, content.sha256, found, like, content.data)

    def check_code(self, account: Account, iscc: str, purpose: str = "release") -> Check:
        """A check of an output known only by its ISCC code: the works whose Content-Code is within the
        calibrated distance (`matcher.iscc.ISCC_MAX_DISTANCE`), each with the distance as its evidence."""
        access.require(account, UseCase.CHECK)
        _check_purpose(purpose)
        kind, body = content_unit(iscc)
        query = "ISCC:" + content_code_of(kind, body)
        hits = self.indexes.codes.search(kind, body, ISCC_MAX_DISTANCE[kind])
        works = self.store.get_works([w for w, _ in hits])
        found = [Match(work_id=w, score=round(1.0 - d / 64, 4),
                       evidence=CodeEvidence(query_code=query, work_code=iscc_units(works[w].iscc)["content"],
                                             distance=d))
                 for w, d in hits if w in works and works[w].iscc]
        return self._record_check(account, purpose, kind, "", drop_excluded(self.store, found), f"iscc:{query}", None)

    def _record_check(self, account: Account, purpose: str, kind: WorkKind, sha256: str, found: list[Match],
                      like: str, data: bytes | None) -> Check:
        """The check's records (each matched work's terms and requirement now), its verdict, kept and audited."""
        released = {work_id for work_id, sha, released_like, _ in
                    (self.store.released_matches(account.id, [m.work_id for m in found]) if found else [])
                    if same_output(sha256, like, sha, released_like)}
        works = self.store.get_works([m.work_id for m in found])
        verified = verified_works(self.store, works.values())
        grants = self.store.active_grants(account.id, [m.work_id for m in found], purpose,
                                          self.clock.now()) if found else {}
        records = []
        for m in found:
            work = works.get(m.work_id)
            if work is None or work.status != WorkStatus.ACTIVE or work.id in released:
                continue
            need = requirement(purpose, work.license, work.opt_outs, work.offers)
            grant = grants.get(work.id)
            licensed = Licensed(grant_id=grant.id, offer_id=grant.offer_id, would_require=need) \
                if grant is not None and need != "clear" else None
            records.append(MatchRecord(
                work_id=work.id, score=m.score, evidence=m.evidence, title=work.title, owner_id=work.owner_id,
                license=work.license, opt_outs=work.opt_outs, requirement="clear" if licensed else need,
                verified_owner=work.id in verified, licensed=licensed,
            ))
        records = [msgspec.structs.replace(r, share=share)
                   for r, share in zip(records, attribution.shares([(r.score, r.evidence) for r in records]),
                                       strict=True)]
        verdict = Verdict(combine(r.requirement for r in records))
        keep = data is not None and (self.settings.store_check_content
                                     or (bool(records) and self.settings.keep_matched_outputs))
        blob = self.blobs.put(data) if keep and data is not None else None
        check = Check(id=new_id("chk"), account_id=account.id, created_at=utcnow(), purpose=purpose,
                      kind=kind, sha256=sha256, verdict=verdict, matches=records,
                      matcher_version=self.indexes.version, content_blob=blob, likeness=like,
                      share_method=attribution.SHARE_METHOD if records else "")
        notices = [Notice(account_id=r.owner_id, event="work.matched", subject=r.work_id,
                          details={"check_id": check.id, "work_id": r.work_id, "score": r.score,
                                   "purpose": purpose, "requirement": r.requirement})
                   for r in records]
        stored = self.store.add_check(check, account.id, notices)
        self.counts["check", f"{check.kind.value}:{check.verdict.value}"] += 1
        return stored

    def _visible(self, viewer: Account, check: Check) -> Check:
        matches = access.visible_matches(viewer, check)
        return check if len(matches) == len(check.matches) else msgspec.structs.replace(check, matches=matches)

    def get_check(self, viewer: Account, check_id: str) -> Check:
        """A check its viewer may see, with only the matches they may read."""
        access.require(viewer, UseCase.READ_CHECK)
        try:
            found: Check | None = self.store.get_check(check_id)
        except NotFound:
            found = None
        return self._visible(viewer, access.readable_check(viewer, found, check_id))

    def kept_output(self, viewer: Account, check_id: str) -> tuple[Check, bytes | None]:
        """A check and its output as submitted, when it was kept (None otherwise)."""
        check = self.get_check(viewer, check_id)
        if not check.content_blob or not self.blobs.exists(check.content_blob):
            return check, None
        return check, self.blobs.get(check.content_blob)

    def check_filter(self, viewer: Account, *, operator: str | None = None, work_id: str | None = None,
                     verdict: Verdict | None = None, since: datetime | None = None,
                     until: datetime | None = None, limit: int = 100, offset: int = 0,
                     before: tuple[datetime, str] | None = None) -> CheckFilter | None:
        """The store filter for what `viewer` asked and may see (None: an operator that does not exist)."""
        access.require(viewer, UseCase.LIST_CHECKS)
        account_id = access.checks_account_scope(viewer)
        if account_id is None and operator:
            found = self.store.find_account(operator.strip())
            if found is None:
                return None
            account_id = found.id
        return CheckFilter(account_id=account_id, work_id=work_id, verdict=verdict, since=since, until=until,
                           limit=limit, offset=offset, before=before)

    def list_checks(self, viewer: Account, flt: CheckFilter | None) -> list[Check]:
        """Checks under a filter made by `check_filter`, newest first."""
        access.require(viewer, UseCase.LIST_CHECKS)
        if flt is None:
            return []
        scope = access.checks_account_scope(viewer)
        if scope is not None and flt.account_id != scope:
            raise InvalidInput("make the filter with check_filter: it keeps operators to their own checks")
        return self.store.list_checks(flt)

    def iter_checks(self, viewer: Account, flt: CheckFilter | None, batch: int = 500) -> Iterator[Check]:
        """Every check under `flt`, newest first, page by page with a cursor (so an export costs time linear
        in its size, and checks made while it runs do not shift the pages)."""
        before = None
        while flt is not None:
            page = self.list_checks(viewer, msgspec.structs.replace(flt, limit=batch, offset=0, before=before))
            yield from page
            if len(page) < batch:
                return
            before = (page[-1].created_at, page[-1].id)

    # -- training-time lookups ----------------------------------------------------------------------------
    def lookup(self, account: Account, purpose: str, items: Sequence[LookupItem],
               files: Sequence[FileItem] = ()) -> Lookup:
        """May each item be used for `purpose`? Kept, with every result, and audited (see `service.lookups`)."""
        access.require(account, UseCase.LOOKUP)
        lookup = run_lookup(account, purpose, items, files, store=self.store, indexes=self.indexes, load=self.load,
                            now=self.clock.now())
        stored = self.store.add_lookup(lookup, account.id)
        self.counts["lookup", purpose] += 1
        return stored

    def get_lookup(self, viewer: Account, lookup_id: str) -> Lookup:
        access.require(viewer, UseCase.READ_LOOKUP)
        try:
            found: Lookup | None = self.store.get_lookup(lookup_id)
        except NotFound:
            found = None
        return access.readable_lookup(viewer, found, lookup_id)

    def start_training_run(self, account: Account, spec: NewTrainingRun) -> TrainingRun:
        access.require(account, UseCase.RECORD_TRAINING)
        return self.store.add_training_run(new_run(account, spec), account.id)

    def add_training_items(self, account: Account, run_id: str, items: Sequence[LookupItem],
                           files: Sequence[FileItem] = ()) -> TrainingRun:
        """Match a batch of the run's items and include the works they matched (see `service.training`)."""
        access.require(account, UseCase.RECORD_TRAINING)
        run = own_run(self.store, account, run_id)
        if run.status != "open":
            raise Conflict(f"training run {run_id} is closed: its record is frozen; record a new run")
        count, digest, included = included_works(account, run, items, files, store=self.store,
                                                 indexes=self.indexes, load=self.load, now=self.clock.now())
        return self.store.add_training_items(run_id, count, digest, included, account.id)

    def close_training_run(self, account: Account, run_id: str) -> TrainingRun:
        access.require(account, UseCase.RECORD_TRAINING)
        own_run(self.store, account, run_id)
        return self.store.close_training_run(run_id, account.id)

    def get_training_run(self, viewer: Account, run_id: str) -> TrainingRun:
        access.require(viewer, UseCase.READ_TRAINING_RUN)
        try:
            run: TrainingRun | None = self.store.get_training_run(run_id)
        except NotFound:
            run = None
        return access.readable_run(viewer, run, run_id)

    def list_training_runs(self, viewer: Account, limit: int = 100, offset: int = 0,
                           before: tuple[datetime, str] | None = None) -> list[TrainingRun]:
        """An operator's own runs, newest first; auditors and admins everybody's."""
        access.require(viewer, UseCase.READ_TRAINING_RUN)
        return self.store.list_training_runs(access.checks_account_scope(viewer), limit, offset, before)

    def training_run_works(self, viewer: Account, run_id: str, after: str = "",
                           limit: int = 100) -> list[IncludedWork]:
        self.get_training_run(viewer, run_id)
        return self.store.training_run_works(run_id, after, limit)

    def work_training_runs(self, viewer: Account, work_id: str) -> list[tuple[TrainingRun, IncludedWork]]:
        """The runs that included a work: for its owner (and auditors, admins), never the rest of the run."""
        work = self.get_work(viewer, work_id)
        return self.store.work_training_runs(work.id)

    # -- the offline opt-out bank ------------------------------------------------------------------------------
    def bank(self, viewer: Account | None, purpose: str, since: int | None = None) -> Iterator[bytes]:
        """The signed opt-out bank for `purpose` (see `service.bank`); `viewer` None is an anonymous reader,
        admitted only when the registry makes the bank public."""
        if viewer is None:
            if not self.settings.public_bank:
                raise Unauthenticated("send your API key as 'Authorization: Bearer <key>': this registry's "
                                      "bank is not public")
        else:
            access.require(viewer, UseCase.READ_BANK)
        return bank.build(self.store, self.indexes, self.log.key, self.log.key_id, purpose, since)

    def bank_hma(self, viewer: Account | None, purpose: str) -> tuple[bytes, str]:
        """The bank's PDQ hashes in Hasher-Matcher-Actioner's file form (`pdq <hex>` lines), and a base64
        Ed25519 signature of it (over the same context as the bank's)."""
        entries = (msgspec.json.decode(line) for line in self.bank(viewer, purpose))  # built here: no need to verify
        lines = sorted({f"pdq {e['pdq']}" for e in entries if isinstance(e.get("pdq"), str)})
        body = "".join(line + "\n" for line in lines).encode()
        return body, bank.sign_file(self.log.key, body)

    # -- audit ----------------------------------------------------------------------------------------
    def audit_entries(self, viewer: Account, after: int = 0, limit: int | None = None) -> list[AuditEntry]:
        access.require(viewer, UseCase.READ_AUDIT)
        return self.store.audit_entries(after, limit)

    def audit_size(self, viewer: Account) -> int:
        access.require(viewer, UseCase.READ_AUDIT)
        return self.store.last_seq()

    def verify_audit(self, viewer: Account) -> ChainReport:
        access.require(viewer, UseCase.READ_AUDIT)
        return self.store.verify_audit()

    def chain_status(self, viewer: Account, *, full: bool = False, recheck_seconds: float = 300.0) -> ChainStatus:
        """The chain's status, recomputed whole at most every `recheck_seconds` (or when `full`)."""
        access.require(viewer, UseCase.READ_AUDIT)
        return self._chain.status(self.store, full=full, full_every=recheck_seconds)

    # -- idempotent requests ----------------------------------------------------------------------------
    def claim_request(self, account: Account, key: str, request_hash: str) -> StoredAnswer | None:
        """Claim an Idempotency-Key for a request (None: go ahead), or the answer kept for it (24 h)."""
        return self.store.claim_request(account.id, key, request_hash, IDEMPOTENCY_SECONDS)

    def finish_request(self, account: Account, key: str, status: int, media_type: str, body: str) -> None:
        self.store.finish_request(account.id, key, status, media_type, body)

    def release_request(self, account: Account, key: str) -> None:
        self.store.release_request(account.id, key)

    # -- the transparency log (public: anyone may verify) --------------------------------------------------
    @property
    def log(self) -> TransparencyLog:
        if self._log is None:
            key = signing_key(self.settings.log_signing_key, self.settings.data_dir / "log-signing.key")
            self._log = TransparencyLog(self.store, key, self.settings.data_dir / "heads")
        return self._log

    def tree_head(self) -> SignedTreeHead:
        """The log's current signed head (signed anew when the log grew since the last one)."""
        return self.log.head()

    def inclusion_proof(self, seq: int, tree_size: int) -> tuple[str, list[str]]:
        """The leaf hash of entry `seq` and its audit path in the tree of `tree_size` entries."""
        return self.log.leaf_hash(seq), self.log.inclusion(seq, tree_size)

    def consistency_proof(self, first: int, second: int) -> list[str]:
        return self.log.consistency(first, second)

    def log_key(self) -> tuple[str, str]:
        """The public key (PEM) that verifies the log's heads, and its id."""
        return public_pem(self.log.public), self.log.key_id

    def log_status(self, viewer: Account | None = None, whole: bool = True) -> LogStatus:
        """Whether the log still extends the last head this registry signed (start-up, auditor pages)."""
        if viewer is not None:
            access.require(viewer, UseCase.READ_AUDIT)
        return self.log.status(whole=whole)

    def publish_heads(self, interval: float) -> None:
        """Sign and publish a head every `interval` seconds in a background thread (for witnesses)."""
        if self._publisher is not None or interval <= 0:
            return
        # an inconsistent log is logged (and shown to auditors); the next round tries again
        self._publisher = run_every(interval, lambda: self.log.publish(), self._stop, "head-publisher",
                                    "publishing the audit log's head failed")

    # -- service --------------------------------------------------------------------------------------
    def health(self) -> dict[str, object]:
        pending, age = self.indexes.lag()
        return {"matchers": {k.value: m.version for k, m in self.indexes.matchers.items()},
                "works_indexed": dict(self.indexes.sizes()),
                "index_lag": {"pending_changes": pending, "oldest_seconds": round(age, 1)}}

    def job_queue_depth(self) -> int:
        return self.store.job_files_waiting()

    def close(self) -> None:
        self._stop.set()
        for thread in [*self._claims_threads, *([self._publisher] if self._publisher else [])]:
            thread.join(timeout=30)
        if self._jobs is not None:
            self._jobs.close()
        self.indexes.close()
        self.store.close()


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}")


def _clean_title(title: str | None, content: Content) -> str:
    if title is None or not title.strip():
        return f"untitled {content.kind.value} {content.sha256[:12]}"
    cleaned = "".join(ch for ch in title if ch.isprintable()).strip()
    if not cleaned:
        raise InvalidInput("title has no printable characters")
    if len(cleaned) > 500:
        raise InvalidInput(f"title is {len(cleaned)} characters long; the limit is 500")
    return cleaned

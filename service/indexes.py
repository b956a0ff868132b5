"""The matchers' in-memory indexes, kept in step with the store.

Indexes are derived state: `sync` adds what the store has and an index lacks and drops what it should not
hold; `apply_changes` follows the store's change feed (enrollments and withdrawals made by this process,
another replica or the command line). The matchers are opened (and synced) on first use, so a command
that never matches never loads a model or an index.
"""

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from matcher.base import Matcher
from matcher.iscc import CodeIndex, iscc_codes
from registry.blobs import BlobStore
from registry.claims import Exclusion
from registry.content import Decoder, load_content
from registry.errors import InvalidInput, ProvenanceError
from registry.ids import utcnow
from registry.models import Work, WorkKind, WorkStatus
from registry.settings import ContentLimits
from registry.store import Store
from service.periodic import run_every

log = logging.getLogger("provenance.indexes")
EXCLUSION_PREFIX = "exc_"  # exclusions share the matchers' indexes with works, under ids of their own
_UNBOUNDED = ContentLimits(max_upload_bytes=2**62, max_image_pixels=2**40, max_text_chars=2**40)


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    failed: list[str] = field(default_factory=list)


class IndexKeeper:
    def __init__(self, store: Store, blobs: BlobStore, open_matchers: Callable[[], Iterable[Matcher]],
                 decoders: list[Decoder]) -> None:
        self._store, self._blobs, self._open = store, blobs, open_matchers
        self._decoders = decoders
        self._matchers: dict[WorkKind, Matcher] | None = None
        self.lock = threading.RLock()  # index updates and whole-index passes; searches take the matchers' own
        self._seen_seq = 0
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        self._codes = CodeIndex()  # the active works' ISCC Content-Codes, filled with the matchers' indexes

    @property
    def codes(self) -> CodeIndex:
        """The active works' ISCC Content-Codes, for code-only matching (opened with the matchers)."""
        self.matchers  # noqa: B018 (opens and syncs the indexes, the codes with them, on first use)
        return self._codes

    @property
    def opened(self) -> bool:
        return self._matchers is not None

    @property
    def matchers(self) -> dict[WorkKind, Matcher]:
        """The matchers, opened and brought in line with the store on first use."""
        if self._matchers is None:
            self._open_and_sync()
        assert self._matchers is not None
        return self._matchers

    def _open_and_sync(self, rebuild: bool = False) -> SyncReport:
        with self.lock:
            if self._matchers is not None:
                return self._sync(self._matchers, rebuild)
            matchers = {m.kind: m for m in self._open()}
            report = self._sync(matchers, rebuild)
            self._matchers = matchers
            return report

    def matcher_for(self, kind: WorkKind) -> Matcher:
        try:
            return self.matchers[kind]
        except KeyError:
            raise InvalidInput(f"no matcher is configured for {kind.value} content") from None

    @property
    def version(self) -> str:
        return "; ".join(f"{k.value}={m.version}" for k, m in sorted(self.matchers.items()))

    def sizes(self) -> dict[str, int]:
        return {k.value: sum(not i.startswith(EXCLUSION_PREFIX) for i in m.work_ids())
                for k, m in self.matchers.items()}

    def add(self, kind: WorkKind, work_id: str, fingerprint: object, iscc: str = "") -> None:
        with self.lock:
            self.matcher_for(kind).add(work_id, fingerprint)
            if iscc:
                self._codes.add(work_id, iscc)

    def remove(self, kind: WorkKind, work_id: str) -> None:
        """Drop a work from its index; when the indexes are not open, the next opening's sync drops it."""
        with self.lock:
            self._codes.remove(work_id)
            if self._matchers is not None:
                self.matcher_for(kind).remove(work_id)

    def _index_work(self, matcher: Matcher, work: Work | Exclusion) -> None:
        content = load_content(self._blobs.get(work.sha256), limits=_UNBOUNDED, kind=work.kind,
                               decoders=self._decoders)
        matcher.add(work.id, matcher.fingerprint(content))

    def apply_changes(self) -> int:
        """Apply enrollments and withdrawals made since the last call, by this process or any other
        (another replica, or the command line), to the in-memory indexes. Returns how many were applied."""
        applied = 0
        while changes := self._store.work_changes(self._seen_seq):
            for seq, action, work_id in changes:
                with self.lock:
                    try:
                        item, wanted = self._item(work_id)
                        matcher = self.matcher_for(item.kind)
                        if not wanted:
                            matcher.remove(work_id)
                            self._codes.remove(work_id)
                        else:
                            if not matcher.has(work_id):
                                self._index_work(matcher, item)
                            if isinstance(item, Work) and item.iscc:
                                self._codes.add(work_id, item.iscc)
                    except ProvenanceError as exc:  # one change that cannot be applied must not stall the feed
                        log.warning("cannot apply %s of %s: %s", action, work_id, exc)
                self._seen_seq = seq
                applied += 1
        return applied

    def _item(self, item_id: str) -> tuple[Work | Exclusion, bool]:
        """A work or an exclusion (indexed under its id) and whether it belongs in the index."""
        if item_id.startswith(EXCLUSION_PREFIX):
            exclusion = self._store.get_exclusion(item_id)
            return exclusion, exclusion.active
        work = self._store.get_work(item_id)
        return work, work.status == WorkStatus.ACTIVE

    def lag(self, limit: int = 10_000) -> tuple[int, float]:
        """Enrollments and withdrawals in the store whose effect is not yet in this process's indexes (looking
        at most `limit` changes ahead), and how many seconds ago the oldest of them was made (0: none)."""
        changes = self._store.work_changes(self._seen_seq, limit)
        if not changes or self._matchers is None:
            return 0, 0.0
        matchers = list(self._matchers.values())
        latest: dict[str, int] = {}
        for seq, _action, work_id in changes:
            latest[work_id] = seq
        works = self._store.get_works([i for i in latest if not i.startswith(EXCLUSION_PREFIX)])
        exclusions = self._store.get_exclusions([i for i in latest if i.startswith(EXCLUSION_PREFIX)])
        wanted = {i for i, w in works.items() if w.status == WorkStatus.ACTIVE} | {
            i for i, e in exclusions.items() if e.active}
        pending = sorted(seq for item_id, seq in latest.items()
                         if (item_id in wanted) != any(m.has(item_id) for m in matchers))
        if not pending:
            return 0, 0.0
        oldest = self._store.audit_entries(pending[0] - 1, 1)
        age = (utcnow() - oldest[0].at).total_seconds() if oldest else 0.0
        return len(pending), max(0.0, age)

    def follow(self, interval: float) -> None:
        """Keep the indexes current from the change feed in a background thread, every `interval` s."""
        if self._follower is not None or interval <= 0:
            return
        self._follower = run_every(interval, self.apply_changes, self._stop, "index-follower",
                                   "applying index changes failed")

    def sync(self, rebuild: bool = False) -> SyncReport:
        """Bring every matcher's index in line with the store's active works (all of them if `rebuild`)."""
        return self._open_and_sync(rebuild)

    def _sync(self, matchers: dict[WorkKind, Matcher], rebuild: bool) -> SyncReport:
        report = SyncReport()
        self._seen_seq = self._store.last_seq()  # changes after this are applied by apply_changes
        codes = CodeIndex()
        for kind, matcher in matchers.items():
            if rebuild:
                matcher.clear()
            indexed = matcher.work_ids()
            active: set[str] = set()
            items: Iterable[Work | Exclusion] = itertools.chain(self._store.iter_active_works(kind),
                                                                 self._store.active_exclusions(kind))
            for work in items:
                active.add(work.id)
                if isinstance(work, Work):
                    self._add_code(codes, work, report)
                if work.id in indexed:
                    continue
                try:
                    self._index_work(matcher, work)
                    report.added += 1
                except Exception as exc:  # one bad original must not stop the rest
                    report.failed.append(f"{work.id}: {exc}")
            for stale in indexed - active:
                matcher.remove(stale)
                report.removed += 1
            matcher.save()
        self._codes = codes
        return report

    def _add_code(self, codes: CodeIndex, work: Work, report: SyncReport) -> None:
        """The work's Content-Code in `codes`; a work enrolled before codes existed gets its code now."""
        iscc = work.iscc
        if not iscc:
            try:
                iscc = iscc_codes(load_content(self._blobs.get(work.sha256), limits=_UNBOUNDED, kind=work.kind,
                                               decoders=self._decoders)).iscc
            except Exception as exc:  # one bad original must not stop the rest
                report.failed.append(f"{work.id} (ISCC): {exc}")
                return
            self._store.set_iscc(work.id, iscc)
        codes.add(work.id, iscc)

    def save(self) -> None:
        if self._matchers is None:
            return
        with self.lock:
            for matcher in self._matchers.values():
                matcher.save()

    def close(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=30)
        self.save()

"""Exclusions: content that must never match, such as a public-domain source an enrolled work builds on.

An admin excludes content for every work, a creator for one of their own works. Exclusions are fingerprinted
and indexed like works (under `exc_` ids). The rule, the same for checks and lookups: an output that matches
an exclusion at least as closely as it matches a work in the exclusion's scope does not match that work
(it is a copy of the excluded source, not of what the work added to it). An output that copies the work
itself still matches it, because it is closer to the work than to the source.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

from matcher.base import Match
from registry.blobs import BlobStore
from registry.claims import Exclusion
from registry.content import Content
from registry.errors import InvalidInput, NotFound
from registry.ids import new_id, utcnow
from registry.models import Account, Role
from registry.store import Store
from service import access
from service.access import UseCase
from service.disputes import clean_note
from service.indexes import EXCLUSION_PREFIX, IndexKeeper


def is_exclusion(item_id: str) -> bool:
    return item_id.startswith(EXCLUSION_PREFIX)


def excluded_works(hits: dict[str, float], exclusions: dict[str, Exclusion]) -> dict[str, str]:
    """Of `hits` (work and exclusion ids with their confidence for one output), the works an exclusion
    takes out: work id -> the exclusion's id."""
    out: dict[str, str] = {}
    found = [(exclusions[i], score) for i, score in hits.items() if i in exclusions and exclusions[i].active]
    for work_id, score in hits.items():
        if is_exclusion(work_id):
            continue
        for exclusion, excluded_score in found:
            if (exclusion.work_id is None or exclusion.work_id == work_id) and excluded_score >= score:
                out[work_id] = exclusion.id
                break
    return out


def drop_excluded(store: Store, found: Sequence[Match]) -> list[Match]:
    """A search's matches without exclusion hits and without the works they take out."""
    hits = [m for m in found if is_exclusion(m.work_id)]
    if not hits:
        return list(found)
    exclusions = store.get_exclusions([m.work_id for m in hits])
    gone = excluded_works({m.work_id: m.score for m in found}, exclusions)
    return [m for m in found if not is_exclusion(m.work_id) and m.work_id not in gone]


def drop_excluded_rows(store: Store, rows: Sequence[dict[str, tuple[float, str]]], shas: Sequence[str | None]) -> None:
    """Lookups: take excluded works (and exclusion hits) out of each item's row (work -> (confidence, by)) in
    place; an item whose SHA-256 is excluded content counts as matching that exclusion exactly."""
    by_sha = store.exclusions_by_sha256([s for s in shas if s])
    for row, sha in zip(rows, shas, strict=False):
        for exclusion in by_sha.get(sha or "", []):
            row[exclusion.id] = (1.0, "sha256")
    ids = sorted({i for row in rows for i in row if is_exclusion(i)})
    if not ids:
        return
    exclusions = store.get_exclusions(ids)
    for row in rows:
        gone = excluded_works({i: conf for i, (conf, _) in row.items()}, exclusions)
        for i in [i for i in row if is_exclusion(i) or i in gone]:
            del row[i]


class Exclusions:
    def __init__(self, store: Store, blobs: BlobStore, indexes: IndexKeeper,
                 load: Callable[[bytes, str | None], Content]) -> None:
        self.store, self.blobs, self.indexes, self._load = store, blobs, indexes, load

    def add(self, viewer: Account, data: bytes, filename: str | None, work_id: str | None,
            note: str = "") -> Exclusion:
        """Exclude content: for every work (admins), or for one work (its owner, or an admin)."""
        access.require(viewer, UseCase.EXCLUDE)
        if viewer.role != Role.ADMIN and not work_id:
            raise InvalidInput("name the work (work_id) this exclusion applies to: creators exclude content for "
                               "their own works; only admins exclude content for every work")
        work = None
        if work_id:
            try:
                work = self.store.get_work(work_id)
            except NotFound:
                work = None
            work = access.changeable_work(viewer, work, work_id)
        content = self._load(data, filename)
        if work is not None and work.kind != content.kind:
            raise InvalidInput(f"work {work.id} is {work.kind.value}; an exclusion for it must be {work.kind.value} "
                               f"content, not {content.kind.value}")
        matcher = self.indexes.matcher_for(content.kind)
        fingerprint = matcher.fingerprint(content)
        self.blobs.put(content.data)
        exclusion = Exclusion(id=new_id(EXCLUSION_PREFIX.rstrip("_")), kind=content.kind, sha256=content.sha256,
                              media_type=content.media_type, work_id=work.id if work else None, created_by=viewer.id,
                              note=clean_note(note), created_at=utcnow())
        self.store.add_exclusion(exclusion, viewer.id)
        self.indexes.add(content.kind, exclusion.id, fingerprint)
        return exclusion

    def _readable(self, viewer: Account, exclusion_id: str) -> Exclusion:
        try:
            found: Exclusion | None = self.store.get_exclusion(exclusion_id)
        except NotFound:
            found = None
        if found is None or not (found.created_by == viewer.id or viewer.role in (Role.ADMIN, Role.AUDITOR)):
            raise NotFound(f"no exclusion {exclusion_id}")
        return found

    def get(self, viewer: Account, exclusion_id: str) -> Exclusion:
        access.require(viewer, UseCase.READ_EXCLUSIONS)
        return self._readable(viewer, exclusion_id)

    def remove(self, viewer: Account, exclusion_id: str) -> Exclusion:
        access.require(viewer, UseCase.EXCLUDE)
        exclusion = self._readable(viewer, exclusion_id)
        removed = self.store.remove_exclusion(exclusion_id, viewer.id)
        self.indexes.remove(exclusion.kind, exclusion_id)
        return removed

    def list(self, viewer: Account, limit: int = 100, offset: int = 0,
             before: tuple[datetime, str] | None = None) -> list[Exclusion]:
        """A creator's own exclusions, newest first; auditors and admins all."""
        access.require(viewer, UseCase.READ_EXCLUSIONS)
        mine = None if viewer.role in (Role.ADMIN, Role.AUDITOR) else viewer.id
        return self.store.list_exclusions(created_by=mine, limit=limit, offset=offset, before=before)

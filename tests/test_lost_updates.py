"""Concurrent changes of one work lose nothing: each change reads and writes in one transaction, a PATCH
changes only the fields it names, and `If-Match` refuses a change to a work that changed since it was read.
Run on SQLite and on PostgreSQL, through two registries ("replicas") over one database."""

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from registry.blobs import BlobStore
from registry.errors import InvalidInput, PreconditionFailed
from registry.ids import new_id, utcnow
from registry.models import Role, Work, WorkKind, WorkStatus, work_etag
from registry.store import Store
from registry.terms import LicensePatch, LicenseTerms, OptOuts, OptOutsPatch, TdmChoice
from service.registry import Registry
from service.settings import ServiceSettings

ROUNDS = 20
USES = ("allowed", "notAllowed")
RELEASES = ("allowed", "attribution", "license", "notAllowed")


def _patch(field: str, i: int) -> tuple[LicensePatch | None, OptOutsPatch | None]:
    """The i-th value a client writes to its own field."""
    if field == "id":
        return LicensePatch(id=f"LicenseRef-v{i}"), None
    if field == "terms_url":
        return LicensePatch(terms_url=f"https://example.org/terms/{i}"), None
    if field == "attribution_required":
        return LicensePatch(attribution_required=i % 2 == 0), None
    if field == "commercial_use":
        return LicensePatch(commercial_use=i % 2 == 1), None
    if field == "release":
        return None, OptOutsPatch(release=RELEASES[i % 4])  # type: ignore[arg-type]
    return None, OptOutsPatch(**{field: TdmChoice(use=USES[i % 2])})  # type: ignore[arg-type]


FIELDS = ["id", "terms_url", "attribution_required", "commercial_use", "release",
          "ai_training", "ai_generative_training", "ai_inference", "data_mining"]


def _value(work: Work, field: str) -> object:
    source = work.license if hasattr(work.license, field) else work.opt_outs
    return getattr(source, field)


def test_concurrent_patches_of_different_fields_lose_nothing(store_factory: Callable[[], Store],
                                                             tmp_path: Path) -> None:
    stores = [store_factory(), store_factory()]  # two replicas over one database
    settings = ServiceSettings()
    registries = [Registry(settings, s, BlobStore(tmp_path / "blobs"), lambda: []) for s in stores]
    alice = stores[0].create_account("alice", Role.CREATOR, "system")
    work = stores[0].add_work(Work(id=new_id("wrk"), owner_id=alice.id, kind=WorkKind.TEXT, title="t",
                                   sha256="a" * 64, media_type="text/plain", size=1, created_at=utcnow(),
                                   status=WorkStatus.ACTIVE, license=LicenseTerms(), opt_outs=OptOuts()), alice.id)
    errors: list[BaseException] = []

    def client(n: int, field: str) -> None:
        registry = registries[n % 2]
        try:
            for i in range(ROUNDS):
                license, opt_outs = _patch(field, i)
                registry.update_terms(alice, work.id, license, opt_outs)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n, f)) for n, f in enumerate(FIELDS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = stores[1].get_work(work.id)
    for field in FIELDS:  # every field holds the last value its client wrote: no change was reverted
        license, opt_outs = _patch(field, ROUNDS - 1)
        change = license if license is not None else opt_outs
        assert _value(final, field) == getattr(change, field), field
    changes = [e for e in stores[0].audit_entries() if e.action == "work.terms_changed"]
    assert len(changes) == ROUNDS * len(FIELDS)
    for before, after in itertools.pairwise(changes):
        assert after.details["before"] == before.details["after"]  # the audit's before is the real one


def test_a_patch_keeps_what_it_does_not_name_and_if_match_refuses_a_stale_change(
        store_factory: Callable[[], Store], tmp_path: Path) -> None:
    store = store_factory()
    registry = Registry(ServiceSettings(), store, BlobStore(tmp_path / "blobs"), lambda: [])
    alice = store.create_account("alice", Role.CREATOR, "system")
    terms = LicenseTerms(id="CC-BY-4.0", terms_url="https://example.org/t", attribution_required=False)
    opts = OptOuts(ai_training=TdmChoice(use="allowed"), data_mining=TdmChoice(use="allowed"), release="allowed")
    work = store.add_work(Work(id=new_id("wrk"), owner_id=alice.id, kind=WorkKind.TEXT, title="t",
                               sha256="b" * 64, media_type="text/plain", size=1, created_at=utcnow(),
                               status=WorkStatus.ACTIVE, license=terms, opt_outs=opts), alice.id)
    changed = registry.update_terms(alice, work.id, LicensePatch(id="CC-BY-SA-4.0"), None)
    assert not changed.license.attribution_required and changed.license.terms_url == terms.terms_url
    changed = registry.update_terms(alice, work.id, None, OptOutsPatch(release="attribution"))
    assert changed.opt_outs.ai_training.use == "allowed" and changed.opt_outs.data_mining.use == "allowed"
    etag = work_etag(changed)
    registry.update_terms(alice, work.id, LicensePatch(commercial_use=True), None, if_match=etag)
    with pytest.raises(PreconditionFailed):
        registry.update_terms(alice, work.id, LicensePatch(commercial_use=False), None, if_match=etag)
    assert store.get_work(work.id).license.commercial_use is True
    with pytest.raises(InvalidInput, match="http"):
        registry.update_terms(alice, work.id, LicensePatch(terms_url="javascript:alert(1)"), None)
    with pytest.raises(InvalidInput):
        registry.update_terms(alice, work.id, LicensePatch(id="not a licence!"), None)
    assert store.get_work(work.id).license.terms_url == "https://example.org/t"

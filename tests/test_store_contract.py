"""The store contract: every Store implementation must pass these."""

import itertools
from collections.abc import Callable
from datetime import timedelta

import msgspec
import pytest

from registry.errors import Conflict, InvalidInput, NotFound
from registry.evidence import ImageEvidence
from registry.ids import new_id, utcnow
from registry.models import Check, CheckFilter, MatchRecord, Role, Verdict, Work, WorkKind, WorkStatus
from registry.store import Store
from registry.terms import LicenseTerms, OptOuts, TdmChoice


def make_work(owner_id: str, sha: str = "a" * 64, kind: WorkKind = WorkKind.TEXT) -> Work:
    return Work(id=new_id("wrk"), owner_id=owner_id, kind=kind, title="t", sha256=sha, media_type="text/plain",
                size=3, created_at=utcnow(), status=WorkStatus.ACTIVE, license=LicenseTerms(), opt_outs=OptOuts())


def make_check(account_id: str, work: Work, verdict: Verdict = Verdict.BLOCKED) -> Check:
    match = MatchRecord(work_id=work.id, score=0.9, evidence=ImageEvidence(pdq_distance=3), title=work.title,
                        owner_id=work.owner_id,
                        license=work.license, opt_outs=work.opt_outs, requirement="blocked")
    return Check(id=new_id("chk"), account_id=account_id, created_at=utcnow(), purpose="release",
                 kind=WorkKind.TEXT, sha256="b" * 64, verdict=verdict, matches=[match], matcher_version="m1")


def test_accounts_and_keys(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    assert store.get_account(alice.id) == alice
    assert store.find_account("alice") == alice
    assert store.find_account("nobody") is None
    with pytest.raises(Conflict):
        store.create_account("alice", Role.OPERATOR, "system")
    key = store.create_key(alice.id, "h" * 64, "pvk_abc", "system")
    found = store.authenticate("h" * 64)
    assert found is not None and found[0].id == key.id and found[1].id == alice.id
    assert store.authenticate("x" * 64) is None
    store.revoke_key(key.id, "system")
    assert store.authenticate("h" * 64) is None
    assert store.get_key(key.id).revoked_at is not None
    with pytest.raises(NotFound):
        store.get_key("key_missing")


def test_works_are_listed_oldest_or_newest_first(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    start = utcnow()
    works = [store.add_work(msgspec.structs.replace(make_work(alice.id, sha=f"{i:064d}"),
                                                    created_at=start + timedelta(seconds=i)), alice.id)
             for i in range(5)]
    ids = [w.id for w in works]
    assert [w.id for w in store.list_works(owner_id=alice.id)] == ids
    assert [w.id for w in store.list_works(owner_id=alice.id, newest_first=True)] == ids[::-1]
    assert [w.id for w in store.list_works(owner_id=alice.id, newest_first=True, limit=2, offset=2)] == ids[2:0:-1]


def test_account_defaults(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    lic = LicenseTerms(id="CC-BY-4.0", attribution_required=True, commercial_use=True)
    oo = OptOuts(release="attribution")
    updated = store.set_account_defaults(alice.id, lic, oo, alice.id)
    assert updated.default_license == lic and updated.default_opt_outs == oo
    assert store.get_account(alice.id).default_license == lic


def test_works_lifecycle(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    bob = store.create_account("bob", Role.CREATOR, "system")
    w = store.add_work(make_work(alice.id), alice.id)
    assert store.get_work(w.id) == w
    assert store.find_work(alice.id, "a" * 64) == w
    with pytest.raises(Conflict) as exc:
        store.add_work(make_work(alice.id), alice.id)
    assert exc.value.details["existing_id"] == w.id
    contested = store.add_work(make_work(bob.id), bob.id)  # another owner's claim on the same bytes waits
    assert contested.status == WorkStatus.CONTESTED and store.get_work(contested.id).status == WorkStatus.CONTESTED
    assert [c.work_id for c in store.list_conflicts()] == [contested.id]
    other = store.add_work(make_work(bob.id, sha="b" * 64), bob.id)
    assert [x.id for x in store.list_works(owner_id=alice.id)] == [w.id]
    assert {x.id for x in store.list_works()} == {w.id, other.id, contested.id}
    new_opt = OptOuts(ai_training=TdmChoice(use="constrained", constraint_info="https://example.org/t"))
    changed = store.update_terms(w.id, lambda work: (work.license, new_opt), alice.id)
    assert changed.opt_outs == new_opt and store.get_work(w.id).opt_outs == new_opt
    before = store.last_seq()

    def refuse(work: Work) -> tuple[LicenseTerms, OptOuts]:
        raise InvalidInput("no")

    with pytest.raises(InvalidInput):  # a change that refuses leaves the work and the log as they were
        store.update_terms(w.id, refuse, alice.id)
    assert store.get_work(w.id).opt_outs == new_opt and store.last_seq() == before
    with pytest.raises(NotFound):
        store.update_terms("wrk_nope", lambda work: (work.license, work.opt_outs), alice.id)
    seen = store.last_seq()
    store.withdraw_work(w.id, alice.id)
    assert store.work_changes(seen) == [(seen + 1, "work.withdrawn", w.id)]
    assert [a for _, a, _ in store.work_changes(0)] == ["work.enrolled"] * 3 + ["work.withdrawn"]
    assert store.get_work(w.id).status == WorkStatus.WITHDRAWN
    assert [x.id for x in store.iter_active_works()] == [other.id]
    assert store.list_works(status=WorkStatus.WITHDRAWN)[0].id == w.id
    with pytest.raises(NotFound):
        store.get_work("wrk_missing")


def test_iter_active_works_pages(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    ids = {store.add_work(make_work(alice.id, sha=f"{i:064x}"), alice.id).id for i in range(1203)}
    assert {w.id for w in store.iter_active_works(WorkKind.TEXT)} == ids
    assert list(store.iter_active_works(WorkKind.IMAGE)) == []


def test_checks_and_filters(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    op1 = store.create_account("op1", Role.OPERATOR, "system")
    op2 = store.create_account("op2", Role.OPERATOR, "system")
    w = store.add_work(make_work(alice.id), alice.id)
    c1 = store.add_check(make_check(op1.id, w), op1.id)
    c2 = store.add_check(msgspec.structs.replace(make_check(op2.id, w, Verdict.CLEAR), matches=[]), op2.id)
    assert store.get_check(c1.id) == c1
    assert [c.id for c in store.list_checks(CheckFilter(account_id=op1.id))] == [c1.id]
    assert [c.id for c in store.list_checks(CheckFilter(work_id=w.id))] == [c1.id]
    assert [c.id for c in store.list_checks(CheckFilter(verdict=Verdict.CLEAR))] == [c2.id]
    assert len(store.list_checks(CheckFilter(since=utcnow() - timedelta(minutes=1)))) == 2
    assert store.list_checks(CheckFilter(until=utcnow() - timedelta(minutes=1))) == []
    assert len(store.list_checks(CheckFilter(limit=1))) == 1
    assert len(store.list_checks(CheckFilter(limit=1, offset=1))) == 1
    other = store.add_work(make_work(alice.id, sha="c" * 64), alice.id)
    store.add_check(make_check(op2.id, w), op2.id)
    assert store.match_counts([w.id, other.id, "wrk_missing"]) == {w.id: 2}
    assert store.match_counts([]) == {}


def test_every_change_is_audited_and_chained(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    key = store.create_key(alice.id, "h" * 64, "pvk_abc", "system")
    w = store.add_work(make_work(alice.id), alice.id)
    store.update_terms(w.id, lambda work: (LicenseTerms(id="CC-BY-4.0"), work.opt_outs), alice.id)
    store.withdraw_work(w.id, alice.id)
    store.revoke_key(key.id, "system")
    actions = [e.action for e in store.audit_entries()]
    assert actions == ["account.created", "key.created", "work.enrolled", "work.terms_changed",
                       "work.withdrawn", "key.revoked"]
    entries = store.audit_entries()
    assert [e.seq for e in entries] == list(range(1, 7))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    report = store.verify_audit()
    assert report.ok and report.entries == 6 and report.head == entries[-1].hash
    assert [e.seq for e in store.audit_entries(after_seq=4)] == [5, 6]


def test_failed_write_leaves_no_audit_entry(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "system")
    store.add_work(make_work(alice.id), alice.id)
    before = len(store.audit_entries())
    with pytest.raises(Conflict):
        store.add_work(make_work(alice.id), alice.id)
    assert len(store.audit_entries()) == before
    assert store.verify_audit().ok


def test_audit_chain_stays_one_chain_under_concurrent_writers(store_factory: Callable[[], Store]) -> None:
    """Several store instances (replicas) and threads append at once: no fork, no gap, all verified."""
    import threading

    stores = [store_factory() for _ in range(3)]
    owner = stores[0].create_account("owner", Role.CREATOR, "system")
    errors: list[BaseException] = []

    def writer(s: Store, n: int) -> None:
        try:
            for i in range(15):
                s.add_work(make_work(owner.id, sha=f"{n:08x}{i:056x}"), owner.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(stores[n % 3], n)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = stores[1].audit_entries()
    assert [e.seq for e in entries] == list(range(1, 92))
    assert stores[2].verify_audit().ok
    assert len(stores[0].list_works(limit=1000)) == 90


def test_same_content_enrolled_concurrently_is_one_work(store_factory: Callable[[], Store]) -> None:
    import threading

    stores = [store_factory() for _ in range(2)]
    owner = stores[0].create_account("owner", Role.CREATOR, "system")
    outcomes: list[str] = []

    def enroll(s: Store) -> None:
        try:
            s.add_work(make_work(owner.id, sha="c" * 64), owner.id)
            outcomes.append("added")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=enroll, args=(stores[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["added"] + ["conflict"] * 7
    assert stores[1].verify_audit().ok


def test_idempotency_claims_answers_and_expiry(store: Store) -> None:
    assert store.claim_request("acc_1", "k", "h1", 3600) is None  # claimed
    pending = store.claim_request("acc_1", "k", "h1", 3600)
    assert pending is not None and pending.status is None  # still being answered
    store.finish_request("acc_1", "k", 201, "application/json", '{"id": 1}')
    kept = store.claim_request("acc_1", "k", "h2", 3600)
    assert kept is not None and (kept.request_hash, kept.status, kept.body) == ("h1", 201, '{"id": 1}')
    assert store.claim_request("acc_2", "k", "h2", 3600) is None  # keys are per account
    store.release_request("acc_2", "k")
    assert store.claim_request("acc_2", "k", "h3", 3600) is None  # a released claim can be taken again
    assert store.claim_request("acc_1", "k", "h4", -1) is None  # an expired answer is replaced


def test_locations_are_kept_changed_in_one_transaction_and_looked_up(store: Store) -> None:
    from registry.models import Lookup, LookupMatch, LookupResult

    alice = store.create_account("alice", Role.CREATOR, "system")
    work = msgspec.structs.replace(make_work(alice.id, "c" * 64), locations=("https://a.example/1", "https://b.example/"))
    store.add_work(work, alice.id)
    other = store.add_work(make_work(alice.id, "d" * 64), alice.id)
    assert store.get_work(work.id).locations == work.locations
    found = store.active_works_by("url", ["https://b.example/", "https://nowhere.example/"])
    assert [w.id for w in found["https://b.example/"]] == [work.id] and "https://nowhere.example/" not in found
    assert [w.id for w in store.active_works_by("sha256", ["c" * 64, "d" * 64])["d" * 64]] == [other.id]

    def refuse(w: Work) -> Work:
        raise InvalidInput("no")

    with pytest.raises(InvalidInput):
        store.update_work(work.id, refuse, alice.id, terms=True)
    changed = store.update_work(work.id, lambda w: msgspec.structs.replace(
        w, locations=("https://c.example/",), opt_outs=OptOuts(ai_training=TdmChoice(use="allowed"))),
        alice.id, terms=False)
    assert changed.locations == ("https://c.example/",) and changed.opt_outs == OptOuts()  # terms not asked for
    assert store.get_work(work.id) == changed
    assert store.active_works_by("url", ["https://a.example/1"]) == {}
    entries = store.audit_entries()
    assert [e.action for e in entries[-2:]] == ["work.enrolled", "work.locations_changed"]
    store.withdraw_work(work.id, alice.id)
    assert store.active_works_by("url", ["https://c.example/"]) == {}
    assert store.get_works([work.id, other.id, "wrk_missing"]).keys() == {work.id, other.id}

    result = LookupResult(id="x", allowed=False, reason="reserved",
                          matches=[LookupMatch(work_id=other.id, confidence=1.0, use="notAllowed", by="sha256")])
    lookup = Lookup(id=new_id("lku"), account_id=alice.id, created_at=utcnow(), purpose="ai_training", items=1,
                    digest="e" * 64, not_allowed=1, results=[result])
    store.add_lookup(lookup, alice.id)
    assert store.get_lookup(lookup.id) == lookup
    assert store.audit_entries()[-1].action == "lookup.made"
    with pytest.raises(NotFound):
        store.get_lookup("lku_missing")


def test_training_runs_keep_first_terms_count_items_and_freeze(store: Store) -> None:
    from registry.models import IncludedWork, TrainingRun

    op = store.create_account("op", Role.OPERATOR, "system")
    alice = store.create_account("alice", Role.CREATOR, "system")
    run = store.add_training_run(TrainingRun(id=new_id("run"), account_id=op.id, name="r", model="m",
                                             purpose="ai_training", created_at=utcnow()), op.id)

    def included(work_id: str, use: str, items: int) -> IncludedWork:
        return IncludedWork(work_id=work_id, owner_id=alice.id, use=use, violation=use != "allowed", items=items,
                            license=LicenseTerms(), opt_outs=OptOuts(), first_at=utcnow())

    store.add_training_items(run.id, 10, "d1", [included("wrk_a", "notAllowed", 2), included("wrk_b", "allowed", 1)],
                             op.id)
    got = store.add_training_items(run.id, 5, "d2", [included("wrk_a", "allowed", 3)], op.id)
    assert (got.items, got.works, got.violations, got.by_use) == (15, 2, 1, {"notAllowed": 1, "allowed": 1})
    first = store.training_run_works(run.id, limit=1)
    assert [w.work_id for w in first] == ["wrk_a"] and first[0].items == 5 and first[0].use == "notAllowed"
    assert [w.work_id for w in store.training_run_works(run.id, after="wrk_a")] == ["wrk_b"]
    assert [(r.id, w.items) for r, w in store.work_training_runs("wrk_a")] == [(run.id, 5)]
    closed = store.close_training_run(run.id, op.id)
    assert closed.status == "closed" and closed.closed_at is not None
    with pytest.raises(Conflict):
        store.add_training_items(run.id, 1, "d3", [], op.id)
    with pytest.raises(NotFound):
        store.get_training_run("run_missing")
    assert [e.action for e in store.audit_entries()[-4:]] == [
        "training_run.created", "training_run.items_added", "training_run.items_added", "training_run.closed"]


def test_publication_iscc_sources_and_withdrawal_dates_are_kept(store: Store) -> None:
    from registry.terms import Publication

    alice = store.create_account("alice", Role.CREATOR, "system")
    work = msgspec.structs.replace(make_work(alice.id), iscc="ISCC:KACYPXW445FTYNJ3", publish=Publication(title=True),
                                   opt_out_sources={"ai_training": "xmp:plus:DataMining"})
    store.add_work(work, alice.id)
    got = store.get_work(work.id)
    assert got.iscc == work.iscc and got.publish == Publication(title=True)
    assert got.opt_out_sources == {"ai_training": "xmp:plus:DataMining"} and got.withdrawn_at is None
    changed = store.update_work(work.id, lambda w: msgspec.structs.replace(w, publish=Publication(owner=True)),
                                alice.id, terms=False)
    assert changed.publish == Publication(owner=True) == store.get_work(work.id).publish
    assert store.audit_entries()[-1].action == "work.publication_changed"
    withdrawn = store.withdraw_work(work.id, alice.id)
    assert withdrawn.withdrawn_at is not None and store.get_work(work.id).withdrawn_at == withdrawn.withdrawn_at
    assert store.restore_work(work.id, alice.id).withdrawn_at is None and store.get_work(work.id).withdrawn_at is None
    older = make_work(alice.id, sha="b" * 64)
    store.add_work(older, alice.id)
    store.set_iscc(older.id, "ISCC:KACYPXW445FTYNJ3")
    store.set_iscc(older.id, "ISCC:SOMETHINGELSE")  # only a work without a code gets one
    assert store.get_work(older.id).iscc == "ISCC:KACYPXW445FTYNJ3"
    updated = store.set_account_defaults(alice.id, None, None, alice.id, Publication(title=True, owner=True))
    assert updated.default_publish == Publication(title=True, owner=True)

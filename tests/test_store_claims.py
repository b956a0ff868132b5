"""The store's part for claims (`registry/sql_claims.py`), on SQLite and PostgreSQL alike: conflicts, released
matches, notifications with their webhook outbox, delivery claims shared by replicas, exclusions, domains,
and keyset paging."""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from registry.claims import ConflictStatus, Domain, Exclusion, Keep, Notice, Webhook
from registry.errors import Conflict, NotFound
from registry.ids import new_id, utcnow
from registry.models import Role, WorkKind, WorkStatus
from registry.store import Store
from tests.test_store_contract import make_work


def test_notifications_queue_one_delivery_per_subscribed_webhook(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "test")
    every = store.add_webhook(Webhook(id=new_id("whk"), account_id=alice.id, url="https://a.example/h", events=("*",),
                                      secret="s" * 20, created_at=utcnow()), alice.id)
    store.add_webhook(Webhook(id=new_id("whk"), account_id=alice.id, url="https://b.example/h",
                              events=("dispute.opened",), secret="s" * 20, created_at=utcnow()), alice.id)
    store.notify([Notice(account_id=alice.id, event="work.matched", subject="wrk_1", details={"check_id": "c"}),
                  Notice(account_id=alice.id, event="dispute.opened", subject="dsp_1")])
    assert {n.event for n in store.list_notifications(alice.id)} == {"dispute.opened", "work.matched"}
    assert store.unread_count(alice.id) == 2
    now = utcnow()
    claimed = store.claim_deliveries(now, now + timedelta(minutes=1))
    assert sorted((h.url, d.event) for d, h in claimed) == [("https://a.example/h", "dispute.opened"),
                                                            ("https://a.example/h", "work.matched"),
                                                            ("https://b.example/h", "dispute.opened")]
    assert store.claim_deliveries(now, now + timedelta(minutes=1)) == []  # leased
    first = claimed[0][0]
    store.finish_delivery(first.id, delivered=False, status=500, error="the receiver answered 500",
                          retry_at=now + timedelta(seconds=30))
    assert store.claim_deliveries(now + timedelta(seconds=31), now + timedelta(minutes=2))[0][0].id == first.id
    store.remove_webhook(every.id, alice.id)
    assert [h.url for h in store.list_webhooks(alice.id)] == ["https://b.example/h"]
    assert {d.status for d in store.list_deliveries(every.id)} <= {"cancelled", "pending"}
    assert store.mark_read(alice.id, None) == 2 and store.unread_count(alice.id) == 0
    with pytest.raises(NotFound):
        store.list_notifications(alice.id, before="ntf_missing")


def test_replicas_never_claim_one_delivery_twice(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]
    alice = stores[0].create_account("alice", Role.CREATOR, "test")
    stores[0].add_webhook(Webhook(id=new_id("whk"), account_id=alice.id, url="https://a.example/h", events=("*",),
                                  secret="s" * 20, created_at=utcnow()), alice.id)
    stores[0].notify([Notice(account_id=alice.id, event="work.matched", subject=f"wrk_{i}") for i in range(40)])
    got: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)
    now = utcnow()

    def claim(i: int) -> None:
        barrier.wait()
        while batch := stores[i].claim_deliveries(now, now + timedelta(minutes=5), limit=3):
            got[i] += [d.id for d, _ in batch]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got[0]) + len(got[1]) == 40 and not set(got[0]) & set(got[1])


def test_conflicts_resolve_once_and_audit_the_status_changes(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "test")
    bob = store.create_account("bob", Role.CREATOR, "test")
    first = store.add_work(make_work(alice.id), alice.id)
    claim = store.add_work(make_work(bob.id), bob.id)
    [conflict] = store.list_conflicts(account_id=bob.id)
    assert conflict.work_id == claim.id and conflict.earlier_work_id == first.id and conflict.by == "sha256"
    resolved = store.resolve_conflict(conflict.id, Keep.NEWER, "bob holds the rights", "admin", lambda c: [])
    assert resolved.status == ConflictStatus.RESOLVED
    assert store.get_work(claim.id).status == WorkStatus.ACTIVE
    assert store.get_work(first.id).status == WorkStatus.REJECTED
    with pytest.raises(Conflict):
        store.resolve_conflict(conflict.id, Keep.EARLIER, "", "admin", lambda c: [])
    changes = [(a, s) for _, a, s in store.work_changes(0)]
    assert ("work.activated", claim.id) in changes and ("work.rejected", first.id) in changes
    assert store.verify_audit().ok


def test_exclusions_and_domains(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "test")
    exclusion = store.add_exclusion(Exclusion(id=new_id("exc"), kind=WorkKind.IMAGE, sha256="f" * 64,
                                              media_type="image/jpeg", work_id=None, created_by=alice.id, note="pd",
                                              created_at=utcnow()), alice.id)
    with pytest.raises(Conflict):
        store.add_exclusion(Exclusion(id=new_id("exc"), kind=WorkKind.IMAGE, sha256="f" * 64, media_type="image/jpeg",
                                      work_id=None, created_by=alice.id, note="", created_at=utcnow()), alice.id)
    assert [e.id for e in store.active_exclusions(WorkKind.IMAGE)] == [exclusion.id]
    assert list(store.exclusions_by_sha256(["f" * 64, "0" * 64])) == ["f" * 64]
    assert store.remove_exclusion(exclusion.id, alice.id).active is False
    assert store.active_exclusions() == [] and store.get_exclusions([exclusion.id])[exclusion.id].active is False
    domain = store.add_domain(Domain(account_id=alice.id, host="alice.example", token="t1", created_at=utcnow()),
                              alice.id)
    again = store.add_domain(Domain(account_id=alice.id, host="alice.example", token="t2", created_at=utcnow()),
                             alice.id)
    assert again.token == domain.token == "t1"  # a claim keeps its token
    assert store.verified_hosts([alice.id]) == {}
    assert store.record_domain_check(alice.id, "alice.example", "404", alice.id).verified_at is None
    assert store.record_domain_check(alice.id, "alice.example", None, alice.id).verified_at is not None
    assert store.verified_hosts([alice.id, "acc_other"]) == {alice.id: {"alice.example"}}


def test_keyset_pages_visit_each_work_once(store: Store) -> None:
    alice = store.create_account("alice", Role.CREATOR, "test")
    ids = {store.add_work(make_work(alice.id, sha=f"{i:064x}"), alice.id).id for i in range(23)}
    seen: list[str] = []
    before = None
    while page := store.list_works(owner_id=alice.id, limit=5, newest_first=True, before=before):
        seen += [w.id for w in page]
        before = (page[-1].created_at, page[-1].id)
    assert len(seen) == 23 and set(seen) == ids

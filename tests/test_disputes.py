"""Match disputes and appeals: through the API with the test clock, as a state machine over random sequences
of actions and clock jumps (SQLite and PostgreSQL), and expiry run by two replicas at once."""

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.image.embed import Embedder
from registry.claims import FINAL, RELEASING, DisputeReason, DisputeStatus
from registry.errors import Conflict, NotFound
from registry.evidence import TextEvidence
from registry.ids import new_id, utcnow
from registry.models import Account, Check, MatchRecord, Role, Verdict, Work, WorkKind, WorkStatus
from registry.store import Store
from registry.terms import LicenseTerms, OptOuts
from service.clock import SettableClock
from service.disputes import Disputes
from tests.conftest import FIXTURES, Env, open_env


def _image() -> bytes:
    return (FIXTURES / "images" / "chelsea.jpg").read_bytes()


@pytest.fixture
def clocked(env: Env) -> tuple[Env, SettableClock]:
    clock = SettableClock()
    env.registry.set_clock(clock)
    return env, clock


def _matched_check(env: Env, who: str = "op") -> dict:  # type: ignore[type-arg]
    r = env.client.post("/v1/checks", files={"file": ("out.jpg", _image())}, headers=env.h(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_an_unanswered_dispute_expires_after_30_days_and_the_verdict_changes(
        clocked: tuple[Env, SettableClock]) -> None:
    env, clock = clocked
    work = env.enroll("alice", _image(), "cat.jpg", {"opt_outs": {"release": "notAllowed"}}).json()
    check = _matched_check(env)
    assert check["verdict"] == "blocked"
    opened = env.client.post(f"/v1/checks/{check['id']}/disputes", headers=env.h("op"),
                             json={"work_id": work["id"], "reason": "licensed", "note": "licence 2024-17"})
    assert opened.status_code == 201, opened.text
    dispute = opened.json()
    assert dispute["status"] == "open" and dispute["deadline"]
    inbox = env.client.get("/v1/notifications", headers=env.h("alice")).json()["items"]
    assert "dispute.opened" in [n["event"] for n in inbox]

    clock.advance(days=29)
    assert env.registry.disputes.expire_due() == 0
    clock.advance(days=1, seconds=1)
    assert env.registry.disputes.expire_due() == 1
    assert env.registry.disputes.expire_due() == 0  # once

    after = env.client.get(f"/v1/checks/{check['id']}", headers=env.h("op")).json()
    assert after["verdict"] == "clear"
    assert after["matches"][0]["released_by"] == dispute["id"]  # the match is kept, marked
    assert after["revisions"] == [{**after["revisions"][0], "verdict_before": "blocked", "verdict_after": "clear",
                                   "work_id": work["id"], "dispute_id": dispute["id"]}]
    got = env.client.get(f"/v1/disputes/{dispute['id']}", headers=env.h("alice")).json()
    assert got["status"] == "expired" and [e["action"] for e in got["history"]] == ["opened", "expired"]
    # the owner can no longer answer
    assert env.client.post(f"/v1/disputes/{dispute['id']}/uphold", json={}, headers=env.h("alice")).status_code == 409
    # the same output no longer matches that work for this operator; for another it still does
    assert _matched_check(env)["matches"] == []
    assert [m["work_id"] for m in _matched_check(env, "op2")["matches"]] == [work["id"]]
    audit = env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]
    assert {"dispute.opened", "dispute.expired", "check.revised"} <= {e["action"] for e in audit}
    assert env.client.get("/v1/audit/verify", headers=env.h("audit")).json()["ok"]


def test_uphold_appeal_and_an_admin_decision(clocked: tuple[Env, SettableClock]) -> None:
    env, clock = clocked
    work = env.enroll("alice", _image(), "cat.jpg", {"opt_outs": {"release": "license"}}).json()
    check = _matched_check(env)
    d = env.client.post(f"/v1/checks/{check['id']}/disputes", headers=env.h("op"),
                        json={"work_id": work["id"], "reason": "misidentified"}).json()
    again = env.client.post(f"/v1/checks/{check['id']}/disputes", headers=env.h("op"),
                            json={"work_id": work["id"], "reason": "other"})
    assert again.status_code == 409
    # only the owner answers, only the operator appeals, only admins decide
    assert env.client.post(f"/v1/disputes/{d['id']}/uphold", json={}, headers=env.h("bob")).status_code == 404
    assert env.client.post(f"/v1/disputes/{d['id']}/uphold", json={}, headers=env.h("op")).status_code == 403
    assert env.client.get(f"/v1/disputes/{d['id']}", headers=env.h("op2")).status_code == 404
    upheld = env.client.post(f"/v1/disputes/{d['id']}/uphold", json={"note": "it is my cat"}, headers=env.h("alice"))
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    assert env.client.post(f"/v1/disputes/{d['id']}/uphold", json={}, headers=env.h("alice")).status_code == 409
    clock.advance(days=6)
    appealed = env.client.post(f"/v1/disputes/{d['id']}/appeal", json={"note": "see the licence"},
                               headers=env.h("op"))
    assert appealed.status_code == 200 and appealed.json()["status"] == "appealed"
    assert env.client.post(f"/v1/disputes/{d['id']}/appeal", json={}, headers=env.h("op")).status_code == 409
    clock.advance(days=60)
    assert env.registry.disputes.expire_due() == 0  # an appeal waits for the admin
    assert env.client.post(f"/v1/disputes/{d['id']}/decide", json={"outcome": "release"},
                           headers=env.h("alice")).status_code == 403
    decided = env.client.post(f"/v1/disputes/{d['id']}/decide", json={"outcome": "release", "note": "licensed"},
                              headers=env.h("root"))
    assert decided.status_code == 200 and decided.json()["status"] == "overturned"
    assert env.client.get(f"/v1/checks/{check['id']}", headers=env.h("op")).json()["verdict"] == "clear"
    events = [n["event"] for n in env.client.get("/v1/notifications", headers=env.h("op")).json()["items"]]
    assert {"dispute.answered", "appeal.decided"} <= set(events)
    listed = env.client.get("/v1/disputes?status=overturned", headers=env.h("audit")).json()["items"]
    assert [x["id"] for x in listed] == [d["id"]]


def test_an_appeal_after_seven_days_is_refused_and_the_claim_confirmed(clocked: tuple[Env, SettableClock]) -> None:
    env, clock = clocked
    work = env.enroll("alice", _image(), "cat.jpg", {"opt_outs": {"release": "license"}}).json()
    check = _matched_check(env)
    d = env.client.post(f"/v1/checks/{check['id']}/disputes", headers=env.h("op"),
                        json={"work_id": work["id"], "reason": "exception"}).json()
    env.client.post(f"/v1/disputes/{d['id']}/uphold", json={}, headers=env.h("alice"))
    clock.advance(days=7, seconds=1)
    late = env.client.post(f"/v1/disputes/{d['id']}/appeal", json={}, headers=env.h("op"))
    assert late.status_code == 409 and "ended" in late.json()["error"]["message"]
    assert env.registry.disputes.expire_due() == 1
    assert env.client.get(f"/v1/disputes/{d['id']}", headers=env.h("op")).json()["status"] == "confirmed"
    assert env.client.get(f"/v1/checks/{check['id']}", headers=env.h("op")).json()["verdict"] == "license_required"


def test_bad_dispute_requests_get_clear_errors_and_change_nothing(clocked: tuple[Env, SettableClock]) -> None:
    env, _ = clocked
    work = env.enroll("alice", _image(), "cat.jpg").json()
    check = _matched_check(env)
    url = f"/v1/checks/{check['id']}/disputes"
    for body, status in [({"work_id": work["id"], "reason": "because"}, 400), ({"reason": "other"}, 400),
                         ({"work_id": "wrk_nope", "reason": "other"}, 404),
                         ({"work_id": work["id"], "reason": "other", "extra": 1}, 400),
                         ({"work_id": work["id"], "reason": "other", "note": "x" * 3000}, 400)]:
        r = env.client.post(url, json=body, headers=env.h("op"))
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["message"]
    assert env.client.post(url, json={"work_id": work["id"], "reason": "other"},
                           headers=env.h("op2")).status_code == 404  # not their check
    assert env.client.get("/v1/disputes", headers=env.h("audit")).json()["items"] == []


# -- the state machine, at the use-case level over both stores -----------------------------------------------
def _setup(store: Store) -> tuple[Account, Account, Account]:
    alice = store.create_account("alice", Role.CREATOR, "test")
    op = store.create_account("op", Role.OPERATOR, "test")
    admin = store.create_account("root", Role.ADMIN, "test")
    return alice, op, admin


def _check(store: Store, alice: Account, op: Account) -> Check:
    """A blocked check by `op` matching a new work of `alice`'s."""
    work = store.add_work(Work(id=new_id("wrk"), owner_id=alice.id, kind=WorkKind.TEXT, title="t",
                               sha256=new_id("s").ljust(64, "0")[:64], media_type="text/plain", size=1,
                               created_at=utcnow(), status=WorkStatus.ACTIVE, license=LicenseTerms(),
                               opt_outs=OptOuts(release="notAllowed")), alice.id)
    evidence = TextEvidence(copied_words=50, query_words=50, work_words=100, query_share=1.0, containment=0.5,
                            jaccard=0.5)
    record = MatchRecord(work_id=work.id, score=0.9, evidence=evidence, title="t", owner_id=alice.id,
                         license=work.license, opt_outs=work.opt_outs, requirement="blocked")
    return store.add_check(Check(id=new_id("chk"), account_id=op.id, created_at=utcnow(), purpose="release",
                                 kind=WorkKind.TEXT, sha256="b" * 64, verdict=Verdict.BLOCKED, matches=[record],
                                 matcher_version="test"), op.id)


STEPS = st.lists(st.tuples(st.sampled_from(["uphold", "release", "appeal", "appeal_upheld", "appeal_released",
                                            "expire", "wait"]),
                           st.sampled_from([0.5, 3, 6.9, 7.1, 20, 31])), min_size=1, max_size=10)


def test_every_sequence_of_actions_and_clock_jumps_keeps_the_dispute_consistent(
        store_factory: Callable[[], Store]) -> None:
    store = store_factory()
    alice, op, admin = _setup(store)
    clock = SettableClock()
    disputes = Disputes(store, clock, lambda: [admin.id])
    who = {"uphold": alice, "release": alice, "appeal": op, "appeal_upheld": admin, "appeal_released": admin}

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(STEPS)
    def run(steps: list[tuple[str, float]]) -> None:
        check = _check(store, alice, op)
        d = disputes.open(op, check.id, check.matches[0].work_id, DisputeReason.OTHER)
        applied = 1
        for action, days in steps:
            clock.advance(days=days)
            before = store.get_dispute(d.id)
            if action == "wait":
                continue
            try:
                if action == "expire":
                    disputes.expire_due()
                else:
                    disputes.act(who[action], d.id, action)
            except Conflict:
                assert store.get_dispute(d.id) == before  # a refusal changes nothing
            after = store.get_dispute(d.id)
            if after != before:
                applied += 1
                assert before.status not in FINAL  # nothing leaves a final state; nothing is answered twice
            assert len(after.history) == applied
        clock.advance(days=40)  # every deadline ends in a state
        disputes.expire_due()
        final = store.get_dispute(d.id)
        assert final.status in FINAL or final.status == DisputeStatus.APPEALED
        assert [e.action for e in final.history].count("appeal") <= 1
        stored = store.get_check(check.id)
        released = final.status in RELEASING
        assert (stored.matches[0].released_by == d.id) == released
        assert stored.verdict == (Verdict.CLEAR if released else Verdict.BLOCKED)
        assert len(stored.revisions) == int(released)

    run()
    assert store.verify_audit().ok


def test_two_replicas_expire_each_dispute_once(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]
    alice, op, admin = _setup(stores[0])
    clock = SettableClock()
    replicas = [Disputes(s, clock, lambda: [admin.id]) for s in stores]
    opened = []
    for _ in range(12):
        check = _check(stores[0], alice, op)
        opened.append(replicas[0].open(op, check.id, check.matches[0].work_id, DisputeReason.LICENSED))
    clock.advance(days=31)
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def expire(replica: Disputes) -> None:
        barrier.wait()
        counts.append(replica.expire_due())

    threads = [threading.Thread(target=expire, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == len(opened)
    for d in opened:
        got = stores[1].get_dispute(d.id)
        assert got.status == DisputeStatus.EXPIRED and [e.action for e in got.history] == ["opened", "expired"]
        assert len(stores[1].get_check(d.check_id).revisions) == 1
    revised = [e for e in stores[0].audit_entries() if e.action == "check.revised"]
    assert len(revised) == len(opened)
    assert stores[0].verify_audit().ok
    with pytest.raises(NotFound):
        replicas[1].get(op, "dsp_missing")


def test_the_registry_clock_is_the_one_deadlines_use(tmp_path: Path, embedder: Embedder) -> None:
    with open_env(tmp_path, embedder, dispute_interval=0) as env:
        clock = SettableClock(timedelta(days=400))
        env.registry.set_clock(clock)
        work = env.enroll("alice", _image(), "cat.jpg").json()
        check = _matched_check(env)
        d = env.client.post(f"/v1/checks/{check['id']}/disputes", headers=env.h("op"),
                            json={"work_id": work["id"], "reason": "other"}).json()
        assert d["opened_at"] > (utcnow() + timedelta(days=399)).isoformat()[:10]


def test_a_released_match_holds_for_the_outputs_fingerprint_not_only_its_bytes(
        clocked: tuple[Env, SettableClock]) -> None:
    import io

    from PIL import Image

    env, _ = clocked
    work = env.enroll("alice", _image(), "cat.jpg").json()
    text = (FIXTURES / "texts" / "emma-ch001.txt").read_text()
    excerpt = " ".join(text.split()[100:260])
    text_work = env.enroll("alice", text.encode(), "emma.txt").json()
    image_check = _matched_check(env)
    text_check = env.client.post("/v1/checks", json={"text": excerpt}, headers=env.h("op")).json()
    assert [m["work_id"] for m in text_check["matches"]] == [text_work["id"]]
    for check, work_id in ((image_check, work["id"]), (text_check, text_work["id"])):
        d = env.client.post(f"/v1/checks/{check['id']}/disputes", headers=env.h("op"),
                            json={"work_id": work_id, "reason": "licensed"}).json()
        env.client.post(f"/v1/disputes/{d['id']}/release", json={}, headers=env.h("alice"))
    out = io.BytesIO()
    Image.open(io.BytesIO(_image())).convert("RGB").save(out, "JPEG", quality=60)  # the same output, re-encoded
    again = env.client.post("/v1/checks", files={"file": ("o.jpg", out.getvalue())}, headers=env.h("op")).json()
    assert again["matches"] == []
    retyped = env.client.post("/v1/checks", json={"text": excerpt.upper().replace(" ", "  ")},
                              headers=env.h("op")).json()
    assert retyped["matches"] == []
    longer = env.client.post("/v1/checks", json={"text": " ".join(text.split()[100:320])},
                             headers=env.h("op")).json()
    assert [m["work_id"] for m in longer["matches"]] == [text_work["id"]]  # another output: matched
    other_operator = env.client.post("/v1/checks", files={"file": ("o.jpg", out.getvalue())},
                                     headers=env.h("op2")).json()
    assert [m["work_id"] for m in other_operator["matches"]] == [work["id"]]


def test_same_output_is_the_bytes_the_words_or_a_pdq_within_8_bits() -> None:
    from service.disputes import same_output

    pdq = "00" * 32
    eight = "ff" + "00" * 31  # 8 bits apart
    nine = "ff80" + "00" * 30  # 9 bits apart
    assert same_output("a", "", "a", "")
    assert same_output("a", f"pdq:{pdq}", "b", f"pdq:{eight}")
    assert not same_output("a", f"pdq:{pdq}", "b", f"pdq:{nine}")
    assert same_output("a", "words:x", "b", "words:x") and not same_output("a", "words:x", "b", "words:y")
    assert not same_output("a", "words:x", "b", f"pdq:{pdq}") and not same_output("a", "", "b", "")

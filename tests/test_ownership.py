"""Ownership conflicts at enrollment, restoring withdrawn works, and who may see and resolve conflicts."""

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from registry.ids import new_id, utcnow
from registry.models import Role, Work, WorkKind, WorkStatus
from registry.store import Store
from registry.terms import LicenseTerms, OptOuts
from tests.conftest import FIXTURES, Env


def _image(name: str = "chelsea.jpg") -> bytes:
    return (FIXTURES / "images" / name).read_bytes()


def _recompressed(data: bytes, quality: int = 40, scale: float = 0.7) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((int(img.width * scale), int(img.height * scale)))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _events(env: Env, who: str) -> list[dict]:  # type: ignore[type-arg]
    r = env.client.get("/v1/notifications", headers=env.h(who))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_the_same_bytes_by_another_creator_are_contested_unmatched_and_the_first_owner_told(env: Env) -> None:
    first = env.enroll("alice", _image(), "cat.jpg", {"opt_outs": {"release": "attribution"}})
    assert first.status_code == 201 and first.json()["status"] == "active"
    claim = env.enroll("bob", _image(), "mine.jpg", {"opt_outs": {"release": "notAllowed"}})
    assert claim.status_code == 201, claim.text
    body = claim.json()
    assert body["status"] == "contested"
    assert "enrolled earlier by another account" in body["notice"]
    assert first.json()["id"] not in claim.text and "alice" not in claim.text  # the newcomer learns no names

    check = env.client.post("/v1/checks", files={"file": ("out.jpg", _image())}, headers=env.h("op")).json()
    assert [m["work_id"] for m in check["matches"]] == [first.json()["id"]]
    assert check["verdict"] == "attribution_required"  # bob's notAllowed does not apply
    # bob, the claimant, does not see the operator's check
    assert env.client.get(f"/v1/checks/{check['id']}", headers=env.h("bob")).status_code == 404

    alice_events = [e["event"] for e in _events(env, "alice")]
    assert "work.contested" in alice_events and "work.matched" in alice_events
    bob_events = _events(env, "bob")
    assert [e["event"] for e in bob_events] == ["work.contested"]
    assert "earlier_work_id" not in bob_events[0]["details"]
    assert "conflict.opened" in [e["event"] for e in _events(env, "root")]

    conflicts = env.client.get("/v1/conflicts", headers=env.h("bob")).json()["items"]
    assert len(conflicts) == 1 and conflicts[0]["earlier_work_id"] == "" and conflicts[0]["earlier_owner_id"] == ""
    conflict_id = conflicts[0]["id"]
    assert env.client.post(f"/v1/conflicts/{conflict_id}/resolve", json={"keep": "newer"},
                           headers=env.h("bob")).status_code == 403
    resolved = env.client.post(f"/v1/conflicts/{conflict_id}/resolve", json={"keep": "earlier", "note": "alice "
                               "published it in 2019"}, headers=env.h("root"))
    assert resolved.status_code == 200 and resolved.json()["keep"] == "earlier"
    again = env.client.post(f"/v1/conflicts/{conflict_id}/resolve", json={"keep": "newer"}, headers=env.h("root"))
    assert again.status_code == 409
    bob_work = env.client.get(f"/v1/works/{body['id']}", headers=env.h("bob")).json()
    assert bob_work["status"] == "rejected"
    assert env.client.post(f"/v1/works/{body['id']}/restore", headers=env.h("bob")).status_code == 409
    assert env.client.patch(f"/v1/works/{body['id']}", json={"opt_outs": {"release": "notAllowed"}},
                            headers=env.h("bob")).status_code == 409
    assert "conflict.resolved" in [e["event"] for e in _events(env, "bob")]
    actions = [e["action"] for e in env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]]
    assert {"conflict.opened", "conflict.resolved", "work.rejected"} <= set(actions)


def test_a_conflict_resolved_for_the_newcomer_moves_the_match(env: Env) -> None:
    first = env.enroll("alice", _image(), "cat.jpg").json()
    claim = env.enroll("bob", _image(), "cat.jpg").json()
    conflict_id = env.client.get("/v1/conflicts", headers=env.h("root")).json()["items"][0]["id"]
    env.client.post(f"/v1/conflicts/{conflict_id}/resolve", json={"keep": "newer"}, headers=env.h("root"))
    check = env.client.post("/v1/checks", files={"file": ("out.jpg", _image())}, headers=env.h("op")).json()
    assert [m["work_id"] for m in check["matches"]] == [claim["id"]]
    assert env.client.get(f"/v1/works/{first['id']}", headers=env.h("alice")).json()["status"] == "rejected"


def test_an_edited_copy_of_another_owners_work_is_contested_too(env: Env) -> None:
    env.enroll("alice", _image("coffee.jpg"), "coffee.jpg")
    claim = env.enroll("bob", _recompressed(_image("coffee.jpg")), "coffee-small.jpg")
    assert claim.json()["status"] == "contested"
    conflict = env.client.get("/v1/conflicts", headers=env.h("audit")).json()["items"][0]
    assert conflict["by"] == "match" and conflict["score"] > 0


def test_an_owner_is_told_of_their_own_near_copy_and_can_refuse_it(env: Env) -> None:
    original = env.enroll("alice", _image("coffee.jpg"), "coffee.jpg").json()
    copy = _recompressed(_image("coffee.jpg"))
    refused = env.client.post("/v1/works?if_unique=true", files={"file": ("c.jpg", copy)}, headers=env.h("alice"))
    assert refused.status_code == 409 and original["id"] in refused.text
    assert len(env.client.get("/v1/works", headers=env.h("alice")).json()["items"]) == 1
    kept = env.enroll("alice", copy, "c.jpg")
    assert kept.status_code == 201 and kept.json()["status"] == "active"
    assert [s["work_id"] for s in kept.json()["similar"]] == [original["id"]]


def test_withdrawn_works_are_restored_and_frozen_meanwhile(env: Env) -> None:
    work = env.enroll("alice", _image(), "cat.jpg").json()
    assert env.client.delete(f"/v1/works/{work['id']}", headers=env.h("alice")).status_code == 200
    patched = env.client.patch(f"/v1/works/{work['id']}", json={"opt_outs": {"release": "notAllowed"}},
                               headers=env.h("alice"))
    assert patched.status_code == 409 and "restore" in patched.json()["error"]["message"]
    assert env.enroll("alice", _image(), "cat.jpg").status_code == 409  # still hers, withdrawn
    assert env.client.post(f"/v1/works/{work['id']}/restore", headers=env.h("bob")).status_code == 404
    restored = env.client.post(f"/v1/works/{work['id']}/restore", headers=env.h("alice"))
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    assert env.client.post(f"/v1/works/{work['id']}/restore", headers=env.h("alice")).status_code == 409
    check = env.client.post("/v1/checks", files={"file": ("out.jpg", _image())}, headers=env.h("op")).json()
    assert [m["work_id"] for m in check["matches"]] == [work["id"]]
    log = env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]
    assert "work.restored" in [e["action"] for e in log]


def test_a_work_restored_after_another_owner_enrolled_its_content_is_contested(env: Env) -> None:
    work = env.enroll("alice", _image(), "cat.jpg").json()
    env.client.delete(f"/v1/works/{work['id']}", headers=env.h("alice"))
    assert env.enroll("bob", _image(), "cat.jpg").json()["status"] == "active"
    restored = env.client.post(f"/v1/works/{work['id']}/restore", headers=env.h("alice")).json()
    assert restored["status"] == "contested"


def _work(owner: str, sha: str) -> Work:
    return Work(id=new_id("wrk"), owner_id=owner, kind=WorkKind.IMAGE, title="t", sha256=sha, media_type="image/jpeg",
                size=1, created_at=utcnow(), status=WorkStatus.ACTIVE, license=LicenseTerms(), opt_outs=OptOuts())


def test_concurrent_enrollments_of_one_content_leave_one_active_work(store_factory: Callable[[], Store],
                                                                        tmp_path: Path) -> None:
    stores = [store_factory() for _ in range(2)]
    owners = [stores[0].create_account(f"c{i}", Role.CREATOR, "test") for i in range(6)]
    barrier = threading.Barrier(len(owners))
    results: list[Work] = []

    def enroll(i: int) -> None:
        barrier.wait()
        results.append(stores[i % 2].add_work(_work(owners[i].id, "e" * 64), owners[i].id))

    threads = [threading.Thread(target=enroll, args=(i,)) for i in range(len(owners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(w.status.value for w in results)
    assert statuses == ["active"] + ["contested"] * (len(owners) - 1)
    assert len(stores[0].active_works_by("sha256", ["e" * 64])["e" * 64]) == 1
    assert len(stores[0].list_conflicts()) == len(owners) - 1
    assert stores[0].verify_audit().ok


@pytest.mark.parametrize("who", ["op", "audit"])
def test_conflicts_are_not_for_operators_and_all_for_auditors(env: Env, who: str) -> None:
    env.enroll("alice", _image(), "cat.jpg")
    env.enroll("bob", _image(), "cat.jpg")
    r = env.client.get("/v1/conflicts", headers=env.h(who))
    if who == "op":
        assert r.status_code == 403
    else:
        assert r.status_code == 200 and r.json()["items"][0]["earlier_owner_id"]


def test_admins_review_open_conflicts_and_verified_earlier_claims_first() -> None:
    from registry.claims import ConflictStatus, OwnershipConflict
    from service.ownership import for_review

    def conflict(name: str, status: ConflictStatus, verified: bool) -> OwnershipConflict:
        return OwnershipConflict(id=name, work_id="w", work_owner_id="a", earlier_work_id="e", earlier_owner_id="b",
                                 by="sha256", score=1.0, status=status, created_at=utcnow(), earlier_verified=verified)

    page = [conflict("resolved-new", ConflictStatus.RESOLVED, True), conflict("open", ConflictStatus.OPEN, False),
            conflict("open-verified", ConflictStatus.OPEN, True), conflict("open-old", ConflictStatus.OPEN, False)]
    assert [c.id for c in for_review(page)] == ["open-verified", "open", "open-old", "resolved-new"]

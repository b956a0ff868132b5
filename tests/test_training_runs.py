"""Training runs: items in batches, the works they included with their terms, violations, freezing."""

import hashlib
import json

from tests.conftest import FIXTURES, Env
from tests.test_api import CHELSEA, EMMA

COFFEE = (FIXTURES / "images" / "coffee.jpg").read_bytes()


def test_a_run_records_its_works_terms_and_violations(env: Env) -> None:
    reserved = env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": {"ai_training": {"use": "notAllowed"}}}).json()
    free = env.enroll("bob", COFFEE, "coffee.jpg", {"opt_outs": {"ai_training": {"use": "allowed"}}}).json()
    text = env.enroll("bob", EMMA.encode(), "emma.txt", {"opt_outs": {"ai_training": {"use": "constrained",
                      "constraint_info": "https://example.org/terms"}}}).json()
    op = env.h("op")
    r = env.client.post("/v1/training-runs", json={"name": "run 1", "model": "m-7b"}, headers=op)
    assert r.status_code == 201, r.text
    run = r.json()
    assert (run["status"], run["purpose"], run["items"], run["works"]) == ("open", "ai_training", 0, 0)
    batch = [{"id": "1", "sha256": hashlib.sha256(CHELSEA).hexdigest()},
             {"id": "2", "sha256": hashlib.sha256(COFFEE).hexdigest()},
             {"id": "3", "sha256": "0" * 64}]
    r = env.client.post(f"/v1/training-runs/{run['id']}/items", json={"items": batch}, headers=op)
    assert r.status_code == 200, r.text
    assert (r.json()["items"], r.json()["works"], r.json()["violations"]) == (3, 2, 1)
    ndjson = "\n".join(json.dumps(item) for item in [{"id": "4", "text": " ".join(EMMA.split()[50:250])},
                                                   {"id": "5", "sha256": hashlib.sha256(CHELSEA).hexdigest()}])
    r = env.client.post(f"/v1/training-runs/{run['id']}/items", content=ndjson,
                        headers={**op, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    # the terms at the time of inclusion stay, whatever the creator changes later
    env.client.patch(f"/v1/works/{reserved['id']}", json={"opt_outs": {"ai_training": {"use": "allowed"}}},
                     headers=env.h("alice"))
    got = env.client.get(f"/v1/training-runs/{run['id']}", headers=env.h("audit")).json()
    assert (got["items"], got["works"], got["violations"]) == (5, 3, 2)
    assert got["by_use"] == {"notAllowed": 1, "allowed": 1, "constrained": 1}
    page = env.client.get(f"/v1/training-runs/{run['id']}/works?limit=2", headers=op).json()
    rest = env.client.get(f"/v1/training-runs/{run['id']}/works?limit=2&cursor={page['next']}", headers=op).json()
    assert rest["next"] is None
    works = {w["work_id"]: w for w in page["works"] + rest["works"]}
    assert works.keys() == {reserved["id"], free["id"], text["id"]}
    assert works[reserved["id"]]["violation"] and works[reserved["id"]]["items"] == 2
    assert works[reserved["id"]]["opt_outs"]["ai_training"]["use"] == "notAllowed"
    assert not works[free["id"]]["violation"] and works[text["id"]]["use"] == "constrained"
    # closing freezes it; the creator sees the runs that used each of their works, and nothing else
    closed = env.client.post(f"/v1/training-runs/{run['id']}/close", headers=op).json()
    assert closed["status"] == "closed" and closed["closed_at"]
    r = env.client.post(f"/v1/training-runs/{run['id']}/items", json={"items": batch}, headers=op)
    assert r.status_code == 409 and "closed" in r.json()["error"]["message"]
    mine = env.client.get(f"/v1/works/{reserved['id']}/training-runs", headers=env.h("alice")).json()["items"]
    assert [(m["run_id"], m["model"], m["included"]["violation"]) for m in mine] == [(run["id"], "m-7b", True)]
    assert env.client.get(f"/v1/works/{free['id']}/training-runs", headers=env.h("alice")).status_code == 404
    assert env.client.get(f"/v1/training-runs/{run['id']}", headers=env.h("alice")).status_code == 403
    assert [r["id"] for r in env.client.get("/v1/training-runs", headers=op).json()["items"]] == [run["id"]]
    assert env.client.get("/v1/training-runs", headers=env.h("op2")).json()["items"] == []
    assert [r["id"] for r in env.client.get("/v1/training-runs", headers=env.h("audit")).json()["items"]] == [run["id"]]
    assert env.client.get(f"/v1/training-runs/{run['id']}", headers=env.h("op2")).status_code == 404
    r = env.client.post(f"/v1/training-runs/{run['id']}/close", headers=env.h("op2"))
    assert r.status_code == 404
    actions = [e.action for e in env.registry.store.audit_entries() if e.subject == run["id"]]
    assert actions == ["training_run.created", "training_run.items_added", "training_run.items_added",
                       "training_run.closed"]


def test_bad_runs_and_batches_are_refused(env: Env) -> None:
    op = env.h("op")
    assert env.client.post("/v1/training-runs", json={"name": "x", "model": "m", "purpose": "release"},
                           headers=op).status_code == 400
    assert env.client.post("/v1/training-runs", json={"name": "", "model": "m"}, headers=op).status_code == 400
    assert env.client.post("/v1/training-runs", json={"name": "x", "model": "m", "gpu": 8},
                           headers=op).status_code == 400
    assert env.client.post("/v1/training-runs", json={"name": "x", "model": "m"},
                           headers=env.h("alice")).status_code == 403
    run = env.client.post("/v1/training-runs", json={"name": "x", "model": "m"}, headers=op).json()
    before = len(env.registry.store.audit_entries())
    r = env.client.post(f"/v1/training-runs/{run['id']}/items", json={"items": [{"id": "a", "pdq": "zz"}]},
                        headers=op)
    assert r.status_code == 400 and "items[0]" in r.json()["error"]["message"]
    r = env.client.post(f"/v1/training-runs/{run['id']}/items",
                        json={"purpose": "data_mining", "items": [{"id": "a", "sha256": "0" * 64}]}, headers=op)
    assert r.status_code == 400 and "run's purpose" in r.json()["error"]["message"]
    assert env.client.post("/v1/training-runs/run_nope/items", json={"items": [{"id": "a", "sha256": "0" * 64}]},
                           headers=op).status_code == 404
    assert len(env.registry.store.audit_entries()) == before


def test_the_web_pages_for_lookups_runs_and_used_in_training(env: Env) -> None:
    from api.app import create_app
    from tests.web_client import csrf_token, web_client

    work = env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": {"ai_training": {"use": "notAllowed"}},
                                                        "locations": ["https://a.example/c.jpg"]}).json()
    run = env.client.post("/v1/training-runs", json={"name": "web run", "model": "m-1"}, headers=env.h("op")).json()
    env.client.post(f"/v1/training-runs/{run['id']}/items",
                    json={"items": [{"id": "1", "sha256": hashlib.sha256(CHELSEA).hexdigest()}]}, headers=env.h("op"))
    clients = {who: web_client(create_app(env.settings, env.registry), env.keys[who])  # one app a client
               for who in ("op", "audit", "alice")}
    try:
        op = clients["op"]
        pasted = "\n".join(json.dumps(x) for x in [{"id": "x1", "url": "https://A.example/c.jpg"},
                                                    {"id": "x2", "sha256": "0" * 64}])
        r = op.post("/lookups", data={"items": pasted, "purpose": "ai_training",
                                      "_csrf_token": csrf_token(op, "/lookups")})
        assert r.status_code == 200 and 'data-testid="lookup-results"' in r.text
        assert work["id"] in r.text and "reserved" in r.text and "no_match" in r.text
        r = op.post("/lookups", files=[("files", ("copy.jpg", CHELSEA))],
                    data={"purpose": "ai_training", "_csrf_token": csrf_token(op, "/lookups")})
        assert r.status_code == 200 and "copy.jpg" in r.text and "reserved" in r.text
        r = op.post("/lookups", data={"items": '{"id": "a", "pdq": "zz"}', "_csrf_token": csrf_token(op, "/lookups")})
        assert r.status_code == 400 and "line 1 (item 0)" in r.text
        for who in ("op", "audit"):
            page = clients[who].get("/training-runs")
            assert page.status_code == 200 and "web run" in page.text
            detail = clients[who].get(f"/training-runs/{run['id']}")
            assert detail.status_code == 200 and "1 violations" in detail.text and work["id"] in detail.text
        mine = clients["alice"].get(f"/works/{work['id']}")
        assert 'data-testid="training"' in mine.text and "web run" in mine.text
        assert "https://a.example/c.jpg" in mine.text
        assert clients["alice"].get("/training-runs").status_code == 403
    finally:
        for c in clients.values():
            c.__exit__(None, None, None)

"""The HTTP API through litestar's test client, with the real store and the real matchers."""

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from registry.models import CheckFilter
from service.wiring import open_registry
from tests.conftest import FIXTURES, Env

CHELSEA = (FIXTURES / "images" / "chelsea.jpg").read_bytes()
EMMA = (FIXTURES / "texts" / "emma-ch001.txt").read_text()


def test_health_is_public_and_the_rest_needs_a_key(env: Env) -> None:
    assert env.client.get("/v1/health").json()["status"] == "ok"
    r = env.client.get("/v1/works")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = env.client.get("/v1/works", headers={"Authorization": "Bearer pvk_wrong"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["error"]["message"]
    assert env.client.get("/schema/openapi.json").status_code == 200


def test_enroll_check_and_read_the_record(env: Env) -> None:
    r = env.enroll("alice", CHELSEA, "chelsea.jpg", {"title": "Chelsea the cat",
                                                      "license": {"id": "CC-BY-4.0", "commercial_use": True},
                                                      "opt_outs": {"release": "attribution"}})
    assert r.status_code == 201, r.text
    work = r.json()
    assert work["kind"] == "image" and work["title"] == "Chelsea the cat" and work["status"] == "active"
    assert work["cawg_training_mining"]["entries"]["cawg.ai_training"] == {"use": "notAllowed"}
    again = env.enroll("alice", CHELSEA, "chelsea.jpg")
    assert again.status_code == 409 and again.json()["error"]["details"]["existing_id"] == work["id"]
    text = env.enroll("alice", EMMA.encode(), "emma.txt", {"opt_outs": {"release": "notAllowed"}})
    assert text.status_code == 201

    r = env.client.post("/v1/checks", files={"file": ("out.jpg", CHELSEA)}, headers=env.h("op"))
    assert r.status_code == 200, r.text
    check = r.json()
    assert check["verdict"] == "attribution_required" and check["purpose"] == "release"
    assert [m["work_id"] for m in check["matches"]] == [work["id"]]
    assert check["matches"][0]["owner"] == "alice" and check["matches"][0]["license"]["id"] == "CC-BY-4.0"
    words = EMMA.split()
    r = env.client.post("/v1/checks", json={"text": " ".join(words[100:300]), "purpose": "ai_training"},
                        headers=env.h("op"))
    assert r.status_code == 200 and r.json()["verdict"] == "blocked"
    assert r.json()["matches"][0]["evidence"]["copied_words"] >= 190

    assert env.client.get(f"/v1/checks/{check['id']}", headers=env.h("op")).json()["id"] == check["id"]
    assert env.client.get(f"/v1/checks/{check['id']}", headers=env.h("op2")).status_code == 404
    assert len(env.client.get("/v1/checks", headers=env.h("op")).json()["items"]) == 2
    assert env.client.get("/v1/checks", headers=env.h("op2")).json()["items"] == []
    assert len(env.client.get("/v1/checks", headers=env.h("audit")).json()["items"]) == 2
    blocked = env.client.get("/v1/checks", params={"verdict": "blocked"}, headers=env.h("audit")).json()["items"]
    assert len(blocked) == 1 and blocked[0]["purpose"] == "ai_training"
    by_op = env.client.get("/v1/checks", params={"operator": "op2"}, headers=env.h("audit")).json()["items"]
    assert by_op == []
    matches = env.client.get(f"/v1/works/{work['id']}/matches", headers=env.h("alice")).json()["items"]
    assert [c["id"] for c in matches] == [check["id"]]
    assert env.client.get(f"/v1/works/{work['id']}/matches", headers=env.h("bob")).status_code == 404

    log = env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]
    assert [e["action"] for e in log].count("check.made") == 2
    assert env.client.get("/v1/audit/verify", headers=env.h("audit")).json()["ok"] is True


def test_titles_are_kept_as_text_without_control_characters(env: Env) -> None:
    r = env.enroll("alice", b"some words to enroll", "w.txt", {"title": "<script>alert(1)</script>\u0007 ok"})
    assert r.status_code == 201 and r.json()["title"] == "<script>alert(1)</script> ok"


def test_terms_changes_and_withdrawal(env: Env) -> None:
    work = env.enroll("alice", EMMA.encode(), "emma.txt").json()
    r = env.client.patch(f"/v1/works/{work['id']}", json={"opt_outs": {"release": "allowed"},
                                                           "license": {"id": "CC0-1.0", "attribution_required": False}},
                         headers=env.h("alice"))
    assert r.status_code == 200 and r.json()["opt_outs"]["release"] == "allowed"
    assert env.client.patch(f"/v1/works/{work['id']}", json={"opt_outs": {"release": "allowed"}},
                            headers=env.h("bob")).status_code == 404
    r = env.client.post("/v1/checks", json={"text": EMMA}, headers=env.h("op"))
    assert r.json()["verdict"] == "clear" and len(r.json()["matches"]) == 1
    r = env.client.delete(f"/v1/works/{work['id']}", headers=env.h("alice"))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    r = env.client.post("/v1/checks", json={"text": EMMA}, headers=env.h("op"))
    assert r.json()["matches"] == []
    assert env.client.get(f"/v1/works/{work['id']}", headers=env.h("alice")).json()["status"] == "withdrawn"
    actions = [e["action"] for e in env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]]
    assert "work.terms_changed" in actions and "work.withdrawn" in actions


def test_keys_are_admin_only_and_revocation_is_immediate(env: Env) -> None:
    r = env.client.post("/v1/keys", json={"name": "carol", "role": "creator"}, headers=env.h("root"))
    assert r.status_code == 201
    created = r.json()
    carol = {"Authorization": f"Bearer {created['key']}"}
    assert env.client.get("/v1/me", headers=carol).json()["name"] == "carol"
    listed = env.client.get("/v1/keys", headers=env.h("root")).json()["items"]
    assert all(k["key"] is None for k in listed)
    assert env.client.post("/v1/keys", json={"name": "x", "role": "admin"}, headers=env.h("alice")).status_code == 403
    assert env.client.delete(f"/v1/keys/{created['id']}", headers=env.h("root")).status_code == 200
    assert env.client.get("/v1/me", headers=carol).status_code == 401
    bad = env.client.post("/v1/keys", json={"name": "x", "role": "wizard"}, headers=env.h("root"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


ENDPOINTS: list[tuple[str, str, set[str]]] = [
    ("GET", "/v1/works", {"root", "alice", "audit"}),
    ("POST", "/v1/works", {"root", "alice"}),
    ("GET", "/v1/works/{work}", {"root", "alice", "audit"}),
    ("PATCH", "/v1/works/{work}", {"root", "alice"}),
    ("GET", "/v1/works/{work}/matches", {"root", "alice", "audit"}),
    ("DELETE", "/v1/works/{work}", {"root", "alice"}),
    ("POST", "/v1/checks", {"root", "op", "op2"}),
    ("GET", "/v1/checks", {"root", "op", "op2", "audit"}),
    ("GET", "/v1/keys", {"root"}),
    ("POST", "/v1/keys", {"root"}),
    ("GET", "/v1/audit/log", {"root", "audit"}),
    ("GET", "/v1/audit/verify", {"root", "audit"}),
]


def test_permission_matrix(env: Env) -> None:
    """Every role against every endpoint; creators against each other's works (bob gets 404 on alice's)."""
    for method, path, allowed in ENDPOINTS:
        for who in ["root", "alice", "bob", "op", "op2", "audit"]:
            work = env.enroll("alice", f"a work for {method} {path} {who} " .encode() * 20, "w.txt").json()["id"]
            url = path.replace("{work}", work)
            kwargs: dict[str, Any] = {"headers": env.h(who)}
            if method == "POST" and path == "/v1/works":
                kwargs["files"] = {"file": ("n.txt", f"new text by {who} for the matrix".encode())}
            elif method == "POST" and path == "/v1/checks":
                kwargs["json"] = {"text": "some generated text to check"}
            elif method == "POST":
                kwargs["json"] = {"name": f"k-{who}", "role": "auditor"}
            elif method == "PATCH":
                kwargs["json"] = {"opt_outs": {"release": "allowed"}}
            status = env.client.request(method, url, **kwargs).status_code
            may = who in allowed or (who == "bob" and "{work}" not in path and "alice" in allowed)
            if may:
                assert status < 400, f"{who} {method} {path}: {status}"
            else:
                expected = 404 if who == "bob" and "{work}" in path else 403
                assert status == expected, f"{who} {method} {path}: {status}, wanted {expected}"


@pytest.mark.parametrize(("files", "data", "status", "code"), [
    ({"file": ("e.txt", b"")}, None, 415, "unsupported_content"),
    ({"file": ("x.jpg", CHELSEA[:3000])}, None, 415, "unsupported_content"),
    ({"file": ("x.jpg", b"plain text pretending")}, None, 415, "unsupported_content"),
    ({"file": ("l.txt", "caf\xe9".encode("latin-1"))}, None, 415, "unsupported_content"),
    ({"file": ("t.txt", b"fine text")}, {"metadata": "{not json"}, 400, "invalid_input"),
    ({"file": ("t.txt", b"fine text")}, {"metadata": '{"colour": "red"}'}, 400, "invalid_input"),
    ({"file": ("t.txt", b"fine text")}, {"metadata": '{"title": 5}'}, 400, "invalid_input"),
    ({"file": ("t.txt", b"fine text")}, {"metadata": '{"opt_outs": {"ai_training": {"use": "maybe"}}}'}, 400,
     "invalid_input"),
    ({"file": ("big.txt", b"a" * 2_100_000)}, None, 413, "content_too_large"),
    ({"file": ("t.txt", b"fine text")}, {"metadata": '{"title": "\\u0000\\u0007\\u001b"}'}, 400, "invalid_input"),
])
def test_bad_enrollments_get_clear_errors_and_store_nothing(env: Env, files: dict[str, Any],
                                                           data: dict[str, str] | None, status: int, code: str) -> None:
    r = env.client.post("/v1/works", files=files, data=data, headers=env.h("alice"))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert env.registry.store.list_works() == []
    assert [e.action for e in env.registry.store.audit_entries()].count("work.enrolled") == 0


def test_a_pdf_gets_415_naming_the_formats_accepted(env: Env) -> None:
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    for who, path in (("alice", "/v1/works"), ("op", "/v1/checks")):
        r = env.client.post(path, files={"file": ("paper.pdf", pdf)}, headers=env.h(who))
        assert r.status_code == 415, r.text
        error = r.json()["error"]
        assert error["message"] == "PDF is not supported; send JPEG, PNG, WebP, GIF, BMP, TIFF or UTF-8 text"
        assert error["details"]["accepted"][-1] == "UTF-8 text"
    r = env.client.post("/v1/works/bulk", files=[("files", ("a.pdf", pdf)), ("files", ("b.txt", b"fine words"))],
                        headers=env.h("alice"))
    job = env.registry.jobs.wait(r.json()["id"])
    assert [(f.status, f.code) for f in job.results] == [("rejected", "unsupported_content"), ("enrolled", None)]
    assert "PDF is not supported" in (job.results[0].error or "")


def test_patch_merges_named_fields_and_honours_if_match(env: Env) -> None:
    work = env.enroll("alice", EMMA.encode(), "emma.txt", {"license": {
        "id": "CC-BY-4.0", "commercial_use": True, "terms_url": "https://example.org/t"},
        "opt_outs": {"ai_training": {"use": "allowed"}, "release": "attribution"}}).json()
    r = env.client.get(f"/v1/works/{work['id']}", headers=env.h("alice"))
    etag = r.headers["etag"]
    assert etag == r.json()["etag"]
    r = env.client.patch(f"/v1/works/{work['id']}", json={"license": {"id": "CC-BY-SA-4.0"}},
                         headers={**env.h("alice"), "If-Match": etag})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["license"]["commercial_use"] is True  # not named, so kept
    assert body["opt_outs"]["ai_training"]["use"] == "allowed" and r.headers["etag"] != etag
    r = env.client.patch(f"/v1/works/{work['id']}", json={"opt_outs": {"release": "allowed"}},
                         headers={**env.h("alice"), "If-Match": etag})  # the ETag read before the last change
    assert r.status_code == 412 and r.json()["error"]["code"] == "precondition_failed"
    r = env.client.patch(f"/v1/works/{work['id']}", json={"license": {"terms_url": "javascript:alert(1)"}},
                         headers=env.h("alice"))
    assert r.status_code == 400 and "http" in r.json()["error"]["message"]
    final = env.client.get(f"/v1/works/{work['id']}", headers=env.h("alice")).json()
    assert final["license"]["id"] == "CC-BY-SA-4.0" and final["opt_outs"]["release"] == "attribution"
    assert final["license"]["terms_url"] == "https://example.org/t"


def test_bad_checks(env: Env) -> None:
    for body in ({"text": ""}, {"text": "x", "purpose": "nope"}, {"txt": "x"}):
        r = env.client.post("/v1/checks", json=body, headers=env.h("op"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input", body
    r = env.client.post("/v1/checks", content=b"raw", headers={**env.h("op"), "content-type": "text/plain"})
    assert r.status_code == 400
    r = env.client.post("/v1/checks", files={"other": ("a.txt", b"x")}, headers=env.h("op"))
    assert r.status_code == 400 and "'file'" in r.json()["error"]["message"]
    r = env.client.post("/v1/checks", files={"file": ("a.txt", b"words")}, data={"purpose": "nope"},
                        headers=env.h("op"))
    assert r.status_code == 400


def test_bulk_enrollment_job_reports_each_file(env: Env) -> None:
    files = [("files", (p.name, p.read_bytes())) for p in sorted((FIXTURES / "images").glob("*.jpg"))]
    files += [("files", ("empty.txt", b"")), ("files", ("emma.txt", EMMA.encode()))]
    meta = {"metadata": json.dumps({"opt_outs": {"release": "notAllowed"}})}
    env.enroll("alice", EMMA.encode(), "emma-first.txt")
    r = env.client.post("/v1/works/bulk", files=files, data=meta, headers=env.h("alice"))
    assert r.status_code == 202, r.text
    job = env.registry.jobs.wait(r.json()["id"])
    polled = env.client.get(f"/v1/jobs/{job.id}", headers=env.h("alice")).json()
    assert polled["status"] == "done" and polled["total"] == 6
    assert (polled["enrolled"], polled["skipped"], polled["rejected"]) == (4, 1, 1)
    outcome = {o["filename"]: o for o in polled["results"]}
    assert outcome["empty.txt"]["status"] == "rejected" and "empty" in outcome["empty.txt"]["error"]
    assert outcome["emma.txt"]["status"] == "skipped"
    work = env.client.get(f"/v1/works/{outcome['coffee.jpg']['work_id']}", headers=env.h("alice")).json()
    assert work["opt_outs"]["release"] == "notAllowed" and work["title"] == "coffee.jpg"
    assert env.client.get(f"/v1/jobs/{job.id}", headers=env.h("bob")).status_code == 404
    r = env.client.post("/v1/checks", files={"file": ("q.jpg", CHELSEA)}, headers=env.h("op"))
    assert r.json()["verdict"] == "blocked"
    empty = env.client.post("/v1/works/bulk", files={"other": ("a.txt", b"x")}, headers=env.h("alice"))
    assert empty.status_code == 400


def test_bodies_over_the_limit_are_refused_before_they_are_read(env: Env) -> None:
    """The limit is 2 MB a file here: an announced 1 GB body gets 413 at once (nothing is read), and a body
    streamed without a length is cut as soon as it passes the limit."""
    r = env.client.post("/v1/checks", content=b"x" * 10,
                        headers={**env.h("op"), "content-type": "application/json", "content-length": str(2**30)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "content_too_large"
    assert "1073741824 bytes" in r.json()["error"]["message"]
    sent = []

    def stream() -> Iterator[bytes]:
        for _ in range(400):  # 40 MB if it were all read
            sent.append(1)
            yield b"y" * 100_000

    r = env.client.post("/v1/checks", content=stream(), headers={**env.h("op"), "content-type": "application/json"})
    assert r.status_code == 413 and "passed the limit" in r.json()["error"]["message"]
    assert env.registry.store.list_checks(CheckFilter()) == []
    # a batch route takes the batch limit (100 MB by default), a single-file route does not
    r = env.client.post("/v1/works/bulk", files=[("files", ("a.txt", b"word " * 600_000))], headers=env.h("alice"))
    assert r.status_code == 202
    r = env.client.post("/v1/works", files={"file": ("a.txt", b"word " * 600_000)}, headers=env.h("alice"))
    assert r.status_code == 413


def test_edge_inputs_are_4xx_not_500(env: Env) -> None:
    deep = b'{"license": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    for method, path, who in [("PATCH", "/v1/works/wrk_x", "alice"), ("POST", "/v1/keys", "root"),
                              ("POST", "/v1/checks", "op")]:
        r = env.client.request(method, path, content=deep, headers={**env.h(who), "content-type": "application/json"})
        assert r.status_code == 400, (path, r.text)
    for params in ({"since": "0001-01-01T00:00:00+23:59"}, {"until": "9999-12-31T23:59:59-23:59"},
                   {"offset": str(10**30)}, {"limit": str(10**20)}):
        r = env.client.get("/v1/checks", params=params, headers=env.h("audit"))
        assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_input", "bad_request"), params
    r = env.client.get("/v1/audit/log", params={"after": str(10**30)}, headers=env.h("audit"))
    assert r.status_code == 400


def test_idempotency_key_returns_the_first_answer(env: Env) -> None:
    h = {**env.h("op"), "Idempotency-Key": "check-7f3a"}
    first = env.client.post("/v1/checks", json={"text": EMMA[:2000]}, headers=h)
    again = env.client.post("/v1/checks", json={"text": EMMA[:2000]}, headers=h)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(env.client.get("/v1/checks", headers=env.h("op")).json()["items"]) == 1  # one check, not two
    other = env.client.post("/v1/checks", json={"text": "something else entirely"}, headers=h)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # another account's same key is its own; an upload rebuilt with a new multipart boundary is the same request
    assert env.client.post("/v1/checks", json={"text": EMMA[:2000]},
                           headers={**env.h("op2"), "Idempotency-Key": "check-7f3a"}).status_code == 200
    hh = {**env.h("alice"), "Idempotency-Key": "enroll-1"}
    one = env.client.post("/v1/works", files={"file": ("c.jpg", CHELSEA)}, headers=hh)
    two = env.client.post("/v1/works", files={"file": ("c.jpg", CHELSEA)}, headers=hh)
    assert one.status_code == two.status_code == 201 and one.json()["id"] == two.json()["id"]
    # an answer that was an error about the input is kept too; a bad key is refused
    bad = {**env.h("alice"), "Idempotency-Key": "enroll-2"}
    assert env.client.post("/v1/works", files={"file": ("e.txt", b"")}, headers=bad).status_code == 415
    assert env.client.post("/v1/works", files={"file": ("e.txt", b"")}, headers=bad).status_code == 415
    r = env.client.post("/v1/checks", json={"text": "x"}, headers={**env.h("op"), "Idempotency-Key": "a b"})
    assert r.status_code == 400


def test_metrics_request_ids_liveness_and_readiness(env: Env) -> None:
    env.enroll("alice", EMMA.encode(), "emma.txt")
    env.client.post("/v1/checks", json={"text": EMMA[:3000]}, headers=env.h("op"))
    env.client.post("/v1/checks", json={"text": "nothing like any work"}, headers=env.h("op"))
    r = env.client.get("/v1/works", headers={**env.h("alice"), "X-Request-ID": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"
    assert len(env.client.get("/v1/works", headers=env.h("alice")).headers["x-request-id"]) == 32
    text = env.client.get("/metrics").text  # scraped with no key, as Prometheus does
    assert 'provenance_checks_total{kind="text",verdict="clear"} 1.0' in text
    assert 'provenance_enrollments_total{kind="text"} 1.0' in text
    assert 'provenance_http_requests_total{method="GET",route="/v1/works",status="200"} 2.0' in text
    assert 'provenance_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/checks"}' in text
    assert 'provenance_index_works{kind="text"} 1.0' in text and "provenance_index_lag_changes 0.0" in text
    assert env.client.get("/v1/health/live").json() == {"status": "alive"}
    ready = env.client.get("/v1/health")
    assert ready.status_code == 200 and ready.json()["index_lag"]["pending_changes"] == 0
    # a work enrolled by another process, not yet in this one's indexes: over the bound, readiness says so
    other = open_registry(env.registry.settings, sync=False)
    alice = other.store.find_account("alice")
    assert alice is not None
    env.client.app.state.settings = msgspec.structs.replace(
        env.client.app.state.settings, server=msgspec.structs.replace(
            env.client.app.state.settings.server, max_index_lag_changes=0))
    other.store.add_work(msgspec.structs.replace(env.registry.store.list_works()[0], id="wrk_other",
                                                 sha256="f" * 64), alice.id)
    lagging = env.client.get("/v1/health")
    assert lagging.status_code == 503 and lagging.json()["status"] == "lagging"
    env.registry.indexes.apply_changes()  # caught up (the change is applied, or logged when it cannot be)
    assert env.client.get("/v1/health").status_code == 200
    other.close()


def test_log_lines_are_json_with_the_request_id() -> None:
    import logging

    from api.observability import JsonFormatter, request_id

    token = request_id.set("req-7")
    try:
        record = logging.LogRecord("provenance.api", logging.WARNING, __file__, 1, "checked %s", ("x",), None)
        record.fields = {"status": 200}
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-7" and line["message"] == "checked x" and line["level"] == "warning"
    assert line["status"] == 200 and line["logger"] == "provenance.api"


def test_refusals_are_counted_with_their_status(env: Env) -> None:
    assert env.client.get("/v1/works").status_code == 401
    assert env.client.get("/v1/keys", headers=env.h("op")).status_code == 403
    text = env.client.get("/metrics").text
    assert 'provenance_http_requests_total{method="GET",route="/v1/works",status="401"} 1.0' in text
    assert 'provenance_http_requests_total{method="GET",route="/v1/keys",status="403"} 1.0' in text


def test_whole_number_query_parameters_are_whole_numbers(env: Env) -> None:
    for value in ("5.0", "1e3", "five", ""):
        r = env.client.get("/v1/notifications", params={"limit": value}, headers=env.h("alice"))
        assert r.status_code == 400 and "whole number" in r.json()["error"]["message"], value
    assert env.client.get("/v1/notifications", params={"limit": "5"}, headers=env.h("alice")).status_code == 200
    assert env.client.get("/v1/notifications", params={"unread": "true"}, headers=env.h("alice")).status_code == 200

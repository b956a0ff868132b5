"""Bulk lookups for training (`POST /v1/lookups`) and where works are published (`locations`)."""

import hashlib
import io
import json

import msgspec
from PIL import Image

from matcher.image.hashes import pdq, pdq_hex
from registry.errors import InvalidInput
from registry.locations import normalize_url
from tests.conftest import FIXTURES, Env
from tests.test_api import CHELSEA, EMMA

COFFEE = (FIXTURES / "images" / "coffee.jpg").read_bytes()
NOT_ALLOWED = {"ai_training": {"use": "notAllowed"}}
CONSTRAINED = {"ai_training": {"use": "constrained", "constraint_info": "https://example.org/licence"}}
ALLOWED = {"ai_training": {"use": "allowed"}}


def _pdq_of(data: bytes, resize: float = 1.0) -> str:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if resize != 1.0:
        img = img.resize((round(img.width * resize), round(img.height * resize)))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=60)
        img = Image.open(buf).convert("RGB")
    return pdq_hex(pdq(img)[0])


def test_urls_are_normalised_and_bad_ones_refused() -> None:
    assert normalize_url("HTTPS://Example.COM:443/a/B?x=1#frag") == "https://example.com/a/B?x=1"
    assert normalize_url("http://ex.com:80") == "http://ex.com/"
    assert normalize_url("http://ex.com:8080/p") == "http://ex.com:8080/p"
    for bad in ("ftp://x.org/a", "javascript:alert(1)", "http://user:pw@x.org/", "http://", "x.org/a",
                "http://x.org/a b", "http://x.org:99999/"):
        try:
            normalize_url(bad)
        except InvalidInput:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_lookup_by_hash_url_and_text_follows_each_works_use(env: Env) -> None:
    chelsea = env.enroll("alice", CHELSEA, "chelsea.jpg", {
        "opt_outs": NOT_ALLOWED, "locations": ["HTTPS://Photos.Example.org:443/chelsea.jpg#top"]}).json()
    assert chelsea["locations"] == ["https://photos.example.org/chelsea.jpg"]
    coffee = env.enroll("bob", COFFEE, "coffee.jpg", {"opt_outs": CONSTRAINED}).json()
    emma = env.enroll("bob", EMMA.encode(), "emma.txt", {"opt_outs": ALLOWED}).json()
    excerpt = " ".join(EMMA.split()[200:400])
    items = [
        {"id": "a", "sha256": hashlib.sha256(CHELSEA).hexdigest()},
        {"id": "b", "url": "https://PHOTOS.example.org/chelsea.jpg"},
        {"id": "c", "pdq": _pdq_of(CHELSEA, resize=0.5)},  # a resized, recompressed copy
        {"id": "d", "pdq": _pdq_of(COFFEE)},
        {"id": "e", "text": excerpt},
        {"id": "f", "sha256": "0" * 64},
        {"id": "g", "url": "https://photos.example.org/other.jpg"},
    ]
    r = env.client.post("/v1/lookups", json={"purpose": "ai_training", "items": items}, headers=env.h("op"))
    assert r.status_code == 200, r.text
    body = r.json()
    by_id = {x["id"]: x for x in body["results"]}
    assert [x["id"] for x in body["results"]] == list("abcdefg")
    for item in "abc":
        assert by_id[item]["reason"] == "reserved" and not by_id[item]["allowed"]
        assert by_id[item]["matches"][0]["work_id"] == chelsea["id"]
        assert by_id[item]["matches"][0]["use"] == "notAllowed"
    assert by_id["d"]["reason"] == "constrained" and not by_id["d"]["allowed"]
    assert by_id["d"]["matches"][0]["work_id"] == coffee["id"]
    assert by_id["e"]["reason"] == "allowed" and by_id["e"]["allowed"]
    assert by_id["e"]["matches"][0] == {**by_id["e"]["matches"][0], "work_id": emma["id"], "by": "text"}
    for item in "fg":
        assert by_id[item] == {"id": item, "allowed": True, "reason": "no_match", "matches": []}
    assert body["items"] == 7 and body["not_allowed"] == 4
    # kept, and audited with the count and digest
    again = env.client.get(f"/v1/lookups/{body['id']}", headers=env.h("op")).json()
    assert again == body
    assert env.client.get(f"/v1/lookups/{body['id']}", headers=env.h("audit")).status_code == 200
    assert env.client.get(f"/v1/lookups/{body['id']}", headers=env.h("op2")).status_code == 404
    assert env.client.get(f"/v1/lookups/{body['id']}", headers=env.h("alice")).status_code == 403
    entry = env.registry.store.audit_entries()[-1]
    assert (entry.action, entry.subject) == ("lookup.made", body["id"])
    assert entry.details == {"purpose": "ai_training", "items": 7, "digest": body["digest"], "not_allowed": 4}


def test_withdrawn_and_relocated_works_stop_matching(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "chelsea.jpg", {"locations": ["https://a.example/x.jpg"]}).json()

    def reason(item: dict[str, str]) -> str:
        r = env.client.post("/v1/lookups", json={"items": [{"id": "1", **item}]}, headers=env.h("op"))
        return str(r.json()["results"][0]["reason"])

    assert reason({"url": "https://a.example/x.jpg"}) == "reserved"
    r = env.client.patch(f"/v1/works/{work['id']}", json={"locations": ["https://b.example/x.jpg"]},
                         headers={**env.h("alice"), "If-Match": work["etag"]})
    assert r.status_code == 200 and r.json()["locations"] == ["https://b.example/x.jpg"]
    assert r.json()["etag"] != work["etag"] and r.json()["opt_outs"] == work["opt_outs"]
    assert reason({"url": "https://a.example/x.jpg"}) == "no_match"
    assert reason({"url": "https://b.example/x.jpg"}) == "reserved"
    changed = [e for e in env.registry.store.audit_entries() if e.action == "work.locations_changed"]
    assert changed[-1].details == {"before": ["https://a.example/x.jpg"], "after": ["https://b.example/x.jpg"]}
    env.client.delete(f"/v1/works/{work['id']}", headers=env.h("alice"))
    assert reason({"url": "https://b.example/x.jpg"}) == "no_match"
    assert reason({"sha256": hashlib.sha256(CHELSEA).hexdigest()}) == "no_match"


def test_ndjson_and_file_lookups(env: Env) -> None:
    env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": NOT_ALLOWED})
    lines = "\n".join(json.dumps({"id": f"n{i}", "sha256": hashlib.sha256(CHELSEA if i == 3 else b"%d" % i)
                                  .hexdigest()}) for i in range(5))
    r = env.client.post("/v1/lookups?purpose=ai_training", content=lines + "\n\n",
                        headers={**env.h("op"), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert [x["reason"] for x in r.json()["results"]] == ["no_match"] * 3 + ["reserved", "no_match"]
    small = Image.open(io.BytesIO(CHELSEA)).convert("RGB").resize((200, 150))
    buf = io.BytesIO()
    small.save(buf, "PNG")
    r = env.client.post("/v1/lookups", files=[("files", ("copy.png", buf.getvalue())),
                                              ("files", ("text.txt", b"nothing like any work at all"))],
                        data={"purpose": "ai_generative_training"}, headers=env.h("op"))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["copy.png", "text.txt"]
    assert results[0]["reason"] == "reserved" and results[0]["matches"][0]["by"] == "file"
    assert results[1]["reason"] == "no_match" and r.json()["purpose"] == "ai_generative_training"


def test_bad_lookups_are_refused_naming_the_item_and_leave_nothing(env: Env) -> None:
    before = len(env.registry.store.audit_entries())

    def refused(body: object, status: int = 400, **kw: object) -> str:
        r = env.client.post("/v1/lookups", json=body, headers=env.h("op"), **kw)  # type: ignore[arg-type]
        assert r.status_code == status, r.text
        return str(r.json()["error"]["message"])

    assert "items[1]" in refused({"items": [{"id": "a", "sha256": "0" * 64}, {"id": "b", "pdq": "xyz"}]})
    assert "items[0]" in refused({"items": [{"id": "a", "sha256": "0" * 64, "colour": "red"}]})
    assert "item 1 ('b') has none of" in refused({"items": [{"id": "a", "url": "https://x.org/"}, {"id": "b"}]})
    assert "item 0 ('a')" in refused({"items": [{"id": "a", "url": "ftp://x.org/"}]})
    assert "at most 10000 items" in refused({"items": [{"id": str(i), "sha256": "0" * 64} for i in range(10_001)]})
    assert "unknown purpose" in refused({"purpose": "release", "items": [{"id": "a", "sha256": "0" * 64}]})
    assert "no items" in refused({"items": []})
    r = env.client.post("/v1/lookups", files=[("files", ("ok.txt", b"some words")),
                                              ("files", ("paper.pdf", b"%PDF-1.7 ..."))], headers=env.h("op"))
    assert r.status_code == 415 and "item 1 ('paper.pdf'): PDF is not supported" in r.json()["error"]["message"]
    r = env.client.post("/v1/lookups", content='{"id": "a", "sha256": "00"}\n',
                        headers={**env.h("op"), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 400 and "line 1 (item 0)" in r.json()["error"]["message"]
    r = env.client.post("/v1/lookups", content="a,b\n", headers={**env.h("op"), "Content-Type": "text/csv"})
    assert r.status_code == 400 and "application/x-ndjson" in r.json()["error"]["message"]
    r = env.client.post("/v1/lookups", json={"items": [{"id": "a", "sha256": "0" * 64}]}, headers=env.h("alice"))
    assert r.status_code == 403
    assert len(env.registry.store.audit_entries()) == before


def test_ten_thousand_hash_items_in_one_request(env: Env) -> None:
    env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": NOT_ALLOWED})
    items = [{"id": str(i), "sha256": hashlib.sha256(b"%d" % i).hexdigest(), "pdq": "%064x" % (i * 7919)}
             for i in range(10_000)]
    items[5000]["sha256"] = hashlib.sha256(CHELSEA).hexdigest()
    r = env.client.post("/v1/lookups", content=msgspec.json.encode({"items": items}),
                        headers={**env.h("op"), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:300]
    results = r.json()["results"]
    assert len(results) == 10_000 and r.json()["not_allowed"] == 1
    assert results[5000]["reason"] == "reserved" and results[4999]["reason"] == "no_match"


def _flip(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16) ^ ((1 << bits) - 1)  # the lowest `bits` bits flipped: exactly `bits` apart
    return f"{value:064x}"


def test_pdq_items_match_within_31_or_24_for_low_quality_hashes(env: Env) -> None:
    """Hash-only matching keeps the hashes of low-detail images that checks drop (quality under 50), at a
    stricter distance: 24 instead of 31."""
    gradient = Image.linear_gradient("L").resize((384, 256)).convert("RGB")
    buf = io.BytesIO()
    gradient.save(buf, "PNG")
    flat = env.enroll("alice", buf.getvalue(), "gradient.png", {"opt_outs": NOT_ALLOWED}).json()
    sharp = env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": NOT_ALLOWED}).json()
    bank = env.client.get("/v1/bank", headers=env.h("op")).content.splitlines()
    entries = {e["work_id"]: e for e in map(json.loads, bank[1:-1])}
    assert entries[flat["id"]]["pdq_quality"] < 50 <= entries[sharp["id"]]["pdq_quality"]
    items = [{"id": f"{name}-{bits}", "pdq": _flip(entries[work["id"]]["pdq"], bits)}
             for name, work in (("flat", flat), ("sharp", sharp)) for bits in (20, 28)]
    r = env.client.post("/v1/lookups", json={"items": items}, headers=env.h("op"))
    found = {x["id"]: [m["work_id"] for m in x["matches"]] for x in r.json()["results"]}
    assert found == {"flat-20": [flat["id"]], "flat-28": [], "sharp-20": [sharp["id"]], "sharp-28": [sharp["id"]]}

"""Publishing reservations without a key: signed declarations, TDM policies, site files, soft-binding
resolution, ISCC codes in checks and lookups, and opt-outs read from the files at enrollment."""

import base64
import hashlib
import re
from http.client import HTTPMessage
from typing import Any

import datadiligence
import iscc_core
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from datadiligence.rules import TDMRepHeader, XRobotsTagHeader

from matcher.iscc import CodeIndex, content_unit
from registry.models import WorkKind
from service.declarations import canonical, verify_declaration
from service.transparency import load_public_key
from tests.conftest import FIXTURES, Env
from tests.test_api import CHELSEA, EMMA
from tests.test_crosswalk import with_c2pa, with_xmp, xmp_packet

RESERVED = {"ai_training": {"use": "notAllowed"}, "ai_generative_training": {"use": "notAllowed"},
            "ai_inference": {"use": "allowed"}, "data_mining": {"use": "allowed"}}
OPEN = {k: {"use": "allowed"} for k in RESERVED}
COFFEE = (FIXTURES / "images" / "coffee.jpg").read_bytes()


def _public_key(env: Env) -> Ed25519PublicKey:
    return load_public_key(env.client.get("/public/key").json()["public_key_pem"])


def _wire(headers: Any) -> HTTPMessage:
    """The response headers as the standard library's HTTP client hands them to a crawler."""
    message = HTTPMessage()
    for name, value in headers.multi_items():
        message[name] = value
    return message


def tdmrep_applies(rules: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The TDMRep rule that applies to `path`, read as the specification says: rules in order, the first whose
    location pattern matches (robots.txt patterns: `*` any characters, `$` the end, otherwise a prefix)."""
    for rule in rules:
        pattern = rule["location"]
        anchored = pattern.endswith("$")
        regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern.removesuffix("$"))
        if re.match(regex + ("$" if anchored else ""), path):
            return rule
    return None


def test_a_reserved_works_declaration_is_found_without_a_key(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "chelsea.jpg", {
        "opt_outs": RESERVED, "locations": ["https://alice.example/cats/chelsea.jpg"],
        "license": {"id": "CC-BY-NC-4.0", "terms_url": "https://licences.example/terms"}}).json()
    assert work["iscc"].startswith("ISCC:K") and work["opt_out_sources"]["ai_training"] == "request"
    r = env.client.get(f"/public/works/{work['id']}")  # no key
    assert r.status_code == 200, r.text
    doc = r.json()
    # every vocabulary says the reservation
    assert doc["cawg.training-mining"]["entries"]["cawg.ai_training"] == {"use": "notAllowed"}
    assert doc["iptc"]["plus:DataMining"] == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
    assert doc["tdmrep"]["tdm-reservation"] == 1
    assert doc["content_usage"]["value"] == "bots=y, train-ai=n, train-genai=n"
    assert doc["license"]["spdx"] == "CC-BY-NC-4.0" and doc["sha256"] == hashlib.sha256(CHELSEA).hexdigest()
    assert doc["iscc"] == work["iscc"] and doc["iscc_units"]["content"].startswith("ISCC:EE")
    # nothing private: no title, owner, locations, original
    assert "title" not in doc and "owner" not in doc and "locations" not in doc
    assert "alice" not in r.text and "chelsea" not in r.text
    # the headers, read by Spawning's own reader
    assert r.headers["tdm-reservation"] == "1" and r.headers["tdm-policy"].endswith(f"/public/policies/{work['id']}")
    assert r.headers["Content-Usage"] == "bots=y, train-ai=n, train-genai=n"
    assert TDMRepHeader().is_allowed(headers=_wire(r.headers)) is False
    assert XRobotsTagHeader(user_agent=None).is_allowed(headers=_wire(r.headers)) is False
    assert datadiligence is not None
    # the signature verifies offline, in the body and in the header, and breaks when a value changes
    public = _public_key(env)
    assert verify_declaration(doc, public)
    assert f'sig="{doc["signature"]}"' in r.headers["Provenance-Signature"]
    public.verify(base64.b64decode(doc["signature"]), canonical(doc))
    forged = {**doc, "tdmrep": {"tdm-reservation": 0}}
    assert not verify_declaration(forged, public)


def test_an_open_works_headers_allow_and_the_creator_may_publish_title_and_owner(env: Env) -> None:
    work = env.enroll("bob", COFFEE, "coffee.jpg", {"opt_outs": OPEN, "publish": {"title": True, "owner": True},
                                                    "locations": ["https://bob.example/coffee.jpg"]}).json()
    r = env.client.get(f"/public/works/{work['id']}")
    assert r.headers["tdm-reservation"] == "0" and "tdm-policy" not in r.headers
    assert TDMRepHeader().is_allowed(headers=_wire(r.headers)) is True
    assert XRobotsTagHeader(user_agent=None).is_allowed(headers=_wire(r.headers)) is True
    doc = r.json()
    assert doc["title"] == "coffee.jpg" and doc["owner"] == "bob" and doc["locations"] == ["https://bob.example/coffee.jpg"]
    assert doc["iptc"]["plus:DataMining"].endswith("DMI-ALLOWED")
    # publishing later is a change of the work, audited; the ETag changes with it
    hidden = env.client.patch(f"/v1/works/{work['id']}", json={"publish": {"title": False, "owner": False}},
                              headers=env.h("bob"))
    assert hidden.status_code == 200 and hidden.json()["etag"] != work["etag"]
    assert "title" not in env.client.get(f"/public/works/{work['id']}").json()
    actions = [e.action for e in env.registry.store.audit_entries()]
    assert "work.publication_changed" in actions


def test_the_policy_is_an_odrl_offer_with_the_tdmrep_profile(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": RESERVED, "offers": [{
        "purposes": ["ai_training"], "price": {"amount_minor": 500, "currency": "EUR"}, "per": "training_run"}]}).json()
    declared = env.client.get(f"/public/works/{work['id']}").json()["license"]
    assert declared["offers"][0]["price"] == {"amount_minor": 500, "currency": "EUR"}
    r = env.client.get(f"/public/policies/{work['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    policy = r.json()
    assert policy["@context"][0] == "http://www.w3.org/ns/odrl.jsonld"
    assert policy["@context"][1]["tdm"] == "http://www.w3.org/ns/tdmrep#"
    assert policy["@type"] == "Offer" and policy["profile"] == "http://www.w3.org/ns/tdmrep"
    assert policy["uid"].endswith(f"/public/policies/{work['id']}") and policy["assigner"]["uid"]
    (permission,) = policy["permission"]
    assert permission["action"] == "tdm:mine" and permission["target"]
    assert {d["action"] for d in permission["duty"]} == {"obtainConsent", "compensate"}
    assert "ai_training: not allowed" in policy["dcterms:description"]


def test_a_withdrawn_work_answers_410_with_its_date_and_an_unknown_one_404(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": RESERVED}).json()
    assert env.client.delete(f"/v1/works/{work['id']}", headers=env.h("alice")).status_code == 200
    r = env.client.get(f"/public/works/{work['id']}")
    assert r.status_code == 410
    doc = r.json()
    assert doc["status"] == "withdrawn" and doc["withdrawn_at"] and verify_declaration(doc, _public_key(env))
    assert "tdm-reservation" not in r.headers
    assert env.client.get(f"/public/policies/{work['id']}").status_code == 410
    missing = env.client.get("/public/works/wrk_doesnotexist")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    restored = env.client.post(f"/v1/works/{work['id']}/restore", headers=env.h("alice")).json()
    assert restored["withdrawn_at"] is None and env.client.get(f"/public/works/{work['id']}").status_code == 200


def test_tdmrep_json_ai_txt_and_robots_for_a_creators_site(env: Env) -> None:
    reserved = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": RESERVED, "locations": [
        "https://alice.example/img/chelsea.jpg", "https://other.example/chelsea.jpg"]}).json()
    open_ = env.enroll("alice", COFFEE, "k.jpg", {"opt_outs": OPEN, "locations": [
        "https://alice.example/img/coffee*.jpg?size=2", "http://alice.example/img/chelsea.jpg"]}).json()
    env.enroll("bob", EMMA.encode(), "emma.txt", {"locations": ["https://alice.example/emma.txt"]})  # not alice's
    r = env.client.get("/v1/tdmrep.json", params={"host": "Alice.Example", "reserve_rest": "false"},
                       headers=env.h("alice"))
    assert r.status_code == 200, r.text
    rules = r.json()
    assert all(set(rule) <= {"location", "tdm-reservation", "tdm-policy"} for rule in rules)
    assert all(rule["location"].startswith("/") for rule in rules)
    # the shared path is reserved (the stricter work wins), the other exact, the rest of the site open
    chelsea = tdmrep_applies(rules, "/img/chelsea.jpg")
    assert chelsea is not None and chelsea["tdm-reservation"] == 1
    assert chelsea["tdm-policy"].endswith(f"/public/policies/{reserved['id']}")
    coffee = tdmrep_applies(rules, "/img/coffee*.jpg?size=2".replace("*", "%2A"))
    assert coffee is not None and coffee["tdm-reservation"] == 0
    assert tdmrep_applies(rules, "/img/coffee-other.jpg?size=2") == {"location": "/", "tdm-reservation": 0}
    assert tdmrep_applies(rules, "/img/chelsea.jpg.bak") == {"location": "/", "tdm-reservation": 0}
    assert tdmrep_applies(rules, "/emma.txt")["tdm-reservation"] == 0  # type: ignore[index]
    assert open_["id"] not in r.text
    ai = env.client.get("/v1/ai.txt", params={"host": "alice.example"}, headers=env.h("alice")).text
    assert "Disallow: /img/chelsea.jpg" in ai and "Allow: /img/coffee%2A.jpg?size=2" in ai
    robots = env.client.get("/v1/robots.txt", params={"host": "alice.example"}, headers=env.h("alice")).text
    assert "User-agent: GPTBot" in robots and "Disallow: /img/chelsea.jpg$" in robots and "coffee" not in robots
    assert env.client.get("/v1/tdmrep.json", params={"host": "http://x/"}, headers=env.h("alice")).status_code == 400
    assert env.client.get("/v1/tdmrep.json", params={"host": "alice.example"}, headers=env.h("op")).status_code == 403
    assert env.client.get("/v1/tdmrep.json", params={"host": "alice.example"}).status_code == 401


def test_soft_binding_resolution_by_iscc_pdq_and_content(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": RESERVED}).json()
    text = env.enroll("bob", EMMA.encode(), "emma.txt", {"opt_outs": RESERVED}).json()
    by_iscc = env.client.get("/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": work["iscc"]})
    assert by_iscc.status_code == 200, by_iscc.text
    (match,) = by_iscc.json()["matches"]
    assert match["manifestId"] == work["id"] and match["similarityScore"] == 100
    assert match["declaration"]["tdmrep"]["tdm-reservation"] == 1
    assert verify_declaration(match["declaration"], _public_key(env))
    content_only = iscc_core.iscc_decompose(work["iscc"])[0]  # the Content-Code alone resolves too
    assert env.client.get("/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": content_only}).json()[
        "matches"][0]["manifestId"] == work["id"]
    text_hit = env.client.get("/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": text["iscc"]}).json()
    assert [m["manifestId"] for m in text_hit["matches"]] == [text["id"]]
    pdq = env.client.post("/v1/checks", files={"file": ("x.jpg", CHELSEA)}, headers=env.h("op")).json()
    query_pdq = pdq["matches"][0]["evidence"]["query_pdq"]
    by_pdq = env.client.get("/v1/matches/byBinding", params={"alg": "pdq", "value": query_pdq}).json()
    assert by_pdq["matches"][0]["manifestId"] == work["id"]
    by_content = env.client.post("/v1/matches/byContent", content=CHELSEA, headers={"content-type": "image/jpeg"})
    assert by_content.status_code == 200 and by_content.json()["matches"][0]["manifestId"] == work["id"]
    for params in ({"alg": "md5", "value": "x"}, {"alg": "io.iscc.v0", "value": "ISCC:NOTACODE"},
                   {"alg": "io.iscc.v0", "value": iscc_core.iscc_decompose(work["iscc"])[2]},  # instance only
                   {"alg": "pdq", "value": "zz"}):
        bad = env.client.get("/v1/matches/byBinding", params=params)
        assert bad.status_code == 400 and bad.json()["error"]["message"], params
    assert env.client.post("/v1/matches/byContent", content=b"\x00\x01garbage").status_code in (400, 415)


def test_checks_and_lookups_accept_an_iscc(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": RESERVED}).json()
    r = env.client.post("/v1/checks", json={"iscc": work["iscc"], "purpose": "ai_training"}, headers=env.h("op"))
    assert r.status_code == 200, r.text
    check = r.json()
    assert check["verdict"] == "blocked" and check["matches"][0]["work_id"] == work["id"]
    assert check["matches"][0]["evidence"]["signal"] == "iscc" and check["matches"][0]["evidence"]["distance"] == 0
    both = env.client.post("/v1/checks", json={"iscc": work["iscc"], "text": "x"}, headers=env.h("op"))
    assert both.status_code == 400
    lookup = env.client.post("/v1/lookups", json={"purpose": "ai_training", "items": [
        {"id": "a", "iscc": work["iscc"]}, {"id": "b", "iscc": "ISCC:EEA5Z4FRE4KI66SU"}]}, headers=env.h("op"))
    assert lookup.status_code in (200, 201), lookup.text
    results = {r["id"]: r for r in lookup.json()["results"]}
    assert results["a"]["reason"] == "reserved" and results["a"]["matches"][0]["by"] == "iscc"
    assert results["b"]["reason"] == "no_match"
    bad = env.client.post("/v1/lookups", json={"purpose": "ai_training", "items": [{"id": "a", "iscc": "nope"}]},
                          headers=env.h("op"))
    assert bad.status_code == 400 and "item 0" in bad.json()["error"]["message"]


def test_enrollment_reads_c2pa_and_xmp_and_the_creators_choice_wins(env: Env) -> None:
    from tests.test_crosswalk import jpeg

    signed = with_c2pa(jpeg((10, 200, 10)), "cawg.training-mining", {"cawg.ai_training": {"use": "notAllowed"}})
    work = env.enroll("alice", signed, "signed.jpg").json()
    assert work["opt_outs"]["ai_training"]["use"] == "notAllowed"
    assert work["opt_out_sources"]["ai_training"].startswith("c2pa:cawg.training-mining")
    assert work["opt_out_sources"]["data_mining"] == "registry_default"
    tagged = with_xmp(jpeg((10, 10, 200)), xmp_packet("DMI-ALLOWED"))
    open_work = env.enroll("alice", tagged, "tagged.jpg").json()
    assert open_work["opt_outs"]["data_mining"]["use"] == "allowed"
    assert open_work["opt_out_sources"]["data_mining"] == "xmp:plus:DataMining"
    assert open_work["opt_out_sources"]["release"] == "registry_default"
    chosen = env.enroll("bob", tagged, "tagged.jpg", {"opt_outs": RESERVED}).json()
    assert chosen["opt_outs"]["ai_training"]["use"] == "notAllowed"
    assert set(chosen["opt_out_sources"].values()) == {"request"}
    changed = env.client.patch(f"/v1/works/{work['id']}", json={"opt_outs": {"data_mining": {"use": "allowed"}}},
                               headers=env.h("alice")).json()
    assert changed["opt_out_sources"]["data_mining"] == "request"
    assert changed["opt_out_sources"]["ai_training"].startswith("c2pa:")


def test_account_defaults_set_what_new_works_publish(env: Env) -> None:
    offer = {"purposes": ["release"], "price": {"amount_minor": 300, "currency": "EUR"}, "per": "output"}
    r = env.client.put("/v1/me/defaults", json={"publish": {"title": True, "owner": False},
                                                "opt_outs": RESERVED, "offers": [offer]}, headers=env.h("alice"))
    assert r.status_code == 200, r.text
    assert r.json()["offers"][0]["id"] == "offer-1"
    assert env.client.get("/v1/me/defaults", headers=env.h("alice")).json()["publish"] == {"title": True,
                                                                                          "owner": False}
    work = env.enroll("alice", CHELSEA, "c.jpg").json()
    assert work["publish"] == {"title": True, "owner": False} and work["offers"][0]["price"]["amount_minor"] == 300
    assert work["opt_out_sources"]["ai_training"] == "account_default"
    doc = env.client.get(f"/public/works/{work['id']}").json()
    assert doc["title"] == "c.jpg" and "owner" not in doc
    assert env.client.put("/v1/me/defaults", json={"publish": {"title": 1}}, headers=env.h("alice")).status_code == 400
    assert env.client.put("/v1/me/defaults", json={}, headers=env.h("op")).status_code == 403


def test_code_index_agrees_with_brute_force() -> None:
    import random

    rng = random.Random(3)
    index = CodeIndex()
    bodies: dict[str, int] = {}
    for n in range(400):
        body = rng.getrandbits(64)
        if n % 7 == 0 and bodies:  # near copies of earlier codes
            body = next(iter(bodies.values())) ^ (1 << rng.randrange(64))
        code = "ISCC:" + iscc_core.encode_component(mtype=iscc_core.MT.CONTENT, stype=iscc_core.ST_CC.IMAGE,
                                                     version=iscc_core.VS.V0, bit_length=64,
                                                     digest=body.to_bytes(8, "big"))
        bodies[f"w{n}"] = body
        index.add(f"w{n}", code)
    for gone in ("w3", "w10", "w399"):
        index.remove(gone)
        bodies.pop(gone)
    assert len(index) == len(bodies)
    for query in [rng.getrandbits(64) for _ in range(20)] + list(bodies.values())[:20]:
        for limit in (0, 4, 24):
            want = sorted(((w, bin(b ^ query).count("1")) for w, b in bodies.items()
                           if bin(b ^ query).count("1") <= limit), key=lambda x: (x[1], x[0]))
            got = index.search(WorkKind.IMAGE, query, limit)
            assert sorted(got, key=lambda x: (x[1], x[0])) == want
            assert [d for _, d in got] == sorted(d for _, d in got)
    assert index.search(WorkKind.TEXT, 0, 64) == []
    assert content_unit("ISCC:EEA5Z4FRE4KI66SU")[0] == WorkKind.IMAGE


def test_a_saved_declaration_verifies_offline_with_the_cli(env: Env, tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from api.cli import app

    work = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": RESERVED}).json()
    saved = tmp_path / "declaration.json"
    saved.write_bytes(env.client.get(f"/public/works/{work['id']}").content)
    key = tmp_path / "key.json"
    key.write_bytes(env.client.get("/public/key").content)
    ok = CliRunner().invoke(app, ["verify-declaration", str(saved), "--key", str(key)])
    assert ok.exit_code == 0 and "declaration OK" in ok.output and "tdm-reservation 1" in ok.output
    doc = json.loads(saved.read_bytes())
    doc["tdmrep"]["tdm-reservation"] = 0
    saved.write_text(json.dumps(doc))
    bad = CliRunner().invoke(app, ["verify-declaration", str(saved), "--key", str(key)])
    assert bad.exit_code == 1 and "FAILS" in bad.output


def test_keyless_requests_are_rate_limited_per_address_and_bad_keys_throttled(tmp_path: Any, embedder: Any) -> None:
    from tests.conftest import open_env

    with open_env(tmp_path, embedder, public_rate_limit_per_minute=25, max_failed_signins=3) as env:
        work = env.enroll("alice", CHELSEA, "c.jpg").json()
        codes = [env.client.get(f"/public/works/{work['id']}").status_code for _ in range(20)]
        assert set(codes) == {200}
        matched = env.client.post("/v1/matches/byContent", content=CHELSEA)  # 10 units: 30 > 25
        assert matched.status_code == 429 and matched.headers["retry-after"]
        assert "API key" in matched.json()["error"]["message"]
        with_key = env.client.post("/v1/matches/byContent", content=CHELSEA, headers=env.h("op"))
        assert with_key.status_code == 200  # an operator's key has its own rate
        bad = {"Authorization": "Bearer not-a-key"}
        assert [env.client.get("/v1/matches/byBinding", params={"alg": "pdq", "value": "0" * 64},
                               headers=bad).status_code for _ in range(4)] == [401, 401, 401, 429]


def test_code_lookups_open_the_indexes_of_a_registry_that_has_not_matched_yet(env: Env, embedder: Any) -> None:
    from service.wiring import open_registry

    work = env.enroll("alice", CHELSEA, "c.jpg").json()
    other = open_registry(env.settings.service, sync=False, embedder=embedder)  # another process, not yet opened
    try:
        assert not other.indexes.opened
        found = other.publication.by_binding("io.iscc.v0", work["iscc"], "http://r.example")
        assert [m.manifestId for m in found.matches] == [work["id"]] and other.indexes.opened
    finally:
        other.close()

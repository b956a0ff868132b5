"""The offline opt-out bank: contents, signature, updates since a cursor, HMA form, who may read it."""

import base64
import hashlib
import io
from pathlib import Path

import msgspec
import numpy as np
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from matcher.image.embed import Embedder
from service.bank import CONTEXT, BankError, verify
from service.transparency import load_public_key
from service.wiring import open_registry
from tests.conftest import FIXTURES, Env
from tests.test_api import CHELSEA, EMMA

COFFEE = (FIXTURES / "images" / "coffee.jpg").read_bytes()
RESERVED = {"ai_training": {"use": "notAllowed"}}


def _lines(body: bytes) -> list[bytes]:
    return [line + b"\n" for line in body.split(b"\n") if line]


def test_the_bank_holds_the_reserved_works_signed(env: Env) -> None:
    img = env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": RESERVED,
                                                         "locations": ["https://a.example/c.jpg"]}).json()
    text = env.enroll("bob", EMMA.encode(), "emma.txt", {"opt_outs": {
        "ai_training": {"use": "constrained", "constraint_info": "pay per use"}}}).json()
    env.enroll("bob", COFFEE, "coffee.jpg", {"opt_outs": {"ai_training": {"use": "allowed"}}})
    r = env.client.get("/v1/bank?purpose=ai_training", headers=env.h("op"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    key = load_public_key(env.client.get("/v1/bank/key").json()["public_key_pem"])
    header, entries = verify(_lines(r.content), key)
    assert header["purpose"] == "ai_training" and header["since"] is None
    by_id = {e["work_id"]: e for e in entries}
    assert by_id.keys() == {img["id"], text["id"]}  # the allowed work is not in a bank of reservations
    assert by_id[img["id"]]["sha256"] == hashlib.sha256(CHELSEA).hexdigest()
    assert by_id[img["id"]]["locations"] == ["https://a.example/c.jpg"]
    assert len(str(by_id[img["id"]]["pdq"])) == 64
    assert by_id[img["id"]]["uses"] == {"ai_training": "notAllowed", "ai_generative_training": "notAllowed",
                                        "ai_inference": "notAllowed", "data_mining": "notAllowed",
                                        "release": "license"}
    sigs = np.frombuffer(base64.b64decode(str(by_id[text["id"]]["minhash16"])), dtype="<u2").reshape(-1, 128)
    assert len(sigs) == by_id[text["id"]]["signatures"] and len(sigs) > 1
    # any change to the bytes is caught: an edited entry, a dropped entry, an appended one, another key
    lines = _lines(r.content)
    edited = lines[1].replace(b"notAllowed", b"allowed") if b"notAllowed" in lines[1] else lines[1][:-2] + b" }\n"
    for tampered in ([lines[0], edited, *lines[2:]], [lines[0], *lines[2:]], [*lines, lines[1]], lines[:-1]):
        with pytest.raises(BankError):
            verify(tampered, key)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with pytest.raises(BankError, match="does not verify"):
        verify(lines, Ed25519PrivateKey.generate().public_key())


def test_updates_since_a_cursor_and_the_hma_form(env: Env) -> None:
    first = env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": RESERVED}).json()
    second = env.enroll("bob", EMMA.encode(), "emma.txt", {"opt_outs": RESERVED}).json()
    key = load_public_key(env.client.get("/v1/bank/key").json()["public_key_pem"])
    header, _ = verify(_lines(env.client.get("/v1/bank", headers=env.h("audit")).content), key)
    cursor = header["cursor"]
    env.client.delete(f"/v1/works/{first['id']}", headers=env.h("alice"))
    env.client.patch(f"/v1/works/{second['id']}", json={"opt_outs": {"ai_training": {"use": "allowed"}}},
                     headers=env.h("bob"))
    third = env.enroll("bob", COFFEE, "coffee.jpg", {"opt_outs": RESERVED}).json()
    r = env.client.get(f"/v1/bank?since={cursor}", headers=env.h("op"))
    update_header, entries = verify(_lines(r.content), key)
    assert update_header["since"] == cursor and int(str(update_header["cursor"])) > int(str(cursor))
    assert {e["work_id"]: e.get("removed", False) for e in entries} == {
        first["id"]: True, second["id"]: True, third["id"]: False}
    empty = verify(_lines(env.client.get(f"/v1/bank?since={update_header['cursor']}",
                                          headers=env.h("op")).content), key)[1]
    assert empty == []
    r = env.client.get("/v1/bank?format=hma", headers=env.h("op"))
    assert r.status_code == 200
    assert r.text.splitlines() == [f"pdq {next(e for e in entries if e['work_id'] == third['id'])['pdq']}"]
    key.verify(base64.b64decode(r.headers["x-provenance-signature"]), CONTEXT + hashlib.sha256(r.content).digest())
    for bad in ("since=-1", "since=999999", "purpose=release", "format=csv", "format=hma&since=1"):
        r = env.client.get(f"/v1/bank?{bad}", headers=env.h("op"))
        assert r.status_code == 400, bad


def test_who_may_read_the_bank(env: Env, tmp_path: Path, embedder: Embedder) -> None:
    assert env.client.get("/v1/bank").status_code == 401
    assert env.client.get("/v1/bank", headers={"Authorization": "Bearer pvk_nope"}).status_code == 401
    assert env.client.get("/v1/bank", headers=env.h("alice")).status_code == 403
    assert env.client.get("/v1/bank/key").status_code == 200
    settings = Settings.load(data_dir=tmp_path / "public", public_bank=True)
    registry = open_registry(settings.service, embedder=embedder)
    try:
        with TestClient(create_app(settings, registry)) as client:
            r = client.get("/v1/bank")
            assert r.status_code == 200
            header = msgspec.json.decode(io.BytesIO(r.content).readline())
            assert header["bank"] == "provenance-opt-out-bank"
    finally:
        registry.close()

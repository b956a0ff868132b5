"""Exclusions: a public-domain source a work builds on stops matching the work; copies of the work still match."""

import io
from pathlib import Path

from PIL import Image, ImageDraw

from matcher.image.embed import Embedder
from service.wiring import open_registry
from tests.conftest import FIXTURES, Env


def _jpg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _source_and_derivative() -> tuple[Image.Image, Image.Image]:
    source = Image.open(FIXTURES / "images" / "coffee.jpg").convert("RGB")
    derivative = source.copy()
    draw = ImageDraw.Draw(derivative)
    draw.rectangle([0, 0, source.width, source.height // 4], fill=(200, 30, 30))
    draw.ellipse([source.width // 3, source.height // 3, source.width // 2, source.height // 2], fill=(20, 200, 40))
    return source, derivative


def _matched(env: Env, data: bytes) -> list[str]:
    r = env.client.post("/v1/checks", files={"file": ("o.jpg", data)}, headers=env.h("op"))
    assert r.status_code == 200, r.text
    return [m["work_id"] for m in r.json()["matches"]]


def test_a_work_stops_matching_copies_of_its_excluded_source_but_not_copies_of_itself(env: Env) -> None:
    source, derivative = _source_and_derivative()
    work = env.enroll("alice", _jpg(derivative), "derivative.jpg").json()
    assert _matched(env, _jpg(source, 60)) == [work["id"]]  # before: the source's copy matches the work

    made = env.client.post("/v1/exclusions", files={"file": ("source.jpg", _jpg(source))},
                           data={"work_id": work["id"], "note": "the public-domain photograph it builds on"},
                           headers=env.h("alice"))
    assert made.status_code == 201, made.text
    exclusion = made.json()
    assert exclusion["work_id"] == work["id"] and exclusion["id"].startswith("exc_")

    assert _matched(env, _jpg(source, 60)) == []
    assert _matched(env, _jpg(derivative, 60)) == [work["id"]]
    lookup = env.client.post("/v1/lookups?purpose=ai_training", files=[("files", ("s.jpg", _jpg(source, 60)))],
                             headers=env.h("op"))
    assert lookup.status_code == 200, lookup.text
    assert lookup.json()["results"][0]["reason"] == "no_match"
    # the exclusion itself never shows up as a match anywhere
    assert "exc_" not in env.client.get("/v1/checks", headers=env.h("op")).text

    assert env.client.delete(f"/v1/exclusions/{exclusion['id']}", headers=env.h("bob")).status_code == 404
    assert env.client.delete(f"/v1/exclusions/{exclusion['id']}", headers=env.h("alice")).status_code == 200
    assert _matched(env, _jpg(source, 60)) == [work["id"]]
    actions = [e["action"] for e in env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]]
    assert "exclusion.added" in actions and "exclusion.removed" in actions


def test_who_may_exclude_what(env: Env) -> None:
    source, derivative = _source_and_derivative()
    work = env.enroll("alice", _jpg(derivative), "derivative.jpg").json()
    files = {"file": ("source.jpg", _jpg(source))}
    assert env.client.post("/v1/exclusions", files=files, headers=env.h("alice")).status_code == 400  # no work
    assert env.client.post("/v1/exclusions", files=files, data={"work_id": work["id"]},
                           headers=env.h("bob")).status_code == 404
    assert env.client.post("/v1/exclusions", files=files, headers=env.h("op")).status_code == 403
    text = {"file": ("a.txt", b"a public domain poem " * 20)}
    wrong_kind = env.client.post("/v1/exclusions", files=text, data={"work_id": work["id"]}, headers=env.h("alice"))
    assert wrong_kind.status_code == 400 and "image" in wrong_kind.json()["error"]["message"]
    assert env.client.get("/v1/exclusions", headers=env.h("audit")).json()["items"] == []  # nothing left behind
    everywhere = env.client.post("/v1/exclusions", files=files, headers=env.h("root"))
    assert everywhere.status_code == 201 and everywhere.json()["work_id"] is None
    assert env.client.post("/v1/exclusions", files=files, headers=env.h("root")).status_code == 409
    assert _matched(env, _jpg(source, 60)) == []
    assert env.client.get("/v1/exclusions", headers=env.h("alice")).json()["items"] == []  # not hers
    assert len(env.client.get("/v1/exclusions", headers=env.h("audit")).json()["items"]) == 1


def test_another_replica_follows_exclusions(env: Env, embedder: Embedder, tmp_path: Path) -> None:
    source, derivative = _source_and_derivative()
    work = env.enroll("alice", _jpg(derivative), "derivative.jpg").json()
    replica = open_registry(env.settings.service, embedder=embedder)
    try:
        env.client.post("/v1/exclusions", files={"file": ("s.jpg", _jpg(source))}, data={"work_id": work["id"]},
                        headers=env.h("alice"))
        replica.indexes.apply_changes()
        op = replica.store.find_account("op")
        assert op is not None
        assert replica.check(op, _jpg(source, 60), filename="o.jpg").matches == []
        assert replica.indexes.lag() == (0, 0.0)
    finally:
        replica.close()

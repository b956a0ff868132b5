"""What a new user stumbled on in their first hour, each fixed: `release` in both shapes, the evidence next to
a score, export names, a confirmed recomputation, works with one title told apart, the 413 and purpose
messages."""

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.conftest import FIXTURES, Env
from tests.web_client import web_client

IMAGE = (FIXTURES / "images" / "chelsea.jpg").read_bytes()
TEXT = (FIXTURES / "texts" / "emma-ch001.txt").read_text()


@pytest.fixture
def browser_of(env: Env) -> Iterator[dict[str, TestClient]]:  # type: ignore[type-arg]
    clients = {who: web_client(create_app(env.settings, env.registry), env.keys[who]) for who in ("alice", "audit",
                                                                                                  "op")}
    yield clients
    for c in clients.values():
        c.__exit__(None, None, None)


def test_release_is_accepted_in_both_shapes_and_answered_in_one(env: Env) -> None:
    work = env.enroll("alice", IMAGE, "cat.jpg", {"opt_outs": {"release": {"use": "attribution"}}})
    assert work.status_code == 201 and work.json()["opt_outs"]["release"] == "attribution"
    patched = env.client.patch(f"/v1/works/{work.json()['id']}", json={"opt_outs": {"release": {"use": "license"}}},
                               headers=env.h("alice"))
    assert patched.status_code == 200 and patched.json()["opt_outs"]["release"] == "license"
    bad = env.client.patch(f"/v1/works/{work.json()['id']}", json={"opt_outs": {"release": {"use": "maybe"}}},
                           headers=env.h("alice"))
    message = bad.json()["error"]["message"]
    assert bad.status_code == 400 and "opt_outs.release.use" in message and "attribution" in message


def test_the_check_page_says_what_the_score_rests_on(env: Env, browser_of: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    env.enroll("alice", IMAGE, "cat.jpg")
    env.enroll("alice", TEXT.encode(), "emma.txt")
    image = env.client.post("/v1/checks", files={"file": ("o.jpg", IMAGE)}, headers=env.h("op")).json()
    excerpt = " ".join(TEXT.split()[100:260])
    text = env.client.post("/v1/checks", json={"text": excerpt}, headers=env.h("op")).json()
    assert "identical pixels" in browser_of["op"].get(f"/checks/{image['id']}").text
    page = browser_of["op"].get(f"/checks/{text['id']}").text
    assert 'data-testid="strength"' in page and "words copied" in page


def test_exports_are_named_by_their_filters_and_day(env: Env, browser_of: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    r = browser_of["audit"].get("/audit/export.csv", params={"verdict": "blocked", "operator": "op"})
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    assert "checks-verdict-blocked-operator-op-20" in disposition and disposition.endswith('.csv"')


def test_recompute_now_says_it_did(env: Env, browser_of: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    assert 'data-testid="rechecked"' not in browser_of["audit"].get("/audit/log").text
    assert 'data-testid="rechecked"' in browser_of["audit"].get("/audit/log?recheck=true").text


def test_works_with_one_title_are_told_apart(env: Env, browser_of: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    a = env.enroll("alice", b"The first poem called Untitled. " * 30, "Untitled.txt").json()
    b = env.enroll("alice", b"Another poem, also called Untitled. " * 30, "Untitled.txt").json()
    page = browser_of["alice"].get("/works").text
    assert a["id"][:10] in page and b["id"][:10] in page


def test_bad_purposes_and_big_bodies_say_what_is_accepted(env: Env) -> None:
    r = env.client.post("/v1/checks", files={"file": ("o.txt", b"some text here")}, data={"purpose": "fun"},
                        headers=env.h("op"))
    assert r.status_code == 400 and "ai_training" in r.json()["error"]["message"]
    big = env.client.post("/v1/works", files={"file": ("big.txt", b"x" * 2_100_000)}, headers=env.h("alice"))
    assert big.status_code == 413 and "over the limit of" in big.json()["error"]["message"]
    as_json = env.client.post("/v1/checks", json={"text": "some text here", "purpose": "fun"}, headers=env.h("op"))
    assert as_json.status_code == 400 and "ai_generative_training" in as_json.json()["error"]["message"]

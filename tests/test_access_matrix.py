"""One role x resource matrix, run through the HTTP API and through the web pages: both faces must give the
same answer (allowed, forbidden by role, or hidden as not found), and that answer must be the README's table.

Also: a creator sees a check that matched their work with only their own matches, in both faces.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from matcher.image.embed import Embedder
from registry.claims import DisputeReason
from registry.ids import utcnow
from registry.models import Role
from registry.money import Money
from registry.terms import Offer
from service.licensing import GrantRequest, NewPool
from service.registry import Registry
from service.wiring import open_registry
from tests.conftest import FIXTURES
from tests.web_client import csrf_token, web_client

CHELSEA = (FIXTURES / "images" / "chelsea.jpg").read_bytes()
TEXTS = sorted((FIXTURES / "texts").glob("*.txt"))
PEOPLE = ["root", "alice", "bob", "op", "op2", "audit"]
ROLES = {"root": Role.ADMIN, "alice": Role.CREATOR, "bob": Role.CREATOR, "op": Role.OPERATOR,
         "op2": Role.OPERATOR, "audit": Role.AUDITOR}

# A: allowed, F: forbidden for the role (403), H: hidden (404). alice owns the work; op made the check.
EXPECTED = {
    #                 root alice bob  op   op2  audit
    "read work":      "A    A    H    F    F    A",
    "change terms":   "A    A    H    F    F    F",
    "work matches":   "A    A    H    F    F    A",
    "read check":     "A    A    H    A    H    A",
    "kept output":    "A    A    H    A    H    A",
    "original":       "A    A    H    F    F    H",
    "list works":     "A    A    A    F    F    A",
    "enroll":         "A    A    A    F    F    F",
    "check":          "A    F    F    A    A    F",
    "audit log":      "A    F    F    F    F    A",
    "read dispute":   "A    A    H    A    H    A",
    "list disputes":  "A    A    A    A    A    A",
    "conflicts":      "A    A    A    F    F    A",
    "inbox":          "A    A    A    A    A    A",
    "licences":       "A    A    A    A    A    A",
    "answer grant":   "A    A    H    F    F    F",
    "pool statement": "A    F    F    A    H    A",
}


@dataclass
class World:
    registry: Registry
    api: TestClient  # type: ignore[type-arg]
    web: dict[str, TestClient]  # type: ignore[type-arg]
    keys: dict[str, str]
    work: str
    check: str
    shared_check: str  # matched alice's text and bob's text
    dispute: str  # op's dispute of the check's match with alice's work
    grant: str  # op's request for a licence of alice's work
    pool: str  # op's payout pool


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[World]:
    data = tmp_path_factory.mktemp("access") / "data"
    settings = Settings.load(data_dir=data, max_upload_bytes=2_000_000)
    registry = open_registry(settings.service, embedder=embedder)
    keys = {who: registry.create_key(who, role)[1] for who, role in ROLES.items()}
    accounts = {who: registry.authenticate(keys[who]) for who in PEOPLE}
    alice, bob, op = (accounts[w][1] for w in ("alice", "bob", "op"))  # type: ignore[index]
    work = registry.enroll(alice, CHELSEA, title="chelsea.jpg")
    check = registry.check(op, CHELSEA)
    alice_text, bob_text = TEXTS[0].read_text(), TEXTS[1].read_text()
    registry.enroll(alice, alice_text.encode(), title="alice's text")
    registry.enroll(bob, bob_text.encode(), title="bob's text")
    mixed = " ".join(alice_text.split()[100:260]) + " " + " ".join(bob_text.split()[100:260])
    shared = registry.check(op, mixed.encode())
    assert {m.owner_id for m in shared.matches} == {alice.id, bob.id}
    dispute = registry.disputes.open(op, check.id, work.id, DisputeReason.MISIDENTIFIED)
    offer = Offer(id="std", purposes=("release",), price=Money(amount_minor=100, currency="EUR"), per="output")
    registry.update_terms(alice, work.id, None, None, offers=[offer])
    grant = registry.licensing.request(op, GrantRequest(work_id=work.id, offer_id="std", purpose="release"))
    now = utcnow()
    pool = registry.licensing.create_pool(op, NewPool(name="p", amount_minor=100, currency="EUR", basis="checks",
                                                      from_=now - timedelta(days=1), until=now))
    api = TestClient(create_app(settings, registry))  # one app a client: each runs its own lifespan
    api.__enter__()
    web = {who: web_client(create_app(settings, registry), keys[who]) for who in PEOPLE}
    yield World(registry, api, web, keys, work.id, check.id, shared.id, dispute.id, grant.id, pool.id)
    for c in [api, *web.values()]:
        c.__exit__(None, None, None)
    registry.close()


def classify(status: int) -> str:
    if status == 403:
        return "F"
    if status == 404:
        return "H"
    assert status < 500, status
    assert status not in (401, 302, 303), status  # every client here is signed in
    return "A"  # 2xx, or a 4xx about the input (the request got past the access rules)


def _api(w: World, who: str, resource: str) -> int:
    h = {"Authorization": f"Bearer {w.keys[who]}"}
    c = w.api
    requests: dict[str, Callable[[], Any]] = {
        "read work": lambda: c.get(f"/v1/works/{w.work}", headers=h),
        "change terms": lambda: c.patch(f"/v1/works/{w.work}", headers=h, json={"opt_outs": {"release": "license"}}),
        "work matches": lambda: c.get(f"/v1/works/{w.work}/matches", headers=h),
        "read check": lambda: c.get(f"/v1/checks/{w.check}", headers=h),
        "kept output": lambda: c.get(f"/v1/checks/{w.check}/output", headers=h),
        "original": lambda: c.get(f"/v1/works/{w.work}/original", headers=h),
        "list works": lambda: c.get("/v1/works", headers=h),
        "enroll": lambda: c.post("/v1/works", headers=h, files={"file": ("empty.txt", b"")}),
        "check": lambda: c.post("/v1/checks", headers=h, files={"file": ("empty.txt", b"")}),
        "audit log": lambda: c.get("/v1/audit/log", headers=h),
        "read dispute": lambda: c.get(f"/v1/disputes/{w.dispute}", headers=h),
        "list disputes": lambda: c.get("/v1/disputes", headers=h),
        "conflicts": lambda: c.get("/v1/conflicts", headers=h),
        "inbox": lambda: c.get("/v1/notifications", headers=h),
        "licences": lambda: c.get("/v1/grants", headers=h),
        "answer grant": lambda: c.post(f"/v1/grants/{w.grant}/deny", headers=h),  # the first denies, then 409
        "pool statement": lambda: c.get(f"/v1/pools/{w.pool}/statements", headers=h),
    }
    return int(requests[resource]().status_code)


def _web(w: World, who: str, resource: str) -> int:
    c = w.web[who]
    token = {"x-csrftoken": csrf_token(c, "/signin")}
    requests: dict[str, Callable[[], Any]] = {
        "read work": lambda: c.get(f"/works/{w.work}"),
        "change terms": lambda: c.get(f"/works/{w.work}/terms"),
        "work matches": lambda: c.get(f"/works/{w.work}/matches/{w.check}"),
        "read check": lambda: c.get(f"/checks/{w.check}"),
        "kept output": lambda: c.get(f"/media/checks/{w.check}/view"),
        "original": lambda: c.get(f"/media/works/{w.work}/view"),
        "list works": lambda: c.get("/works"),
        "enroll": lambda: c.post("/works/upload", headers={**token, "accept": "application/json"},
                                 files={"file": ("empty.txt", b"")}),
        "check": lambda: c.post("/check", headers=token, files={"file": ("empty.txt", b"")}),
        "audit log": lambda: c.get("/audit/log"),
        "read dispute": lambda: c.get(f"/disputes/{w.dispute}"),
        "list disputes": lambda: c.get("/disputes"),
        "conflicts": lambda: c.get("/conflicts"),
        "inbox": lambda: c.get("/inbox"),
        "licences": lambda: c.get("/licensing"),
        "answer grant": lambda: c.post(f"/licensing/grants/{w.grant}/deny", headers=token),
        "pool statement": lambda: c.get(f"/licensing/pools/{w.pool}"),
    }
    return int(requests[resource]().status_code)


@pytest.mark.parametrize("resource", list(EXPECTED))
def test_the_api_and_the_web_give_the_same_answers(world: World, resource: str) -> None:
    expected = dict(zip(PEOPLE, EXPECTED[resource].split(), strict=True))
    api = {who: classify(_api(world, who, resource)) for who in PEOPLE}
    web = {who: classify(_web(world, who, resource)) for who in PEOPLE}
    assert api == web, f"{resource}: API {api} but web {web}"
    assert api == expected, f"{resource}: {api}, the README's table says {expected}"


def test_a_creator_sees_only_the_matches_on_their_own_works(world: World) -> None:
    titles = {"alice": "alice's text", "bob": "bob's text"}
    for who, other in (("alice", "bob"), ("bob", "alice")):
        h = {"Authorization": f"Bearer {world.keys[who]}"}
        body = world.api.get(f"/v1/checks/{world.shared_check}", headers=h).json()
        assert [m["title"] for m in body["matches"]] == [titles[who]]
        own_work = body["matches"][0]["work_id"]
        listed = world.api.get(f"/v1/works/{own_work}/matches", headers=h).json()["items"]
        shared = next(c for c in listed if c["id"] == world.shared_check)
        assert [m["title"] for m in shared["matches"]] == [titles[who]]
        page = world.web[who].get(f"/checks/{world.shared_check}").text
        assert titles[who].replace("'", "&#39;") in page and titles[other].replace("'", "&#39;") not in page
    for who in ("op", "audit"):  # the operator who made it and the auditors see every match
        h = {"Authorization": f"Bearer {world.keys[who]}"}
        body = world.api.get(f"/v1/checks/{world.shared_check}", headers=h).json()
        assert sorted(m["title"] for m in body["matches"]) == sorted(titles.values())


def test_the_readme_table_is_the_policy() -> None:
    """The README's access table lists the same answers as EXPECTED (one row per resource)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("<!-- access-table -->")[1]
    for resource, row in EXPECTED.items():
        cells = [{"A": "yes", "F": "403", "H": "404"}[c] for c in row.split()]
        assert f"| {resource} | {' | '.join(cells)} |" in section, resource


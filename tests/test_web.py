"""The web pages through litestar's test client: who may open what, CSRF, sessions, bad input on the forms,
and the pieces that turn evidence into pictures and marked texts. The browser walk is in test_web_browser."""

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from api.web.evidence import Box, excerpts, merge
from api.web.export import csv_lines
from api.web.forms import terms_from_form
from api.web.views import region, strength, view_for
from matcher.image.embed import Embedder
from registry.blobs import BlobStore
from registry.errors import InvalidInput
from registry.evidence import DenseAlignment, Geometry, ImageEvidence
from registry.ids import utcnow
from registry.models import Check, MatchRecord, Role, Verdict, WorkKind
from registry.store import Store
from registry.terms import LicenseTerms, OptOuts
from service.registry import Registry
from service.wiring import open_matchers
from tests.conftest import FIXTURES
from tests.web_client import csrf_token, web_client

CHELSEA = (FIXTURES / "images" / "chelsea.jpg").read_bytes()
EMMA = (FIXTURES / "texts" / "emma-ch001.txt").read_text()


@dataclass
class Web:
    settings: Settings
    registry: Registry
    keys: dict[str, str]
    app_clients: list[TestClient]  # type: ignore[type-arg]

    def client(self, who: str | None = None) -> TestClient:  # type: ignore[type-arg]
        """A browser-like client (cookies kept, asks for HTML), signed in as `who`."""
        c = web_client(create_app(self.settings, self.registry), self.keys[who] if who else None)
        self.app_clients.append(c)
        return c


@pytest.fixture
def web(tmp_path: Path, embedder: Embedder, store_factory: Callable[[], Store]) -> Iterator[Web]:
    """The app over a real registry, once on SQLite and once on PostgreSQL."""
    settings = Settings.load(data_dir=tmp_path / "data", max_upload_bytes=2_000_000)
    store_factory()  # the first store is the one the factory drops the database with, after the registry closed
    store = store_factory()
    blobs = BlobStore(settings.data_dir / "blobs")
    registry = Registry(settings.service, store, blobs,
                        lambda: open_matchers(settings.service, store, blobs, embedder=embedder))
    keys = {name: registry.create_key(name, role)[1] for name, role in [
        ("root", Role.ADMIN), ("alice", Role.CREATOR), ("bob", Role.CREATOR), ("op", Role.OPERATOR),
        ("audit", Role.AUDITOR)]}
    w = Web(settings, registry, keys, [])
    yield w
    for c in w.app_clients:
        c.__exit__(None, None, None)
    registry.close()


def test_pages_by_role(web: Web) -> None:
    alice = web.registry.store.find_account("alice")
    assert alice is not None
    work = web.registry.enroll(alice, CHELSEA, title="chelsea.jpg")
    op = web.registry.store.find_account("op")
    assert op is not None
    check = web.registry.check(op, CHELSEA)
    pages = ["/works", "/works/enroll", f"/works/{work.id}", f"/works/{work.id}/terms",
             f"/works/{work.id}/matches/{check.id}", f"/media/works/{work.id}/thumb", "/check", "/checks",
             f"/checks/{check.id}", f"/media/checks/{check.id}/view", "/audit", "/audit/log",
             "/audit/export.csv", "/audit/export.ndjson"]
    expected = {
        "alice": [200, 200, 200, 200, 200, 200, 403, 403, 200, 200, 403, 403, 403, 403],
        "bob": [200, 200, 404, 404, 404, 404, 403, 403, 404, 404, 403, 403, 403, 403],
        "op": [403, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403, 403],
        "audit": [200, 403, 200, 403, 200, 404, 403, 403, 200, 200, 200, 200, 200, 200],
        "root": [200] * 14,
    }
    for who, statuses in expected.items():
        client = web.client(who)
        got = [client.get(p, follow_redirects=False).status_code for p in pages]
        assert got == statuses, who
    anonymous = web.client()
    for p in pages:
        r = anonymous.get(p, follow_redirects=False)
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/signin?next="), p
    # a script (no text/html) gets a JSON 401 instead of a redirect
    r = anonymous.get("/works", headers={"accept": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


def test_forms_need_their_csrf_token(web: Web) -> None:
    client = web.client()
    r = client.post("/signin", data={"key": web.keys["alice"]}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    signed_in = web.client("alice")
    r = signed_in.post("/works/upload", files={"file": ("chelsea.jpg", CHELSEA)},
                       headers={"accept": "application/json"})
    assert r.status_code == 403
    assert web.registry.store.list_works() == []
    r = signed_in.post("/works/upload", files={"file": ("chelsea.jpg", CHELSEA)},
                       headers={"accept": "application/json", "x-csrftoken": csrf_token(signed_in, "/works/enroll")})
    assert r.status_code == 201 and r.json()["outcome"] == "enrolled"


def test_sign_in_does_not_redirect_off_site(web: Web) -> None:
    client = web.client()
    for target, expected in [("//evil.example/", "/works"), ("https://evil.example/", "/works"),
                             ("/works/enroll", "/works/enroll")]:
        r = client.post("/signin", data={"key": web.keys["alice"], "next": target,
                                         "_csrf_token": csrf_token(client, "/signin")}, follow_redirects=False)
        assert r.headers["location"] == expected, target


def test_a_tampered_session_cookie_is_not_a_session(web: Web) -> None:
    client = web.client("alice")
    assert client.get("/works", follow_redirects=False).status_code == 200
    cookie = client.cookies["provenance_session"]
    client.cookies.set("provenance_session", cookie[:-6] + ("AAAAAA" if not cookie.endswith("AAAAAA") else "BBBBBB"))
    r = client.get("/works", follow_redirects=False)
    assert r.status_code in (302, 303) and r.headers["location"].startswith("/signin")


def test_bad_uploads_and_terms_leave_nothing(web: Web) -> None:
    client = web.client("alice")
    csrf = {"accept": "application/json", "x-csrftoken": csrf_token(client, "/works/enroll")}
    entries = web.registry.store.last_seq()
    r = client.post("/works/upload", files={"file": ("paper.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")}, headers=csrf)
    assert r.status_code == 415 and r.json()["message"].startswith("PDF is not supported; send JPEG")
    r = client.post("/works/upload", files={"file": ("empty.png", b"")}, headers=csrf)
    assert r.status_code == 415 and r.json()["outcome"] == "rejected" and "empty" in r.json()["message"]
    r = client.post("/works/upload", files={"file": ("chelsea.jpg", CHELSEA)}, data={"offer_price": "lots"},
                    headers=csrf)
    assert r.status_code == 400 and "not a number" in r.json()["error"]["message"]
    r = client.post("/works/upload", files={"file": ("chelsea.jpg", CHELSEA)},
                    data={"ai_training": "constrained"}, headers=csrf)
    assert r.status_code == 400 and "constraint_info" in r.json()["error"]["message"]
    r = client.post("/works/upload", files={"file": ("chelsea.jpg", CHELSEA)}, data={"color": "blue"}, headers=csrf)
    assert r.status_code == 400 and "unknown form part 'color'" in r.json()["error"]["message"]
    assert web.registry.store.list_works() == [] and web.registry.store.last_seq() == entries
    # the plain form (no script) takes several files and answers with a page of outcomes
    r = client.post("/works/upload", files=[("file", ("a.jpg", CHELSEA)), ("file", ("b.jpg", CHELSEA)),
                                            ("file", ("c.txt", b"\xff\xfe bad"))],
                    data={"_csrf_token": csrf["x-csrftoken"], "release": "attribution"})
    assert r.status_code == 200
    assert "1 enrolled, 1 already enrolled, 1 rejected" in r.text
    [work] = web.registry.store.list_works()
    assert work.opt_outs.release == "attribution"


def test_error_pages_escape_what_they_echo(web: Web) -> None:
    client = web.client("audit")
    r = client.get("/audit", params={"verdict": "<script>alert(1)</script>"})
    assert r.status_code == 400
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_exports_follow_the_filters(web: Web) -> None:
    alice = web.registry.store.find_account("alice")
    op = web.registry.store.find_account("op")
    assert alice is not None and op is not None
    web.registry.enroll(alice, EMMA.encode(), title="=HYPERLINK(\"http://x\")")
    web.registry.check(op, " ".join(EMMA.split()[50:250]).encode())
    web.registry.check(op, b"Nothing like any enrolled work at all, just a few words about owls.")
    client = web.client("audit")
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/export.csv").text)))
    assert len(rows) == 2
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/export.csv", params={"verdict": "clear"}).text)))
    assert len(rows) == 1 and rows[0]["matched_work_ids"] == ""
    lines = client.get("/audit/export.ndjson", params={"verdict": "license_required"}).text.splitlines()
    assert len(lines) == 1 and msgspec.json.decode(lines[0])["matches"][0]["owner"] == "alice"
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/export.csv", params={"operator": "nobody"}).text)))
    assert rows == []
    r = client.get("/audit/export.csv", params={"since": "last tuesday"})
    assert r.status_code == 400


def test_csv_defuses_spreadsheet_formulas() -> None:
    record = MatchRecord(work_id="wrk_1", score=0.9, evidence=ImageEvidence(), title="=cmd|' /C calc'!A0",
                         owner_id="acc_1",
                         license=LicenseTerms(), opt_outs=OptOuts(), requirement="license_required")
    check = Check(id="chk_1", account_id="acc_2", created_at=utcnow(), purpose="release", kind=WorkKind.TEXT,
                  sha256="0" * 64, verdict=Verdict.LICENSE_REQUIRED, matches=[record], matcher_version="t")
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(iter([check]), {"acc_1": "alice", "acc_2": "+op"})))))
    assert rows[0]["matched_titles"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["operator"] == "'+op" and rows[0]["matched_owners"] == "alice"


def test_excerpts_mark_exactly_the_spans() -> None:
    text = "".join(f"word{i:04d} " for i in range(2000))
    spans = [(100, 200), (150, 260), (9000, 9100)]
    assert merge(spans) == [(100, 260), (9000, 9100)]
    parts = excerpts(text, spans, context=50)
    assert len(parts) == 2 and parts[0].cut_before and parts[1].cut_after
    marked = ["".join(p.text for p in ex.pieces if p.marked) for ex in parts]
    assert marked == [text[100:260], text[9000:9100]]
    for ex in parts:  # the pieces of an excerpt are one contiguous stretch of the text
        assert "".join(p.text for p in ex.pieces) in text
    short = excerpts("a short text", [(2, 7)])
    assert [(p.text, p.marked) for p in short[0].pieces] == [("a ", False), ("short", True), (" text", False)]


def test_region_reads_the_verified_boxes() -> None:
    geometry = Geometry(inliers=20, matches=30, scale=1.0, rotation_deg=0.0, mirrored=False,
                        query_box=(0.1, 0.2, 0.6, 0.9), work_box=(0, 0, 1.2, 1))
    box = region(ImageEvidence(geometry=geometry), "query")
    assert box is not None and (box.x, box.y, box.w) == (0.1, 0.2, 0.5) and abs(box.h - 0.7) < 1e-9
    assert region(ImageEvidence(geometry=geometry), "work") == Box(x=0.0, y=0.0, w=1.0, h=1.0)
    assert region(ImageEvidence(), "query") is None


def test_a_dense_match_says_what_it_rests_on() -> None:
    """A low-detail match has no local features and no PDQ distance: the score line and the evidence table
    name the dense alignment instead of a bare "matched"."""
    evidence = ImageEvidence(cosine=0.91, dense=DenseAlignment(correlation=0.934, how="placed", scale=0.62))
    assert strength(evidence) == "pixel structure aligned, correlation 0.93"
    rows = dict(view_for(evidence).rows(evidence))
    assert rows["Dense alignment"] == "correlation 0.934 (one inside the other, at 0.62x)"
    with_sift = ImageEvidence(geometry=Geometry(inliers=20, matches=30, scale=1.0, rotation_deg=0.0, mirrored=False,
                                                query_box=(0, 0, 1, 1), work_box=(0, 0, 1, 1)),
                              dense=DenseAlignment(correlation=0.9, how="whole"))
    assert strength(with_sift) == "20 matching local features"


def test_terms_form_round_trip() -> None:
    from api.web.forms import offer_from_form, with_form_offer

    form = {"license_id": "CC-BY-NC-4.0", "attribution_required": "on", "offer_price": "3.10",
            "offer_currency": "eur", "offer_per": "year", "offer_purposes": "training", "release": "license",
            "ai_training": "constrained", "ai_training_info": "ask first", "data_mining": "allowed"}
    license, opt_outs = terms_from_form(form)
    assert license.id == "CC-BY-NC-4.0" and license.attribution_required and not license.commercial_use
    offer = offer_from_form(form)
    assert offer is not None and offer.price.amount_minor == 310 and offer.price.currency == "EUR"
    assert offer.per == "year" and offer.purposes == ("ai_training", "ai_generative_training")
    assert offer_from_form({"offer_price": ""}) is None
    kept = with_form_offer([msgspec.structs.replace(offer, id="api-offer"), offer], None)
    assert [o.id for o in kept] == ["api-offer"]  # the form's own offer removed, the API's kept
    edited = with_form_offer([msgspec.structs.replace(offer, id="api-offer")], offer)
    assert [o.id for o in edited] == ["api-offer"] and edited[0].per == "year"  # no form offer: the first
    assert opt_outs.ai_training.constraint_info == "ask first" and opt_outs.data_mining.use == "allowed"
    assert opt_outs.ai_inference.use == "notAllowed"
    for bad in ({"license_id": "not a license!"}, {"release": "sometimes"}, {"ai_inference": "maybe"}):
        with pytest.raises(InvalidInput):
            terms_from_form(bad)
    for bad in ({"offer_price": "-1"}, {"offer_price": "5", "offer_currency": "EURO"}, {"offer_price": "1.234"},
                {"offer_price": "1", "offer_per": "forever"}):
        with pytest.raises(InvalidInput):
            offer_from_form(bad)


def test_the_session_secret_is_made_once_and_shared(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from api.web.security import load_secret

    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_secret(None, tmp_path / "data"), range(16)))
    assert len(secrets) == 1 and len(next(iter(secrets))) == 64
    assert (tmp_path / "data" / "session.key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["session.key"]
    assert load_secret("x" * 40, tmp_path / "other") == "x" * 40
    with pytest.raises(ValueError, match="at least 32"):
        load_secret("short", tmp_path)


def test_edge_filters_on_the_auditor_pages_are_400(web: Web) -> None:
    client = web.client("audit")
    for path, params in [("/audit", {"page": str(10**30)}), ("/audit/log", {"page": "0"}),
                         ("/audit/export.csv", {"since": "0001-01-01T00:00:00+23:59"}),
                         ("/audit/export.ndjson", {"until": "9999-12-31T23:59:59-23:59"})]:
        r = client.get(path, params=params)
        assert r.status_code == 400, (path, params, r.status_code)


def test_signing_out_ends_the_session_on_the_server(web: Web) -> None:
    client = web.client("alice")
    stolen = dict(client.cookies)  # a copy of the session cookie, taken before sign-out
    assert client.get("/works", follow_redirects=False).status_code == 200
    token = csrf_token(client, "/works")
    assert client.post("/signout", headers={"x-csrftoken": token}, follow_redirects=False).status_code in (302, 303)
    thief = web.client()
    thief.cookies.update(stolen)
    r = thief.get("/works", follow_redirects=False)
    assert r.status_code in (302, 303) and r.headers["location"].startswith("/signin")


def test_failed_sign_ins_and_unknown_keys_are_throttled_per_address(tmp_path: Path, web: Web) -> None:
    settings = Settings.load(data_dir=tmp_path / "throttled", max_failed_signins=5)
    app = create_app(settings, web.registry)
    with TestClient(app) as api:
        for _ in range(5):
            assert api.get("/v1/works", headers={"Authorization": "Bearer pvk_guess"}).status_code == 401
        r = api.get("/v1/works", headers={"Authorization": "Bearer pvk_guess"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # the address is refused even with a good key until the window ends
        assert api.get("/v1/works", headers={"Authorization": f"Bearer {web.keys['alice']}"}).status_code == 429
    page = web_client(create_app(settings, web.registry))
    try:
        for _ in range(5):
            r = page.post("/signin", data={"key": "pvk_wrong", "_csrf_token": csrf_token(page, "/signin")})
            assert r.status_code == 401
        r = page.post("/signin", data={"key": web.keys["alice"], "_csrf_token": csrf_token(page, "/signin")})
        assert r.status_code == 429
    finally:
        page.__exit__(None, None, None)


def test_rate_limits_are_shared_through_redis(tmp_path: Path, web: Web) -> None:
    import uuid

    from api.ratelimit import RateLimiter, RedisCounter

    url = os.environ.get("PROVENANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"test:{uuid.uuid4().hex}"
    try:  # two replicas, each with its own connection to the same Redis
        replicas = [RateLimiter(10, RedisCounter(url, prefix=prefix)) for _ in range(2)]
    except ConnectionError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    for i in range(10):
        replicas[i % 2].hit("key_1")
    with pytest.raises(Exception, match="over 10 requests a minute"):
        replicas[1].hit("key_1")


def test_the_auditor_pages_show_the_transparency_log(web: Web) -> None:
    client = web.client("audit")
    web.registry.tree_head()
    page = client.get("/audit/log").text
    assert 'data-testid="transparency"' in page and "last signed head" in page and "INCONSISTENT" not in page


def test_work_page_links_the_public_declaration_and_says_what_the_file_declared(web: Web) -> None:
    from tests.test_crosswalk import jpeg, with_xmp, xmp_packet

    alice = web.registry.store.find_account("alice")
    assert alice is not None
    work = web.registry.enroll(alice, with_xmp(jpeg(), xmp_packet("DMI-PROHIBITED-AIMLTRAINING")), title="tagged")
    page = web.client("alice").get(f"/works/{work.id}").text
    assert f'href="/public/works/{work.id}"' in page and work.iscc in page and "the terms only" in page
    assert "Read from the file:" in page and "ai_training (xmp:plus:DataMining)" in page


def test_licensing_pages_grants_pools_and_the_auditors_recomputation(web: Web) -> None:
    from datetime import timedelta

    from registry.money import Money
    from registry.terms import Offer
    from service.clock import SettableClock
    from service.licensing import GrantRequest, NewPool

    clock = SettableClock()
    web.registry.set_clock(clock)
    store = web.registry.store
    alice, op = store.find_account("alice"), store.find_account("op")
    assert alice is not None and op is not None
    offer = Offer(id="std", purposes=("release",), price=Money(amount_minor=990, currency="EUR"), per="output")
    work = web.registry.enroll(alice, CHELSEA, title="chelsea.jpg", offers=[offer])
    grant = web.registry.licensing.request(op, GrantRequest(work_id=work.id, offer_id="std", purpose="release"))
    creator = web.client("alice")
    page = creator.get("/licensing").text
    assert grant.id in page and "9.90 EUR" in page and f'action="/licensing/grants/{grant.id}/approve"' in page
    r = creator.post(f"/licensing/grants/{grant.id}/approve", data={"_csrf_token": csrf_token(creator, "/licensing")},
                     follow_redirects=False)
    assert r.status_code in (302, 303) and store.get_grant(grant.id).status == "granted"
    terms_page = creator.get(f"/works/{work.id}/terms").text
    assert 'name="offer_price" inputmode="decimal" value="9.90"' in terms_page
    start = utcnow()
    licensed = web.registry.check(op, CHELSEA, "release", "c.jpg")
    check_page = web.client("op").get(f"/checks/{licensed.id}").text
    assert f"Licensed by grant <code>{grant.id}</code>" in check_page and "100% of the output" in check_page
    pool = web.registry.licensing.create_pool(op, NewPool(name="Nov", amount_minor=5000, currency="EUR",
                                                          basis="checks", from_=start - timedelta(seconds=5),
                                                          until=start + timedelta(seconds=30)))
    clock.advance(minutes=1)
    operator = web.client("op")
    assert f'action="/licensing/pools/{pool.id}/close"' in operator.get("/licensing").text
    r = operator.post(f"/licensing/pools/{pool.id}/close", data={"_csrf_token": csrf_token(operator, "/licensing")},
                      follow_redirects=False)
    assert r.status_code in (302, 303)
    auditor_page = web.client("audit").get(f"/licensing/pools/{pool.id}").text
    assert "every line agrees" in auditor_page and "50.00 EUR" in auditor_page
    earnings = creator.get("/licensing").text
    assert "Earnings" in earnings and "50.00 EUR" in earnings and "1 match<" in earnings
    exported = web.client("audit").get(f"/licensing/pools/{pool.id}/export", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv") and "alice" in exported.text
    mine = creator.get("/licensing/earnings/export", params={"format": "ndjson"})
    assert mine.status_code == 200 and '"allocated_minor":5000' in mine.text
    assert web.client("bob").get(f"/licensing/pools/{pool.id}").status_code == 403

"""Licensing and compensation: money as integers, offers, grants that change verdicts, attribution shares,
pools closed into statements that sum exactly and that an auditor recomputes (after a restart, on SQLite
and PostgreSQL), and the allocation's properties."""

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.image.embed import Embedder
from registry.blobs import BlobStore
from registry.errors import InvalidInput
from registry.ids import utcnow
from registry.models import Pool, Role
from registry.money import Money, parse_amount
from registry.sqlite_store import SQLiteStore
from registry.store import Store
from registry.terms import Fee, LicenseTerms, legacy_fee_offer
from service.allocation import allocate, statement
from service.clock import SettableClock
from service.registry import Registry
from service.wiring import open_matchers
from tests.conftest import FIXTURES, Env
from tests.test_api import CHELSEA, EMMA

COFFEE = (FIXTURES / "images" / "coffee.jpg").read_bytes()
OFFER = {"id": "std", "purposes": ["release"], "price": {"amount_minor": 1250, "currency": "EUR"}, "per": "output",
         "terms_url": "https://alice.example/licence", "valid_days": 30}


# -- money and allocation ----------------------------------------------------------------------------------
def test_money_is_integer_minor_units_parsed_exactly() -> None:
    assert parse_amount("12.50", "eur") == Money(amount_minor=1250, currency="EUR")
    assert parse_amount("1000", "JPY") == Money(amount_minor=1000, currency="JPY")
    assert str(Money(amount_minor=5, currency="KWD")) == "0.005 KWD" and str(Money(amount_minor=1250,
                                                                                   currency="EUR")) == "12.50 EUR"
    for amount, currency in (("12.345", "EUR"), ("1.5", "JPY"), ("-1", "EUR"), ("abc", "EUR"), ("1", "EURO"),
                             ("NaN", "EUR")):
        with pytest.raises(InvalidInput):
            parse_amount(amount, currency)
    assert legacy_fee_offer(Fee(amount=0.1, currency="EUR"), None).price.amount_minor == 10
    assert legacy_fee_offer(Fee(amount=19.99, currency="USD"), None).price.amount_minor == 1999


weights_st = st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(0, 10**12), max_size=12)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(amount=st.integers(0, 10**15), weights=weights_st)
def test_allocation_is_exact_non_negative_and_order_independent(amount: int, weights: dict[str, int]) -> None:
    parts = allocate(amount, weights)
    if sum(weights.values()) == 0:
        assert parts == {}
        return
    assert sum(parts.values()) == amount
    assert all(v >= 0 for v in parts.values())
    assert allocate(amount, dict(reversed(list(weights.items())))) == parts
    total = sum(weights.values())
    for k, w in weights.items():  # nobody is more than one unit away from the exact share
        assert abs(parts[k] * total - amount * w) < total


@settings(max_examples=200, deadline=None, derandomize=True)
@given(amount=st.integers(1, 10**9), weights=weights_st, minimum=st.integers(0, 10**8),
       carried=st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), st.integers(0, 10**8), max_size=6))
def test_carried_amounts_are_never_lost(amount: int, weights: dict[str, int], minimum: int,
                                        carried: dict[str, int]) -> None:
    now = utcnow()
    pool = Pool(id="pol", account_id="op", name="p", amount=Money(amount_minor=amount, currency="EUR"),
                basis="checks", period_from=now, period_until=now, training_run_id=None, min_payout_minor=minimum,
                created_at=now, closed_at=now)
    lines = statement(pool, weights, {}, carried)
    allocated = sum(li.allocated_minor for li in lines)
    assert allocated == (amount if sum(weights.values()) else 0)
    assert sum(li.paid_minor + li.carried_out_minor for li in lines) == allocated + sum(carried.values())
    for li in lines:
        assert min(li.paid_minor, li.carried_out_minor, li.allocated_minor) >= 0
        assert li.paid_minor == 0 or li.paid_minor >= minimum
        assert li.paid_minor == 0 or li.carried_out_minor == 0


# -- offers and grants through the API ---------------------------------------------------------------------
def _clocked(env: Env) -> SettableClock:
    clock = SettableClock()
    env.registry.set_clock(clock)
    return clock


def test_an_operator_obtains_a_licence_and_its_next_check_is_no_longer_license_required(env: Env) -> None:
    clock = _clocked(env)
    work = env.enroll("alice", CHELSEA, "chelsea.jpg", {"opt_outs": {"release": "attribution"}}).json()
    patched = env.client.patch(f"/v1/works/{work['id']}", json={"offers": [OFFER]}, headers=env.h("alice"))
    assert patched.status_code == 200, patched.text
    assert patched.json()["offers"][0]["price"] == {"amount_minor": 1250, "currency": "EUR"}
    before = env.client.post("/v1/checks", files={"file": ("x.jpg", CHELSEA)}, headers=env.h("op")).json()
    assert before["verdict"] == "license_required"  # a priced offer for release
    assert before["matches"][0]["share"] == 1.0 and before["share_method"] == "confidence-x-coverage/1"
    asked = env.client.post("/v1/grants", json={"work_id": work["id"], "offer_id": "std", "purpose": "release",
                                                "note": "for our launch"}, headers=env.h("op"))
    assert asked.status_code == 201, asked.text
    grant = asked.json()
    assert grant["status"] == "requested" and grant["price"] == {"amount_minor": 1250, "currency": "EUR"}
    assert env.client.post("/v1/checks", files={"file": ("x.jpg", CHELSEA)},
                           headers=env.h("op")).json()["verdict"] == "license_required"  # not granted yet
    # only the owner decides; the grantee and other creators cannot
    assert env.client.post(f"/v1/grants/{grant['id']}/approve", headers=env.h("op")).status_code == 403
    assert env.client.post(f"/v1/grants/{grant['id']}/approve", headers=env.h("bob")).status_code == 404
    inbox = env.client.get("/v1/grants", params={"status": "requested"}, headers=env.h("alice")).json()["items"]
    assert [g["id"] for g in inbox] == [grant["id"]]
    approved = env.client.post(f"/v1/grants/{grant['id']}/approve", json={"note": "enjoy"}, headers=env.h("alice"))
    assert approved.status_code == 200 and approved.json()["status"] == "granted"
    after = env.client.post("/v1/checks", files={"file": ("x.jpg", CHELSEA)}, headers=env.h("op")).json()
    assert after["verdict"] == "clear"
    assert after["matches"][0]["licensed"] == {"grant_id": grant["id"], "offer_id": "std",
                                               "would_require": "license_required"}
    # past checks keep what they said; another operator still needs a licence
    assert env.client.get(f"/v1/checks/{before['id']}", headers=env.h("op")).json()["verdict"] == "license_required"
    assert env.client.post("/v1/checks", files={"file": ("x.jpg", CHELSEA)},
                           headers=env.h("op2")).json()["verdict"] == "license_required"
    # the grant expires with the offer's 30 days; the owner may also revoke
    clock.advance(days=31)
    assert env.client.post("/v1/checks", files={"file": ("x.jpg", CHELSEA)},
                           headers=env.h("op")).json()["verdict"] == "license_required"
    assert [g["id"] for g in env.client.get("/v1/grants", params={"status": "expired"},
                                             headers=env.h("op")).json()["items"]] == [grant["id"]]
    assert env.client.post(f"/v1/grants/{grant['id']}/revoke", headers=env.h("alice")).status_code == 409
    actions = [e.action for e in env.registry.store.audit_entries()]
    assert "grant.requested" in actions and "grant.granted" in actions


def test_auto_grant_lookups_and_revocation(env: Env) -> None:
    offer = {**OFFER, "id": "train", "purposes": ["ai_training"], "auto_grant": True, "per": "training_run"}
    work = env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": {"ai_training": {"use": "notAllowed"}},
                                                   "offers": [offer]}).json()
    items = {"purpose": "ai_training", "items": [{"id": "a", "iscc": work["iscc"]}]}
    assert env.client.post("/v1/lookups", json=items, headers=env.h("op")).json()["results"][0]["allowed"] is False
    grant = env.client.post("/v1/grants", json={"work_id": work["id"], "offer_id": "train",
                                                "purpose": "ai_training"}, headers=env.h("op")).json()
    assert grant["status"] == "granted" and grant["expires_at"]
    result = env.client.post("/v1/lookups", json=items, headers=env.h("op")).json()["results"][0]
    assert result["allowed"] is True and result["matches"][0]["grant_id"] == grant["id"]
    assert env.client.post(f"/v1/grants/{grant['id']}/revoke", headers=env.h("alice")).json()["status"] == "revoked"
    assert env.client.post("/v1/lookups", json=items, headers=env.h("op")).json()["results"][0]["allowed"] is False
    for bad in ({"work_id": work["id"], "offer_id": "nope", "purpose": "ai_training"},
                {"work_id": work["id"], "offer_id": "train", "purpose": "release"},
                {"work_id": "wrk_missing", "offer_id": "train", "purpose": "ai_training"}):
        r = env.client.post("/v1/grants", json=bad, headers=env.h("op"))
        assert r.status_code in (400, 404) and r.json()["error"]["message"], bad
    assert env.client.post("/v1/grants", json={"work_id": work["id"], "offer_id": "train",
                                               "purpose": "ai_training"}, headers=env.h("alice")).status_code == 403


def test_offers_are_validated_and_fees_refused(env: Env) -> None:
    work = env.enroll("alice", CHELSEA, "c.jpg").json()
    for bad in ([{**OFFER, "price": {"amount_minor": 12.5, "currency": "EUR"}}],
                [{**OFFER, "price": {"amount_minor": -1, "currency": "EUR"}}], [OFFER, OFFER],
                [{**OFFER, "purposes": []}], [{**OFFER, "per": "forever"}],
                [{**OFFER, "terms_url": "javascript:alert(1)"}]):
        r = env.client.patch(f"/v1/works/{work['id']}", json={"offers": bad}, headers=env.h("alice"))
        assert r.status_code == 400, (bad, r.text)
    r = env.client.patch(f"/v1/works/{work['id']}", json={"license": {"fee": {"amount": 2, "currency": "EUR"}}},
                         headers=env.h("alice"))
    assert r.status_code == 400 and "offers" in r.json()["error"]["message"]
    unnamed = env.client.patch(f"/v1/works/{work['id']}", json={"offers": [{k: v for k, v in OFFER.items()
                                                                             if k != "id"}]},
                               headers=env.h("alice")).json()
    assert unnamed["offers"][0]["id"] == "offer-1"


# -- pools and statements -------------------------------------------------------------------------------------
def _month_of_checks(env: Env) -> tuple[dict[str, str], list[str]]:
    works = {"alice": env.enroll("alice", CHELSEA, "c.jpg").json()["id"],
             "bob": env.enroll("bob", EMMA.encode(), "emma.txt").json()["id"],
             "bob2": env.enroll("bob", COFFEE, "coffee.jpg").json()["id"]}
    checks = []
    excerpt = " ".join(EMMA.split()[100:300])
    for n in range(6):
        data, name = [(CHELSEA, "a.jpg"), (excerpt.encode(), "e.txt"), (COFFEE, "k.jpg")][n % 3]
        check = env.client.post("/v1/checks", files={"file": (name, data)}, headers=env.h("op")).json()
        assert check["matches"], check
        assert abs(sum(m["share"] for m in check["matches"]) - 1.0) < 1e-6
        checks.append(check["id"])
    env.client.post("/v1/checks", files={"file": ("a.jpg", CHELSEA)}, headers=env.h("op2"))  # another operator's
    return works, checks


def test_a_pool_of_1000_eur_is_shared_exactly_and_recomputed_by_an_auditor(env: Env) -> None:
    clock = _clocked(env)
    _, checks = _month_of_checks(env)
    now = utcnow()
    spec = {"name": "November", "amount_minor": 100000, "currency": "EUR", "basis": "checks",
            "from": (now - timedelta(days=30)).isoformat(), "until": (now + timedelta(minutes=1)).isoformat(),
            "min_payout_minor": 100}
    pool = env.client.post("/v1/pools", json=spec, headers=env.h("op"))
    assert pool.status_code == 201, pool.text
    pool_id = pool.json()["id"]
    assert env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op")).status_code == 409  # period not over
    clock.advance(minutes=2)
    closed = env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op"))
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["total_allocated_minor"] == 100000 == sum(li["allocated_minor"] for li in body["lines"])
    assert body["pool"]["status"] == "closed" and body["pool"]["digest"]
    names = env.registry.account_names()
    by_creator = {names[li["creator_id"]]: li for li in body["lines"]}
    assert set(by_creator) == {"alice", "bob"}
    assert {i["check_id"] for li in body["lines"] for i in li["items"]} == set(checks)  # op2's check is not in it
    assert env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op")).status_code == 409  # once
    # every creator sees their line and the checks behind it
    mine = env.client.get("/v1/statements", headers=env.h("alice")).json()
    assert len(mine) == 1 and mine[0]["line"]["allocated_minor"] == by_creator["alice"]["allocated_minor"]
    assert {i["check_id"] for i in mine[0]["line"]["items"]} <= set(checks)
    csv_text = env.client.get("/v1/statements", params={"format": "csv"}, headers=env.h("bob")).text
    assert csv_text.startswith("pool_id,creator,currency") and "bob" in csv_text
    nd = env.client.get(f"/v1/pools/{pool_id}/statements", params={"format": "ndjson"}, headers=env.h("audit"))
    assert len(nd.text.strip().splitlines()) == 2
    # the auditor recomputes it from the record
    again = env.client.get(f"/v1/pools/{pool_id}/recompute", headers=env.h("audit")).json()
    assert again["agrees"] is True and again["differences"] == [] and again["lines"] == 2
    # other operators and creators cannot read it
    assert env.client.get(f"/v1/pools/{pool_id}", headers=env.h("op2")).status_code == 404
    assert env.client.get(f"/v1/pools/{pool_id}", headers=env.h("alice")).status_code == 403
    actions = [e.action for e in env.registry.store.audit_entries()]
    assert "pool.created" in actions and "pool.closed" in actions


def test_amounts_under_the_minimum_are_carried_to_the_next_statement(env: Env) -> None:
    clock = _clocked(env)
    _month_of_checks(env)
    now = utcnow()

    def pool(amount: int, minimum: int) -> dict:  # type: ignore[type-arg]
        spec = {"name": "p", "amount_minor": amount, "currency": "EUR", "basis": "checks",
                "from": (now - timedelta(days=1)).isoformat(),
                "until": (clock.now() + timedelta(seconds=1)).isoformat(),
                "min_payout_minor": minimum}
        pool_id = env.client.post("/v1/pools", json=spec, headers=env.h("op")).json()["id"]
        clock.advance(seconds=2)
        return dict(env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op")).json())

    first = pool(100, 1000)  # 1.00 EUR shared, 10.00 minimum: nobody is paid, all is carried
    assert all(li["paid_minor"] == 0 and li["carried_out_minor"] == li["allocated_minor"] for li in first["lines"])
    second = pool(5000, 1000)
    carried = {li["creator_id"]: li["carried_out_minor"] for li in first["lines"]}
    for li in second["lines"]:
        assert li["carried_in_minor"] == carried[li["creator_id"]]
        assert li["paid_minor"] == li["allocated_minor"] + li["carried_in_minor"]
    assert sum(li["paid_minor"] for li in second["lines"]) == 5100
    recomputed = env.client.get(f"/v1/pools/{second['pool']['id']}/recompute", headers=env.h("audit")).json()
    assert recomputed["agrees"] is True


def test_a_training_run_pool_pays_pro_rata_by_included_works(env: Env) -> None:
    _clocked(env)
    env.enroll("alice", CHELSEA, "c.jpg", {"opt_outs": {"ai_training": {"use": "allowed"}}})
    env.enroll("bob", COFFEE, "k.jpg", {"opt_outs": {"ai_training": {"use": "allowed"}}})
    env.enroll("bob", EMMA.encode(), "e.txt", {"opt_outs": {"ai_training": {"use": "allowed"}}})
    run = env.client.post("/v1/training-runs", json={"name": "r", "model": "m", "purpose": "ai_training"},
                          headers=env.h("op")).json()
    items = {"items": [{"id": "1", "sha256": __import__("hashlib").sha256(CHELSEA).hexdigest()},
                       {"id": "2", "sha256": __import__("hashlib").sha256(COFFEE).hexdigest()},
                       {"id": "3", "text": " ".join(EMMA.split()[:300])}]}
    assert env.client.post(f"/v1/training-runs/{run['id']}/items", json=items, headers=env.h("op")).status_code == 200
    spec = {"name": "run", "amount_minor": 1001, "currency": "EUR", "basis": "training_run",
            "training_run_id": run["id"]}
    pool_id = env.client.post("/v1/pools", json=spec, headers=env.h("op")).json()["id"]
    assert env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op")).status_code == 409  # run still open
    env.client.post(f"/v1/training-runs/{run['id']}/close", headers=env.h("op"))
    lines = env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op")).json()["lines"]
    names = env.registry.account_names()
    paid = {names[li["creator_id"]]: li["allocated_minor"] for li in lines}
    assert paid == {"alice": 334, "bob": 667}  # 1 work and 2 works of 3; the odd cent by largest remainder


def test_pool_input_is_checked(env: Env) -> None:
    now = utcnow().isoformat()
    base = {"name": "p", "amount_minor": 100, "currency": "EUR", "basis": "checks", "from": now, "until": now}
    for bad in ({**base}, {**base, "amount_minor": 1.5}, {**base, "currency": "euro"}, {**base, "basis": "vibes"},
                {**base, "until": None}, {**base, "basis": "training_run"},
                {**base, "from": "2026-11-01T00:00:00", "until": "2026-12-01T00:00:00"}):
        r = env.client.post("/v1/pools", json=bad, headers=env.h("op"))
        assert r.status_code == 400, (bad, r.text)
    assert env.client.post("/v1/pools", json=base, headers=env.h("alice")).status_code == 403
    assert env.registry.store.list_pools() == []


def test_a_closed_pool_is_recomputed_after_a_restart(store_factory: Callable[[], Store], tmp_path: Path,
                                                     embedder: Embedder) -> None:
    from api.settings import Settings

    settings = Settings.load(data_dir=tmp_path / "data")
    store_factory()  # the first store is the one the factory drops the database with, after the registries closed

    def registry() -> Registry:
        store = store_factory()
        blobs = BlobStore(settings.data_dir / "blobs")
        return Registry(settings.service, store, blobs,
                        lambda: open_matchers(settings.service, store, blobs, embedder=embedder))

    first = registry()
    clock = SettableClock()
    first.set_clock(clock)
    alice = first.ensure_account("alice", Role.CREATOR)
    op = first.ensure_account("op", Role.OPERATOR)
    first.enroll(alice, CHELSEA, title="c")
    start = utcnow()
    for _ in range(3):
        first.check(op, CHELSEA, "release", "c.jpg")
    from service.licensing import NewPool

    pool = first.licensing.create_pool(op, NewPool(name="p", amount_minor=99999, currency="EUR", basis="checks",
                                                    from_=start - timedelta(seconds=5),
                                                    until=start + timedelta(minutes=1)))
    clock.advance(minutes=2)
    closed, lines = first.licensing.close(op, pool.id)
    assert sum(li.allocated_minor for li in lines) == 99999
    first.close()
    second = registry()
    auditor = second.ensure_account("auditor", Role.AUDITOR)
    again = second.licensing.recompute(auditor, pool.id)
    assert again.agrees and again.digest_recorded == closed.digest
    second.close()


def test_stored_fees_become_offers_in_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    store = SQLiteStore(path)
    alice = store.create_account("alice", Role.CREATOR, "system")
    from tests.test_store_contract import make_work

    work = make_work(alice.id)
    store.add_work(work, alice.id)
    store.close()
    old = msgspec.json.encode(LicenseTerms(id="CC-BY-4.0", terms_url="https://x.example/t",
                                           fee=Fee(amount=2.5, currency="EUR"))).decode()
    with sqlite3.connect(path) as conn:  # as a registry before offers stored it
        conn.execute("UPDATE works SET license = ?, offers = '[]' WHERE id = ?", (old, work.id))
        conn.execute("PRAGMA user_version=12")
    store = SQLiteStore(path)
    migrated = store.get_work(work.id)
    assert migrated.license.fee is None and migrated.license.id == "CC-BY-4.0"
    (offer,) = migrated.offers
    assert offer.price == Money(amount_minor=250, currency="EUR") and offer.per == "output"
    assert offer.terms_url == "https://x.example/t" and set(offer.purposes) >= {"release", "ai_training"}
    store.close()


def test_stored_fees_become_offers_in_the_migration_on_postgresql() -> None:
    import uuid

    import psycopg

    from tests.conftest import TEST_DATABASE_URL, postgres_or_skip
    from tests.test_store_contract import make_work

    schema = f"test_{uuid.uuid4().hex[:12]}"
    store = postgres_or_skip(schema)
    try:
        alice = store.create_account("alice", Role.CREATOR, "system")
        work = make_work(alice.id)
        store.add_work(work, alice.id)
        old = msgspec.json.encode(LicenseTerms(fee=Fee(amount=19.99, currency="USD"))).decode()
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:  # as a registry before offers stored it
            conn.execute(f"UPDATE {schema}.works SET license = %s, offers = '[]' WHERE id = %s", (old, work.id))
            conn.execute(f"DELETE FROM {schema}.schema_version WHERE version = 13")
        from registry.postgres_store import PostgresStore

        again = PostgresStore(TEST_DATABASE_URL, schema=schema)
        migrated = again.get_work(work.id)
        assert migrated.license.fee is None and [o.price for o in migrated.offers] == [
            Money(amount_minor=1999, currency="USD")]
        again.close()
    finally:
        store.drop_schema()
        store.close()


def test_checks_recorded_before_shares_existed_still_count(env: Env) -> None:
    from registry.evidence import TextEvidence
    from registry.ids import new_id
    from registry.models import Check, MatchRecord, Verdict, WorkKind

    clock = _clocked(env)
    store = env.registry.store
    work = env.enroll("alice", EMMA.encode(), "emma.txt").json()
    op = store.find_account("op")
    assert op is not None
    evidence = TextEvidence(copied_words=50, query_words=100, work_words=900, query_share=0.5, containment=0.1,
                            jaccard=0.05)
    stored = store.get_work(work["id"])
    record = MatchRecord(work_id=stored.id, score=0.9, evidence=evidence, title="t", owner_id=stored.owner_id,
                         license=stored.license, opt_outs=stored.opt_outs, requirement="license_required")
    store.add_check(Check(id=new_id("chk"), account_id=op.id, created_at=utcnow(), purpose="release",
                          kind=WorkKind.TEXT, sha256="c" * 64, verdict=Verdict.LICENSE_REQUIRED, matches=[record],
                          matcher_version="old"), op.id)  # no share, no share_method: as older versions stored
    now = utcnow()
    spec = {"name": "p", "amount_minor": 700, "currency": "EUR", "basis": "checks",
            "from": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(seconds=1)).isoformat()}
    pool_id = env.client.post("/v1/pools", json=spec, headers=env.h("op")).json()["id"]
    clock.advance(seconds=5)
    (line,) = env.client.post(f"/v1/pools/{pool_id}/close", headers=env.h("op")).json()["lines"]
    assert line["allocated_minor"] == 700 and line["weight"] == 1_000_000_000


def test_a_copy_placed_in_the_output_covers_its_area_and_a_cut_out_covers_all() -> None:
    """A work placed in the output at half its width accounts for a quarter of it; an output cut out of a
    work (the work is the larger picture) is the work's throughout."""
    from registry.evidence import DenseAlignment, ImageEvidence
    from service.attribution import coverage

    def placed(how: str, work_inside: bool | None) -> ImageEvidence:
        return ImageEvidence(dense=DenseAlignment(correlation=0.95, how=how, scale=0.5, work_inside=work_inside))

    assert coverage(placed("aligned", True)) == pytest.approx(0.25)
    assert coverage(placed("placed", None)) == pytest.approx(0.25)  # recorded before the direction was
    assert coverage(placed("aligned", False)) == 1.0
    assert coverage(placed("whole", None)) == 1.0

"""What closing and recomputing a payout pool costs: checks with 1-3 matches each over many creators, stored
on SQLite (or PostgreSQL with --database), then a pool over all of them closed and recomputed.

    python -m benchmarks.bench_pools [--checks 20000] [--creators 500] [--database postgresql://...]
"""

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from registry.blobs import BlobStore
from registry.evidence import TextEvidence
from registry.ids import new_id, utcnow
from registry.models import Check, MatchRecord, Role, Verdict, Work, WorkKind, WorkStatus
from registry.postgres_store import PostgresStore
from registry.sqlite_store import SQLiteStore
from registry.store import Store
from registry.terms import LicenseTerms, OptOuts
from service import attribution
from service.clock import SettableClock
from service.licensing import NewPool
from service.registry import Registry
from service.settings import ServiceSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", type=int, default=20_000)
    ap.add_argument("--creators", type=int, default=500)
    ap.add_argument("--database", default=None)
    args = ap.parse_args()
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        store: Store = PostgresStore(args.database, schema=f"bench_{new_id('p')[4:]}") if args.database \
            else SQLiteStore(Path(tmp) / "r.sqlite3")
        registry = Registry(ServiceSettings(), store, BlobStore(Path(tmp) / "blobs"), lambda: [])
        clock = SettableClock()
        registry.set_clock(clock)
        op = store.create_account("op", Role.OPERATOR, "bench")
        auditor = store.create_account("auditor", Role.AUDITOR, "bench")
        creators = [store.create_account(f"c{i}", Role.CREATOR, "bench") for i in range(args.creators)]
        works: list[Work] = []
        for i in range(args.creators * 4):
            owner = creators[i % len(creators)]
            works.append(store.add_work(Work(
                id=new_id("wrk"), owner_id=owner.id, kind=WorkKind.TEXT, title="t", sha256=f"{i:064x}",
                media_type="text/plain", size=1, created_at=utcnow(), status=WorkStatus.ACTIVE,
                license=LicenseTerms(), opt_outs=OptOuts()), "bench"))
        start = utcnow()
        began = time.perf_counter()
        for _ in range(args.checks):
            picked = rng.sample(works, rng.randint(1, 3))
            evidence = [TextEvidence(copied_words=50, query_words=200, work_words=900, query_share=rng.random(),
                                     containment=0.5, jaccard=0.2) for _ in picked]
            shares = attribution.shares([(0.9, e) for e in evidence])
            records = [MatchRecord(work_id=w.id, score=0.9, evidence=e, title="t", owner_id=w.owner_id,
                                   license=w.license, opt_outs=w.opt_outs, requirement="license_required", share=s)
                       for w, e, s in zip(picked, evidence, shares, strict=True)]
            store.add_check(Check(id=new_id("chk"), account_id=op.id, created_at=utcnow(), purpose="release",
                                  kind=WorkKind.TEXT, sha256="0" * 64, verdict=Verdict.LICENSE_REQUIRED,
                                  matches=records, matcher_version="bench",
                                  share_method=attribution.SHARE_METHOD), op.id)
        stored = time.perf_counter() - began
        pool = registry.licensing.create_pool(op, NewPool(name="bench", amount_minor=100_000_00, currency="EUR",
                                                          basis="checks", from_=start - timedelta(seconds=1),
                                                          until=utcnow() + timedelta(seconds=1)))
        clock.advance(seconds=5)
        began = time.perf_counter()
        _, lines = registry.licensing.close(op, pool.id)
        closed = time.perf_counter() - began
        began = time.perf_counter()
        again = registry.licensing.recompute(auditor, pool.id)
        recomputed = time.perf_counter() - began
        assert again.agrees and sum(line.allocated_minor for line in lines) == 100_000_00
        print(f"{args.checks:,} checks ({stored:.1f} s to store), {len(lines)} creators: pool closed in "
              f"{closed:.2f} s, recomputed in {recomputed:.2f} s, agrees: {again.agrees}; "
              f"lines sum to {sum(line.allocated_minor for line in lines):,} of 10,000,000 minor units")
        if isinstance(store, PostgresStore):
            store.drop_schema()
        registry.close()


if __name__ == "__main__":
    main()

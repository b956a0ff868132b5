"""Load test: concurrent clients enroll and check against a real `provenance serve` for a bounded time,
then every acknowledged enrollment and check is looked up in the store and the audit chain.

    python -m benchmarks.load [--clients 8] [--seconds 30] [--database URL]

Prints throughput, latency p50 and p99 and the error count per operation, then the consistency check:
acknowledged works and checks present exactly once in the store and in the audit log, chain verified.
"""

import argparse
import random
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

from api.settings import Settings
from benchmarks.stats import pct, table
from tests.conftest import FIXTURES
from tests.servers import create_key, start_server, stop_server

WORDS = (FIXTURES / "unenrolled" / "emma-ch002.txt").read_text().split()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--database", default=None, help="PostgreSQL URL; default SQLite in a temporary directory")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="provenance-load-"))
    env = {"PROVENANCE_DATA_DIR": str(data), "PROVENANCE_RATE_LIMIT_PER_MINUTE": "0"}
    if args.database:
        env["PROVENANCE_DATABASE_URL"] = args.database
    creator = create_key("creator", "load-creator", env)
    operator = create_key("operator", "load-operator", env)
    proc, base = start_server(env)
    latency: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    works: list[str] = []
    checks: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=base, timeout=60) as http:
            while time.monotonic() < stop:
                text = " ".join(rng.choice(WORDS) for _ in range(300))
                if rng.random() < 0.3:
                    op, t = "enroll", time.perf_counter()
                    r = http.post("/v1/works", files={"file": (f"{i}.txt", text.encode())},
                                  headers={"Authorization": f"Bearer {creator}"})
                    ok, target = r.status_code == 201, works
                else:
                    op, t = "check", time.perf_counter()
                    r = http.post("/v1/checks", json={"text": text}, headers={"Authorization": f"Bearer {operator}"})
                    ok, target = r.status_code == 200, checks
                elapsed = time.perf_counter() - t
                with lock:
                    latency[op].append(elapsed)
                    if ok:
                        target.append(r.json()["id"])
                    else:
                        errors[f"{op} {r.status_code}"] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop_server(proc)
    rows = [[op, len(v), len(v) / args.seconds, pct(v, 50) * 1000, pct(v, 99) * 1000,
             sum(n for k, n in errors.items() if k.startswith(op))] for op, v in sorted(latency.items())]
    print(table(["operation", "requests", "per s", "p50 ms", "p99 ms", "errors"], rows))

    from service.wiring import open_store

    store = open_store(Settings.load(data_dir=data, database_url=args.database).service)
    audit = Counter((e.action, e.subject) for e in store.audit_entries())
    stored_works = {w.id for w in store.list_works(limit=10**7)}
    lost_works = [w for w in works if w not in stored_works or audit[("work.enrolled", w)] != 1]
    lost_checks = []
    for c in checks:
        try:
            store.get_check(c)
        except Exception:
            lost_checks.append(c)
            continue
        if audit[("check.made", c)] != 1:
            lost_checks.append(c)
    report = store.verify_audit()
    store.close()
    print(f"acknowledged: {len(works)} enrollments, {len(checks)} checks; missing or not exactly once in store "
          f"and audit log: {len(lost_works)} enrollments, {len(lost_checks)} checks; audit chain "
          f"{'verified' if report.ok else 'BROKEN: ' + str(report.problem)} ({report.entries} entries)")
    if lost_works or lost_checks or not report.ok or errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

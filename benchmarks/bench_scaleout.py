"""Scale-out benchmark: SQLite against PostgreSQL, one replica against two, replica start-up time.

Prints, side by side: enrollment throughput through the registry on SQLite and on PostgreSQL; checks per
second through one and through two `provenance serve` replicas over one PostgreSQL; and the start-up time
of a replica over `--works` enrolled works, cold (indexes rebuilt from the stored originals) and warm
(index files present, only the change feed to apply).

    python -m benchmarks.bench_scaleout [--database postgresql://...] [--works 100000] [--seconds 20]
"""

import argparse
import random
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from api.settings import Settings
from benchmarks.stats import table
from registry.ids import new_id, utcnow
from registry.models import Role, Work, WorkKind, WorkStatus
from registry.postgres_store import PostgresStore
from registry.terms import LicenseTerms, OptOuts
from service.wiring import open_registry
from tests.servers import create_key, start_server, stop_server

WORDS = [f"w{i}" for i in range(20000)]


def synthetic_text(rng: random.Random, n: int = 200) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def enroll_throughput(settings: Settings, count: int) -> float:
    rng = random.Random(1)
    texts = [synthetic_text(rng).encode() for _ in range(count)]
    reg = open_registry(settings.service)
    owner = reg.ensure_account("bench", Role.CREATOR)
    t0 = time.perf_counter()
    for data in texts:
        reg.enroll(owner, data)
    rate = count / (time.perf_counter() - t0)
    reg.close()
    return rate


def checks_per_second(bases: list[str], key: str, seconds: float, clients: int, queries: list[str]) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(timeout=60) as http:
            n = 0
            while time.monotonic() < stop:
                r = http.post(f"{bases[i % len(bases)]}/v1/checks", json={"text": queries[n % len(queries)]},
                              headers={"Authorization": f"Bearer {key}"})
                r.raise_for_status()
                n += 1
            done[i] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def bulk_rows(store: PostgresStore, data_dir: Path, count: int) -> None:
    """`count` text works straight into the store and blob store (the fast way to a large catalog)."""
    from registry.blobs import BlobStore

    blobs = BlobStore(data_dir / "blobs")
    owner = store.create_account("catalog", Role.CREATOR, "system")
    rng = random.Random(7)
    for i in range(count):
        data = synthetic_text(rng, 120).encode()
        digest = blobs.put(data)
        store.add_work(Work(id=new_id("wrk"), owner_id=owner.id, kind=WorkKind.TEXT, title=f"t{i}", sha256=digest,
                            media_type="text/plain; charset=utf-8", size=len(data), created_at=utcnow(),
                            status=WorkStatus.ACTIVE, license=LicenseTerms(), opt_outs=OptOuts()), "system")
        if (i + 1) % 20000 == 0:
            print(f"  {i + 1} works written", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--enroll", type=int, default=500, help="works enrolled for the throughput comparison")
    ap.add_argument("--works", type=int, default=100_000, help="catalog size for the start-up measurement")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="provenance-scaleout-"))
    schemas: list[PostgresStore] = []

    def fresh_pg() -> str:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        schemas.append(PostgresStore(args.database, schema=schema))
        return with_schema(args.database, schema)

    try:
        base = {"image_embedder": "none", "follow_interval": 0.0}
        sqlite_rate = enroll_throughput(Settings.load(data_dir=tmp / "sqlite", **base), args.enroll)
        pg_rate = enroll_throughput(Settings.load(data_dir=tmp / "pg", database_url=fresh_pg(), **base), args.enroll)
        print(table(["enrollment (registry path, 200-word texts)", "works/s"],
                    [["SQLite", sqlite_rate], ["PostgreSQL", pg_rate]]))

        url = fresh_pg()
        env = {"PROVENANCE_DATABASE_URL": url, "PROVENANCE_DATA_DIR": str(tmp / "replicas"),
               "PROVENANCE_IMAGE_EMBEDDER": "none", "PROVENANCE_FOLLOW_INTERVAL": "1",
               "PROVENANCE_RATE_LIMIT_PER_MINUTE": "0"}
        reg = open_registry(Settings.load(data_dir=tmp / "replicas", database_url=url, **base).service)
        owner = reg.ensure_account("alice", Role.CREATOR)
        rng = random.Random(3)
        texts = [synthetic_text(rng, 400) for _ in range(300)]
        for t in texts:
            reg.enroll(owner, t.encode())
        reg.close()
        key = create_key("operator", "op", env)
        queries = [" ".join(t.split()[100:250]) for t in texts[:50]]
        rows = []
        procs: list[tuple[subprocess.Popen[str], str]] = []
        try:
            for n in (1, 2):
                while len(procs) < n:
                    procs.append(start_server({**env, "PROVENANCE_INDEX_DIR": str(tmp / f"idx{len(procs)}")}))
                rate = checks_per_second([b for _, b in procs], key, args.seconds, args.clients, queries)
                rows.append([f"{n} replica{'s' if n > 1 else ''}", args.clients, rate])
        finally:
            for p, _ in procs:
                stop_server(p)
        print(table(["checks (150-word text, 300 works)", "clients", "checks/s"], rows))

        url = fresh_pg()
        t0 = time.perf_counter()
        bulk_rows(schemas[-1], tmp / "catalog", args.works)
        print(f"wrote {args.works} works in {time.perf_counter() - t0:.0f}s")
        env = {"PROVENANCE_DATABASE_URL": url, "PROVENANCE_DATA_DIR": str(tmp / "catalog"),
               "PROVENANCE_IMAGE_EMBEDDER": "none", "PROVENANCE_INDEX_DIR": str(tmp / "catalog-index")}
        startup = []
        for label in ("cold: indexes rebuilt from the originals", "warm: index files present"):
            t0 = time.perf_counter()
            proc, _ = start_server(env, timeout=3600)
            startup.append([label, time.perf_counter() - t0])
            stop_server(proc)
        print(table([f"replica start-up, {args.works} works (until /v1/health is 200)", "seconds"], startup))
    finally:
        for s in schemas:
            s.drop_schema()
            s.close()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()

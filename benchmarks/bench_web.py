"""Web interface benchmark: how long the pages take on a filled registry.

Enrolls `--works` synthetic texts (and the fixture images) through the registry, records `--checks` checks
(half of them copying a work, so their outputs are kept as evidence), then signs in through the test client
(the real app, without a network) and times each main page, the audit chain's verification that `/audit`
runs on every visit, and the exports over the whole history.

    python -m benchmarks.bench_web [--works 5000] [--checks 5000] [--repeat 20]
"""

import argparse
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from benchmarks.bench_scaleout import synthetic_text
from benchmarks.stats import table
from registry.models import Role
from service.wiring import open_registry
from tests.web_client import web_client

ROOT = Path(__file__).resolve().parent.parent


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 wall time in ms over `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=5000)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(data_dir=Path(tmp), rate_limit_per_minute=0)
        registry = open_registry(settings.service)
        creator = registry.ensure_account("alice", Role.CREATOR)
        operator = registry.ensure_account("oscar", Role.OPERATOR)
        _, creator_key = registry.create_key("alice", Role.CREATOR)
        _, auditor_key = registry.create_key("audrey", Role.AUDITOR)
        _, operator_key = registry.create_key("oscar", Role.OPERATOR)
        t0 = time.perf_counter()
        texts = [synthetic_text(rng, 400) for _ in range(args.works)]
        works = [registry.enroll(creator, t.encode(), title=f"text-{i}") for i, t in enumerate(texts)]
        images = [registry.enroll(creator, p.read_bytes(), title=p.name)
                  for p in sorted((ROOT / "fixtures" / "images").iterdir())]
        print(f"enrolled {len(works)} texts and {len(images)} images in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        checks = []
        for i in range(args.checks):
            if i % 2 == 0:
                words = texts[rng.randrange(len(texts))].split()
                start = rng.randrange(0, len(words) - 150)
                body = "An output. " + " ".join(words[start:start + 150])
            else:
                body = synthetic_text(rng, 150)
            checks.append(registry.check(operator, body.encode()))
        image_check = registry.check(operator, (ROOT / "fixtures" / "images" / "chelsea.jpg").read_bytes())
        print(f"recorded {len(checks) + 1} checks in {time.perf_counter() - t0:.1f} s; "
              f"{registry.store.last_seq()} audit entries")
        matched = next(c for c in checks if c.matches)
        work_id = matched.matches[0].work_id

        creator_web, auditor_web, operator_web = (web_client(create_app(settings, registry), key)
                                                  for key in (creator_key, auditor_key, operator_key))

        def get(c: TestClient, path: str) -> Callable[[], object]:  # type: ignore[type-arg]
            def call() -> object:
                r = c.get(path, follow_redirects=False)
                assert r.status_code == 200, (path, r.status_code, r.headers.get("location"))
                return r
            return call

        rows: list[list[object]] = []
        for label, c, path in [
            ("creator: works (25 a page)", creator_web, "/works"),
            ("creator: a work with its matches", creator_web, f"/works/{work_id}"),
            ("creator: text evidence side by side", creator_web, f"/works/{work_id}/matches/{matched.id}"),
            ("creator: image evidence", creator_web,
             f"/works/{image_check.matches[0].work_id}/matches/{image_check.id}"),
            ("creator: thumbnail (cached)", creator_web, f"/media/works/{images[0].id}/thumb"),
            ("operator: a check's result", operator_web, f"/checks/{matched.id}"),
            ("operator: history (25 a page)", operator_web, "/checks"),
            ("auditor: history + chain verify", auditor_web, "/audit"),
            ("auditor: filtered by verdict", auditor_web, "/audit?verdict=clear"),
            ("auditor: audit log (50 a page)", auditor_web, "/audit/log"),
        ]:
            p50, p95 = timed(get(c, path), args.repeat)
            rows.append([label, round(p50, 1), round(p95, 1)])
        t0 = time.perf_counter()
        report = registry.store.verify_audit()
        verify_ms = (time.perf_counter() - t0) * 1000
        rows.append([f"audit chain verification alone ({report.entries} entries)", round(verify_ms, 1), ""])
        for fmt in ("csv", "ndjson"):
            t0 = time.perf_counter()
            exported = auditor_web.get(f"/audit/export.{fmt}").content
            took = time.perf_counter() - t0
            rows.append([f"export .{fmt}: {len(checks) + 1} checks, {len(exported) / 1e6:.1f} MB, "
                         f"{(len(checks) + 1) / took:.0f} checks/s", round(took * 1000, 1), ""])
        print(table(["page", "p50 ms", "p95 ms"], rows))
        for c in (creator_web, auditor_web, operator_web):
            c.__exit__(None, None, None)
        registry.close()


if __name__ == "__main__":
    main()

"""One huge repetitive text check must not stall everyone else: the latency of a 12-word check, idle and while
another thread checks an 800 KB repetitive text against an enrolled repetitive text (the attack of the lean-
matching issue). The goal: under three times the idle latency.

    python -m benchmarks.bench_text_contention [--kb 800]
"""

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from api.settings import Settings
from registry.models import Role
from service.wiring import open_registry

TWELVE = "the quick brown fox jumps over the lazy dog near the river bank"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", type=int, default=800)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reg = open_registry(Settings.load(data_dir=Path(tmp) / "data", image_embedder="none",
                                          max_text_chars=10_000_000).service)
        alice = reg.ensure_account("alice", Role.CREATOR)
        op = reg.ensure_account("op", Role.OPERATOR)
        unit = "all work and no play makes jack a dull boy "
        reg.enroll(alice, (unit * 2000).encode(), title="repetitive work")
        reg.enroll(alice, b"the river bank was quiet in the evening and nobody came by", title="other")
        huge = (unit * (args.kb * 1024 // len(unit))).encode()

        def small_latencies(n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                reg.check(op, TWELVE.encode())
                out.append(time.perf_counter() - t)
            return out

        idle = small_latencies(30)
        done = threading.Event()
        big_time: list[float] = []

        def attack() -> None:
            t = time.perf_counter()
            reg.check(op, huge)
            big_time.append(time.perf_counter() - t)
            done.set()

        threading.Thread(target=attack).start()
        time.sleep(0.05)
        busy: list[float] = []
        while not done.is_set():
            busy += small_latencies(1)
        p50_idle, p50_busy = statistics.median(idle) * 1000, statistics.median(busy) * 1000
        print(f"{len(huge) // 1024} KB repetitive check took {big_time[0]:.2f} s")
        print(f"12-word check: idle p50 {p50_idle:.1f} ms; during the big check p50 {p50_busy:.1f} ms, "
              f"max {max(busy) * 1000:.1f} ms over {len(busy)} checks ({p50_busy / p50_idle:.1f}x idle)")
        reg.close()


if __name__ == "__main__":
    main()

"""Command-line latency: how long store-only commands take on a registry of `--works` enrolled works.

Enrolls `--works` synthetic texts through the registry (so the store, the blob store and the indexes hold
them), then times each command as a new process, the way a user runs it, `--runs` times:

    python -m benchmarks.bench_cli [--works 1000] [--runs 5]
"""

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.settings import Settings
from benchmarks.stats import table
from registry.models import Role
from service.wiring import open_registry

WORDS = [f"w{i}" for i in range(20000)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--works", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        reg = open_registry(Settings.load(data_dir=data, image_embedder="none").service)
        owner = reg.ensure_account("bench", Role.CREATOR)
        rng = random.Random(1)
        t0 = time.perf_counter()
        for _ in range(args.works):
            reg.enroll(owner, " ".join(rng.choice(WORDS) for _ in range(200)).encode())
        reg.create_key("root", Role.ADMIN)
        reg.close()
        print(f"enrolled {args.works} works in {time.perf_counter() - t0:.1f} s")
        exe = str(Path(sys.executable).with_name("provenance"))
        commands = [["keys", "list"], ["works", "list", "--limit", "1000"], ["checks", "list"], ["audit", "verify"]]
        rows = []
        for command in commands:
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([exe, *command, "--data-dir", str(data)], check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            rows.append([" ".join(command), f"{statistics.median(times):.2f}", f"{max(times):.2f}"])
        print(table(["command", "median s", "max s"], rows))


if __name__ == "__main__":
    main()

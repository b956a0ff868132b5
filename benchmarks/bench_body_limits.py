"""Memory of a real server under oversized uploads: two 1 GB bodies posted at once, announced (Content-Length)
and streamed without a length, to the web check page and the API. Prints each answer and the server's peak
resident memory growth (VmHWM), which the trust issue bounds at 100 MB.

    python -m benchmarks.bench_body_limits [--gigabytes 1]
"""

import argparse
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import create_key, start_server, stop_server


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gigabytes", type=float, default=1.0)
    args = ap.parse_args()
    size = int(args.gigabytes * 2**30)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PROVENANCE_DATA_DIR": str(Path(tmp) / "data"), "PROVENANCE_IMAGE_EMBEDDER": "none"}
        key = create_key("operator", "op", env)
        proc, base = start_server(env)
        try:
            before = _peak_kb(proc.pid)
            results: list[str] = []

            def chunks() -> Iterator[bytes]:
                block = b"x" * 2**20
                for _ in range(size // 2**20):
                    yield block

            def post(name: str, announced: bool, path: str) -> None:
                headers = {"Authorization": f"Bearer {key}", "content-type": "multipart/form-data; boundary=b"}
                if announced:
                    headers["content-length"] = str(size)
                try:
                    r = httpx.post(base + path, content=chunks(), headers=headers, timeout=300)
                    results.append(f"{name}: {r.status_code} {r.text[:90]}")
                except httpx.HTTPError as exc:
                    results.append(f"{name}: connection closed by the server ({type(exc).__name__})")

            threads = [threading.Thread(target=post, args=a) for a in [
                ("announced 1 GB to /check (web)", True, "/check"),
                ("streamed 1 GB to /v1/checks", False, "/v1/checks")]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = _peak_kb(proc.pid)
            print("\n".join(results))
            print(f"server peak resident memory: {before / 1024:.0f} MB before, {after / 1024:.0f} MB after "
                  f"(growth {(after - before) / 1024:.0f} MB)")
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()

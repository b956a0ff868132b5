"""Bulk lookups through the HTTP API: hash items per second in batches of 10,000, and what PDQ lookups catch.

Enrolls `--enrolled` development images (benchmark half) with `ai_training: notAllowed` into a registry in
a temporary directory, then sends batches of `--batch` items to `POST /v1/lookups` through litestar's test
client (the whole application: authentication, body limits, decoding, the store and the PDQ index; no
network): SHA-256 and PDQ items of which one in a hundred is a copy of an enrolled image (resized to half,
recompressed at JPEG quality 75) and the rest hashes of images that were never enrolled. Prints items per
second, the share of copies reported `reserved` and of the others reported anything but `no_match`.

    python -m benchmarks.bench_lookups [--enrolled 300] [--batch 10000] [--batches 5]
"""

import argparse
import hashlib
import io
import random
import tempfile
import time
from pathlib import Path

import msgspec
from litestar.testing import TestClient
from PIL import Image

from api.app import create_app
from api.settings import Settings
from benchmarks.devdata import DEFAULT, DevSet
from benchmarks.stats import pct
from matcher.image.hashes import pdq, pdq_hex
from registry.models import Role
from registry.terms import OptOuts, TdmChoice
from service.wiring import open_registry


def copy_pdq(path: Path) -> str:
    img = Image.open(path).convert("RGB")
    img = img.resize((max(1, img.width // 2), max(1, img.height // 2)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=75)
    return pdq_hex(pdq(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--enrolled", type=int, default=300)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=5)
    args = ap.parse_args()
    files = [p for p, _ in DevSet(args.data, "manifest_images.csv").files("benchmark")]
    random.Random(7).shuffle(files)
    enrolled, others = files[: args.enrolled], files[args.enrolled :]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(data_dir=Path(tmp) / "data", image_embedder="none")
        registry = open_registry(settings.service)
        owner = registry.ensure_account("bench", Role.CREATOR)
        reserved = OptOuts(ai_training=TdmChoice(use="notAllowed"))
        t0 = time.perf_counter()
        for path in enrolled:
            registry.enroll(owner, path.read_bytes(), opt_outs=reserved)
        print(f"enrolled {len(enrolled)} images in {time.perf_counter() - t0:.0f}s")
        _, key = registry.create_key("trainer", Role.OPERATOR)
        copies = [copy_pdq(p) for p in enrolled]
        unrelated = [(hashlib.sha256(p.read_bytes()).hexdigest(), pdq_hex(pdq(Image.open(p).convert("RGB"))[0]))
                     for p in others]
        rng = random.Random(3)
        caught = copied = false = unrelated_n = 0
        seconds = []
        with TestClient(create_app(settings, registry)) as client:
            for b in range(args.batches):
                items, truth = [], []
                for i in range(args.batch):
                    if i % 100 == 0:
                        items.append({"id": f"{b}-{i}", "pdq": rng.choice(copies)})
                        truth.append(True)
                    else:
                        sha, hash_ = rng.choice(unrelated)
                        items.append({"id": f"{b}-{i}", "sha256": sha, "pdq": hash_})
                        truth.append(False)
                body = msgspec.json.encode({"purpose": "ai_training", "items": items})
                start = time.perf_counter()
                r = client.post("/v1/lookups", content=body,
                                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
                seconds.append(time.perf_counter() - start)
                r.raise_for_status()
                for result, is_copy in zip(r.json()["results"], truth, strict=True):
                    if is_copy:
                        copied += 1
                        caught += result["reason"] == "reserved"
                    else:
                        unrelated_n += 1
                        false += result["reason"] != "no_match"
        registry.close()
    rate = args.batch / pct(seconds, 50)
    print(f"lookups of {args.batch} hash items (SHA-256 + PDQ), {len(enrolled)} works enrolled: "
          f"p50 {pct(seconds, 50):.2f}s a batch, {rate:,.0f} items/s; PDQ of half-size recompressed copies "
          f"reported reserved: {caught}/{copied} ({caught / copied:.3f}); unrelated items reported matched: "
          f"{false}/{unrelated_n} ({false / unrelated_n:.4f})")


if __name__ == "__main__":
    main()

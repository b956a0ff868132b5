"""Calibrate the image matcher's fusion weights and decision threshold on the development images.

Enrolls part of the *calibration* half of `../shared/data/dev/images`, queries synthetic edits of enrolled
images (positives) and non-enrolled calibration images with the same edits (negatives), fits a logistic
model on [PDQ similarity, ln(1 + SIFT inliers), cosine], and sets the threshold above every negative with a
margin. Writes `matcher/image/calibration.json`. The benchmark reports on the other half.

    python -m scripts.calibrate_image [--data PATH] [--enrolled 120] [--queries 50]
"""

import argparse
import json
import math
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
from PIL import Image

from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet
from matcher.image.embed import EfficientNetLite0Embedder
from matcher.image.matcher import ImageCalibration, ImageMatcher
from registry.content import load_content
from scripts.fit import logistic_fit, threshold_for

OUT = Path(__file__).resolve().parents[1] / "matcher" / "image" / "calibration.json"


def features(evidence: dict[str, object]) -> list[float]:
    dist = evidence.get("pdq_distance")
    geometry = evidence.get("geometry") or {}
    inliers = geometry.get("inliers", 0) if isinstance(geometry, dict) else 0
    cos = evidence.get("cosine")
    return [0.0 if dist is None else max(0.0, 1 - float(dist) / 64), math.log1p(float(inliers)),  # type: ignore[arg-type]
            0.0 if cos is None else float(cos)]  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--enrolled", type=int, default=120)
    ap.add_argument("--queries", type=int, default=50, help="enrolled images edited per edit")
    ap.add_argument("--negatives", type=int, default=80)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    dev = DevSet(args.data, "manifest_images.csv")
    legit = dev.overlapping("overlaps_images.json")
    files = dev.files("calibration")
    random.Random(0).shuffle(files)
    enrolled, others = files[: args.enrolled], files[args.enrolled : args.enrolled + args.negatives]
    # calibration only: a permissive threshold, so every candidate's evidence is seen
    matcher = ImageMatcher(None, EfficientNetLite0Embedder(), calibration=ImageCalibration(threshold=2.0))
    for path, _ in enrolled:
        matcher.add(path.name, matcher.fingerprint(load_content(path.read_bytes(), max_pixels=10**9, max_text_chars=1)))

    xs: list[list[float]] = []
    ys: list[float] = []
    negative_queries: list[list[list[float]]] = []
    t0 = time.time()
    backgrounds = [Image.open(p).convert("RGB") for p, _ in others[:10]]
    for name, edit in edits.ALL.items():
        for i, (path, _) in enumerate(enrolled[: args.queries]):
            query = edit(Image.open(path).convert("RGB"), random.Random(i), backgrounds[i % len(backgrounds)])
            for m in matcher.verify_all(load_content(edits.encode(query), max_pixels=10**9, max_text_chars=1)):
                if m.work_id != path.name and frozenset((m.work_id, path.name)) in legit:
                    continue
                xs.append(features(m.evidence))
                ys.append(1.0 if m.work_id == path.name else 0.0)
        print(f"positives {name}: {time.time() - t0:.0f}s", flush=True)
    negative_edits: list[edits.Edit | None] = [None, *edits.ALL.values()]
    for neg_edit in negative_edits:
        for i, (path, _) in enumerate(others):
            img = Image.open(path).convert("RGB")
            bg = backgrounds[(i + 1) % len(backgrounds)]
            query = img if neg_edit is None else neg_edit(img, random.Random(i), bg)
            rows = []
            for m in matcher.verify_all(load_content(edits.encode(query), max_pixels=10**9, max_text_chars=1)):
                if frozenset((m.work_id, path.name)) in legit:
                    continue
                xs.append(features(m.evidence))
                ys.append(0.0)
                rows.append(features(m.evidence))
            negative_queries.append(rows)
    x, y = np.array(xs), np.array(ys)
    w = logistic_fit(x, y, l2=1.0)
    cal = ImageCalibration(bias=float(w[0]), w_pdq=float(w[1]), w_inliers=float(w[2]), w_cos=float(w[3]))

    def score(f: list[float]) -> float:
        return 1 / (1 + math.exp(-(w[0] + w[1] * f[0] + w[2] * f[1] + w[3] * f[2])))

    negatives = [score(f) for f, label in zip(xs, ys, strict=True) if label == 0]
    threshold = threshold_for(negatives, floor=0.5, margin=0.05)
    cal = msgspec.structs.replace(cal, threshold=threshold)
    positives = [score(f) for f, label in zip(xs, ys, strict=True) if label == 1]
    recall = sum(s >= threshold for s in positives) / max(1, len(positives))
    report = {
        "about": "written by scripts/calibrate_image.py; do not edit by hand",
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {"split": "calibration", "enrolled": len(enrolled), "edited_queries_per_edit": args.queries,
                 "negative_queries": len(negative_queries), "candidate_rows": len(xs)},
        "fit": {"max_negative_score": round(max(negatives, default=0.0), 4),
                "calibration_recall_of_retrieved": round(recall, 4)},
        "calibration": msgspec.to_builtins(cal),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

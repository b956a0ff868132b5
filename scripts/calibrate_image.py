"""Calibrate the image matcher's fusion weights and decision threshold on the development images.

Enrolls part of the *calibration* half of `../shared/data/dev/images`, queries synthetic edits of enrolled
images (positives) and non-enrolled calibration images with the same edits (negatives), fits one logistic
curve per signal (PDQ similarity, ln(1 + SIFT inliers), cosine) for the noisy-OR fusion, and sets the
threshold above every negative with a margin. Writes `matcher/image/calibration.json`. The benchmark
reports on the other half.

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
import numpy.typing as npt
from PIL import Image

from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet
from matcher.image.embed import EfficientNetLite0Embedder
from matcher.image.matcher import ImageCalibration, ImageMatcher, fuse
from registry.content import load_content
from registry.evidence import Evidence, ImageEvidence
from scripts.fit import logistic_fit, threshold_for

OUT = Path(__file__).resolve().parents[1] / "matcher" / "image" / "calibration.json"


def row(evidence: Evidence, label: float) -> list[float]:
    """[PDQ distance (nan: no hit), inliers, cosine (nan: not computed), label]."""
    if not isinstance(evidence, ImageEvidence):
        raise TypeError(f"image calibration got {type(evidence).__name__}")
    dist, cos = evidence.pdq_distance, evidence.cosine
    inliers = evidence.geometry.inliers if evidence.geometry else 0
    return [math.nan if dist is None else float(dist), float(inliers), math.nan if cos is None else float(cos), label]


def fit_curves(rows: npt.NDArray[np.float64]) -> ImageCalibration:
    """One logistic curve per signal, each on its own feature (absent PDQ and inliers count as 0)."""
    y = rows[:, 3]
    pdq_sim = np.where(np.isnan(rows[:, 0]), 0.0, np.clip(1 - rows[:, 0] / 64, 0, 1))
    log_inliers = np.log1p(rows[:, 1])
    has_cos = ~np.isnan(rows[:, 2])
    curves = []
    for x, yy in ((pdq_sim, y), (log_inliers, y), (rows[has_cos, 2], y[has_cos])):
        w = logistic_fit(x[:, None], yy, l2=1.0)
        curves.append((round(float(w[0]), 4), round(float(w[1]), 4)))
    return ImageCalibration(pdq=curves[0], sift=curves[1], cos=curves[2])


def collect(args: argparse.Namespace) -> npt.NDArray[np.float64]:
    dev = DevSet(args.data, "manifest_images.csv")
    legit = dev.overlapping("overlaps_images.json")
    files = dev.files("calibration")
    random.Random(0).shuffle(files)
    enrolled, others = files[: args.enrolled], files[args.enrolled : args.enrolled + args.negatives]
    # a threshold above any confidence, so that every candidate is verified and its evidence seen
    matcher = ImageMatcher(None, EfficientNetLite0Embedder(), calibration=ImageCalibration(threshold=2.0))
    for path, _ in enrolled:
        matcher.add(path.name, matcher.fingerprint(load_content(path.read_bytes(), max_pixels=10**9, max_text_chars=1)))
    rows: list[list[float]] = []
    t0 = time.time()
    backgrounds = [Image.open(p).convert("RGB") for p, _ in others[:10]]
    for name, edit in edits.ALL.items():
        for i, (path, _) in enumerate(enrolled[: args.queries]):
            query = edit(Image.open(path).convert("RGB"), random.Random(i), backgrounds[i % len(backgrounds)])
            for m in matcher.verify_all(load_content(edits.encode(query), max_pixels=10**9, max_text_chars=1)):
                if m.work_id == path.name or frozenset((m.work_id, path.name)) not in legit:
                    rows.append(row(m.evidence, 1.0 if m.work_id == path.name else 0.0))
        print(f"positives {name}: {time.time() - t0:.0f}s", flush=True)
    negative_edits: list[edits.Edit | None] = [None, *edits.ALL.values()]
    for neg_edit in negative_edits:
        for i, (path, _) in enumerate(others):
            img = Image.open(path).convert("RGB")
            bg = backgrounds[(i + 1) % len(backgrounds)]
            query = img if neg_edit is None else neg_edit(img, random.Random(i), bg)
            for m in matcher.verify_all(load_content(edits.encode(query), max_pixels=10**9, max_text_chars=1)):
                if frozenset((m.work_id, path.name)) not in legit:
                    rows.append(row(m.evidence, 0.0))
    print(f"negatives: {time.time() - t0:.0f}s", flush=True)
    return np.array(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--enrolled", type=int, default=120)
    ap.add_argument("--queries", type=int, default=50, help="enrolled images edited per edit")
    ap.add_argument("--negatives", type=int, default=80)
    ap.add_argument("--rows", type=Path, help="reuse (or save) the evidence rows in this .npy file")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    if args.rows and args.rows.exists():
        rows = np.load(args.rows, allow_pickle=False)
    else:
        rows = collect(args)
        if args.rows:
            np.save(args.rows, rows, allow_pickle=False)
    cal = fit_curves(rows)
    scores = np.array([fuse(cal, None if math.isnan(r[0]) else int(r[0]), int(r[1]),
                            None if math.isnan(r[2]) else float(r[2])) for r in rows])
    negatives, positives = scores[rows[:, 3] == 0], scores[rows[:, 3] == 1]
    threshold = threshold_for(negatives.tolist(), floor=0.5, margin=0.05)
    cal = msgspec.structs.replace(cal, threshold=threshold)
    report = {
        "about": "written by scripts/calibrate_image.py; do not edit by hand",
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {"split": "calibration", "enrolled": args.enrolled, "edited_queries_per_edit": args.queries,
                 "negative_images": args.negatives, "candidate_rows": len(rows),
                 "positive_rows": int(rows[:, 3].sum())},
        "fit": {"max_negative_score": round(float(negatives.max(initial=0.0)), 4),
                "recall_of_retrieved_positives": round(float((positives >= threshold).mean()), 4)},
        "calibration": msgspec.to_builtins(cal),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

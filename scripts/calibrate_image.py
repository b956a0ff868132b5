"""Calibrate the image matcher's fusion weights and decision threshold on the development images.

Enrolls part of the *calibration* half of `../shared/data/dev/images`, queries synthetic edits of enrolled
images (positives) and non-enrolled calibration images with the same edits (negatives), fits one logistic
curve per fused signal, on the feature `matcher.image.fusion` gives it (PDQ similarity, ln(1 + SIFT
inliers), the cosine of each embedder) for the noisy-OR fusion, and sets the
threshold above every negative with a margin. The verification gate (`verify_min_cosine`) is set below
nearly every copy that the embedding names and that the fused score accepts, so that checks skip
verifying look-alikes that could not pass. The cut-outs along a pasted picture's outline (`inset`) and the
refined placements (`aligned`) meet far more look-alikes in a large index than among the enrolled works
alone, so their negatives are also collected
against the same works padded to `--pad` with re-framings of other calibration images (as the benchmark pads
its index). Writes `matcher/image/calibration.json`. The benchmark reports on the other half.

    python -m scripts.calibrate_image [--data PATH] [--enrolled 120] [--queries 50] [--rows rows.json]
"""

import argparse
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
from PIL import Image

from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet, select
from matcher.image.embed_onnx import OnnxEmbedder
from matcher.image.fusion import FEATURES, Curve, ImageCalibration, features, fuse, kind_of
from matcher.image.matcher import ImageMatcher
from registry.content import load_content
from registry.evidence import Evidence, ImageEvidence
from scripts.fit import logistic_fit, threshold_for

OUT = Path(__file__).resolve().parents[1] / "matcher" / "image" / "calibration.json"


Row = dict[str, float]  # signal name -> raw value, and "label"
# a pair PDQ did not hit or SIFT did not verify fits as the weakest value; a dense value is fitted where it
# was computed (the best few candidates of a query that nothing else verified)
ABSENT = {"pdq": 64.0, "pdq_low": 64.0, "sift": 0.0}
CAPS = {"embedding": 0.3}  # an embedding supports the other signals, never decides alone
STEPS = {"dense", "placed", "aligned", "inset"}  # fitted as a step above the largest negative (`step_curve`)
PADDED = ("inset", "aligned")  # also collected against the padded index: they meet more look-alikes there
# a wider margin where the copies' values sit far above every negative: the refined placements of copies are
# 0.8-1.0 (the calibration half: 0.4% of them between 0.47 and 0.62), so the step can stay well clear of the
# look-alikes that data this size does not hold at no cost in recall
MARGINS = {"aligned": 0.15}


def row(evidence: Evidence, label: float) -> Row:
    """The raw value of every signal that saw the pair, and whether it is a copy."""
    if not isinstance(evidence, ImageEvidence):
        raise TypeError(f"image calibration got {type(evidence).__name__}")
    return {**evidence.signals, "label": label}


STEP_FLOOR = 0.5  # no correlation under this decides alone (it shares under a quarter of the variance), however
# far below it the unrelated pairs of the calibration half stayed (`aligned`: 0.335, its step 0.485 without)


def step_curve(negatives: list[float], margin: float = 0.05, steepness: float = 30.0) -> Curve:
    """A steep curve whose midpoint lies `margin` above the largest negative value, and at least at
    `STEP_FLOOR`: for the dense correlations, where a logistic fit is swamped by the unrelated pairs (dozens
    per copy, most of them low-detail look-alikes) and the two populations barely overlap at the top, the
    operating point is the one that keeps every unrelated pair of the calibration half out."""
    midpoint = max(max(negatives, default=0.0) + margin, STEP_FLOOR)
    return Curve(round(-steepness * midpoint, 4), steepness)


def fit_curves(rows: list[Row]) -> ImageCalibration:
    """One logistic curve per fused signal, each on its own feature (the shared transform in fusion.py)."""
    names = sorted({k for r in rows for k in r if k != "label" and kind_of(k) in FEATURES})
    curves = {}
    for name in names:
        if name in STEPS:
            negatives = [r[name] for r in rows if name in r and r["label"] == 0]
            curves[name] = step_curve(negatives, MARGINS.get(name, 0.05))
            continue
        absent = ABSENT.get(kind_of(name))
        # the padded pass recorded the PADDED values only: it says nothing of the other signals
        used = [r for r in rows if name in r or (absent is not None and "padded" not in r)]
        x = np.array([[features({name: r.get(name, absent or 0.0)})[name]] for r in used])
        y = np.array([r["label"] for r in used])
        w = logistic_fit(x, y, l2=1.0)
        curves[name] = Curve(round(float(w[0]), 4), round(float(w[1]), 4), CAPS.get(kind_of(name), 1.0))
    return ImageCalibration(curves=curves)


def verify_gate(rows: list[Row], cal: ImageCalibration, quantile: float = 0.02) -> float:
    """The embedding cosine below which an embedding candidate is not verified (unless another signal names
    it): the `quantile` of the cosines of the accepted copies that the embedding named. Copies of
    low-detail images, which verification cannot accept anyway, do not count."""
    cosines = [v for r in rows if r["label"] == 1
               and fuse(cal, {k: x for k, x in r.items() if k != "label"}) >= cal.threshold
               for k, v in r.items() if kind_of(k) == "embedding"]
    return round(float(np.quantile(cosines, quantile)), 4) if cosines else 0.0


def collect(args: argparse.Namespace) -> list[Row]:
    dev = DevSet(args.data, "manifest_images.csv")
    legit = dev.overlapping("overlaps_images.json")
    files = dev.files("calibration")
    random.Random(0).shuffle(files)
    # the low-detail images over-represented, so that the dense curves are fitted against unrelated smooth,
    # flat and dark pairs
    enrolled, queried, held_low, held_rest = select(files, args.enrolled, args.queries)
    others = held_low + held_rest[: args.negatives]
    # a threshold above any confidence, so that every candidate is verified and its evidence seen
    matcher = ImageMatcher(None, OnnxEmbedder(), calibration=ImageCalibration(threshold=2.0))
    for path, _ in enrolled:
        matcher.add(path.name, matcher.fingerprint(load_content(path.read_bytes(), max_pixels=10**9, max_text_chars=1)))
    rows: list[Row] = []
    t0 = time.time()
    backgrounds = [Image.open(p).convert("RGB") for p, _ in others[:10]]
    for name, edit in edits.ALL.items():
        for i, (path, _) in enumerate(queried):
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
    if args.pad:
        rows += padded_negatives(matcher, held_rest[args.negatives :], others, backgrounds, legit, args.pad)
        print(f"inset and aligned negatives against {args.pad} works: {time.time() - t0:.0f}s", flush=True)
    return rows


def padded_negatives(matcher: ImageMatcher, pad_sources: list[tuple[Path, str]],
                     others: list[tuple[Path, str]], backgrounds: list[Image.Image],
                     legit: set[frozenset[str]], pad: int) -> list[Row]:
    """The `PADDED` values of unrelated pairs with the index padded to `pad` works (re-framings of calibration
    images that are neither enrolled nor queried, as `benchmarks.bench_image.pad_index` makes them)."""
    from benchmarks.bench_image import pad_index

    pad_index(matcher, pad - len(matcher.work_ids()), [p for p, _ in pad_sources])
    rows: list[Row] = []
    for neg_edit in [None, *edits.ALL.values()]:
        for i, (path, _) in enumerate(others):
            img = Image.open(path).convert("RGB")
            bg = backgrounds[(i + 1) % len(backgrounds)]
            query = img if neg_edit is None else neg_edit(img, random.Random(i), bg)
            for m in matcher.verify_all(load_content(edits.encode(query), max_pixels=10**9, max_text_chars=1)):
                signals = m.evidence.signals if isinstance(m.evidence, ImageEvidence) else {}
                values = {k: signals[k] for k in PADDED if k in signals}
                if values and frozenset((m.work_id, path.name)) not in legit:
                    rows.append({**values, "label": 0.0, "padded": 1.0})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--enrolled", type=int, default=120)
    ap.add_argument("--queries", type=int, default=90,
                    help="enrolled images edited per edit (every enrolled low-detail image, then others)")
    ap.add_argument("--negatives", type=int, default=80)
    ap.add_argument("--pad", type=int, default=2000,
                    help="works the index holds for the inset and aligned negatives (0: skip)")
    ap.add_argument("--rows", type=Path, help="reuse (or save) the evidence rows in this JSON file")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    if args.rows and args.rows.exists():
        rows: list[Row] = json.loads(args.rows.read_text())
    else:
        rows = collect(args)
        if args.rows:
            args.rows.write_text(json.dumps(rows))
    cal = fit_curves(rows)
    scores = np.array([fuse(cal, {k: v for k, v in r.items() if k != "label"}) for r in rows])
    labels = np.array([r["label"] for r in rows])
    negatives, positives = scores[labels == 0], scores[labels == 1]
    threshold = threshold_for(negatives.tolist(), floor=0.5, margin=0.05)
    cal = msgspec.structs.replace(cal, threshold=threshold)
    cal = msgspec.structs.replace(cal, verify_min_cosine=verify_gate(rows, cal))
    embedding_only = [r for r in rows if "pdq" not in r and "local" not in r
                      and any(kind_of(k) == "embedding" for k in r)]
    skipped = [r for r in embedding_only
               if max(v for k, v in r.items() if kind_of(k) == "embedding") < cal.verify_min_cosine]
    report = {
        "about": "written by scripts/calibrate_image.py; do not edit by hand",
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {"split": "calibration", "enrolled": args.enrolled, "edited_queries_per_edit": args.queries,
                 "negative_images": args.negatives, "inset_negatives_index": args.pad, "candidate_rows": len(rows),
                 "positive_rows": int(labels.sum())},
        "fit": {"max_negative_score": round(float(negatives.max(initial=0.0)), 4),
                "recall_of_retrieved_positives": round(float((positives >= threshold).mean()), 4),
                "embedding_only_candidates": len(embedding_only),
                "not_verified_below_gate": len(skipped),
                "copies_below_gate": sum(1 for r in skipped if r["label"] == 1)},
        "calibration": msgspec.to_builtins(cal),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""How far apart ISCC Content-Codes may be for a code-only match (checks and lookups sent an `iscc`).

A trainer or a C2PA tool may hold only the ISCC of a file. For one split of the development data: the
Content-Code distance from each work to its copies (images: half size, JPEG 30, grayscale, blur, brightness,
contrast, saturation; texts: case/punctuation/space changes, 2% of the words edited, the last tenth cut)
and to every other item of the split (excluding the pairs the overlaps files list). Prints, per distance,
the share of copies caught, the unrelated pairs that close and, extrapolated from the lower tail of the
unrelated distances (a log-linear fit from the closest pair to the 1% quantile), how many unrelated works a
code would meet within that distance in an index of 100,000. `ISCC_MAX_DISTANCE` in `matcher/iscc.py` is the
largest distance at which that estimate stays under 0.05, on the calibration half; the benchmark half gives
the figures (`--split benchmark`).

An ISCC Image-Code is a DCT hash of the whole picture: mirrors, rotations and crops change it, as they do
any global hash; those copies are the matchers' work (send the file to `/v1/matches/byContent`).

    python -m scripts.calibrate_iscc [--split calibration|benchmark]
"""

import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import edits, text_edits
from benchmarks.devdata import DEFAULT, DevSet
from matcher.iscc import content_code, content_unit
from registry.content import load_content

IMAGE_EDITS = {k: edits.ALL[k] for k in ("resize50", "jpeg30", "grayscale", "blur", "brightness", "contrast",
                                         "saturation")}


def _body(data: bytes) -> int:
    return content_unit(content_code(load_content(data, max_pixels=10**9, max_text_chars=10**9)))[1]


def _text_copies(text: str, rng: random.Random, vocabulary: list[str]) -> dict[str, str]:
    words = text.split()
    return {"light": text_edits.light_edit(text, rng),
            "edited2": " ".join(text_edits.edit_words(words, 0.02, rng, vocabulary)),
            "cut10": " ".join(words[: max(1, len(words) * 9 // 10)])}


def measure(kind: str, data: Path, split: str) -> tuple[dict[str, list[int]], list[int]]:
    dev = DevSet(data, f"manifest_{kind}s.csv")
    files = dev.files(split)
    legit = dev.overlapping(f"overlaps_{kind}s.json")
    rng = random.Random(7)
    works: list[tuple[str, int]] = []
    copies: dict[str, list[int]] = {}
    backdrop = Image.new("RGB", (8, 8))
    vocabulary = [w for path, _ in files[:50] for w in path.read_text(errors="replace").split()][:5000] \
        if kind == "text" else []
    for path, _ in files:
        raw = path.read_bytes()
        body = _body(raw)
        works.append((path.name, body))
        if kind == "image":
            img = Image.open(path).convert("RGB")
            variants = {name: edits.encode(edit(img, rng, backdrop)) for name, edit in IMAGE_EDITS.items()}
        else:
            variants = {name: t.encode() for name, t in
                        _text_copies(raw.decode("utf-8", errors="replace"), rng, vocabulary).items()}
        for name, copy in variants.items():
            copies.setdefault(name, []).append(bin(_body(copy) ^ body).count("1"))
    bodies = np.array([b for _, b in works], dtype=np.uint64)
    unrelated: list[int] = []
    for i, (name, body) in enumerate(works):
        distances = np.bitwise_count(bodies[i + 1:] ^ np.uint64(body))
        unrelated += [int(d) for (other, _), d in zip(works[i + 1:], distances.tolist(), strict=True)
                      if frozenset((name, other)) not in legit]
    return copies, unrelated


def tail_rate(apart: np.ndarray) -> np.poly1d:
    """log10 of the share of unrelated pairs within a distance, fitted on the lower tail, as a function of it."""
    lo, hi = int(apart.min()), int(np.quantile(apart, 0.01))
    ds = np.arange(lo, max(hi, lo + 2) + 1)
    shares = np.array([np.mean(apart <= d) for d in ds])
    return np.poly1d(np.polyfit(ds, np.log10(shares), 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--split", choices=["calibration", "benchmark"], default="calibration")
    args = ap.parse_args()
    for kind in ("image", "text"):
        copies, unrelated = measure(kind, args.data, args.split)
        apart = np.array(unrelated)
        print(f"{kind}s, {args.split} half: {len(copies[next(iter(copies))])} works, {len(apart)} unrelated pairs "
              f"(closest {apart.min()}, 0.1% quantile {np.quantile(apart, 0.001):.0f})")
        rate = tail_rate(apart)
        for limit in (2, 4, 6, 8, 9, 10, 11, 12, 14, 16):
            caught = ", ".join(f"{name} {np.mean(np.array(d) <= limit):.3f}" for name, d in copies.items())
            print(f"  distance <= {limit:2d}: unrelated pairs {int(np.sum(apart <= limit)):5d} (per query at 100,000 "
                  f"works: {1e5 * 10 ** rate(limit):.4f}); caught: {caught}")


if __name__ == "__main__":
    main()

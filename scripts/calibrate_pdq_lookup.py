"""How far apart PDQ hashes may be for hash-only matching (bulk lookups, the offline bank), per quality.

Hasher-Matcher-Actioner drops hashes of quality under 50 (smooth, dark and flat images). Hash-only matching
has nothing else to go on, so this measures whether those hashes can be kept: for the works of one split of
the development images whose PDQ quality is under 50, the distance from each work to its copies (half size,
JPEG 30, grayscale, mirror; the copy's eight dihedral hashes, as the filter computes them) and to every
other image of the split (excluding the pairs the overlaps file lists). Prints, per distance, the share of
copies caught and the unrelated pairs that close. `PDQ_LOW_QUALITY_MAX_DISTANCE` in `matcher/image/hashes.py`
was chosen on the calibration half; run `--split benchmark` for the figures on the other half.

    python -m scripts.calibrate_pdq_lookup [--split calibration|benchmark]
"""

import argparse
import random
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet
from matcher.image.hashes import PDQ_MIN_QUALITY, pdq, pdq_dihedral
from registry.content import load_content

EDITS = {"resize50": edits.resize50, "jpeg30": edits.jpeg30, "grayscale": edits.grayscale, "mirror": edits.mirror}


def bits_apart(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Hamming distances between packed hashes (broadcast over leading axes)."""
    return np.unpackbits(a ^ b, axis=-1).sum(axis=-1).astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--split", choices=["calibration", "benchmark"], default="calibration")
    args = ap.parse_args()
    dev = DevSet(args.data, "manifest_images.csv")
    files = dev.files(args.split)
    legit = dev.overlapping("overlaps_images.json")
    low: list[tuple[str, npt.NDArray[np.uint8]]] = []
    copies: list[int] = []
    backdrop = Image.new("RGB", (8, 8))
    for path, _ in files:
        img = Image.open(path).convert("RGB")
        hash_, quality = pdq(img)
        if quality >= PDQ_MIN_QUALITY:
            continue
        low.append((path.name, hash_))
        for edit in EDITS.values():
            copy = load_content(edits.encode(edit(img, random.Random(0), backdrop)), max_pixels=10**9,
                                max_text_chars=1).image
            variants, _ = pdq_dihedral(copy)
            copies.append(int(bits_apart(variants, hash_).min()))
    works = np.stack([h for _, h in low])
    unrelated: list[int] = []
    for path, _ in files:
        variants, _ = pdq_dihedral(Image.open(path).convert("RGB"))
        nearest = bits_apart(variants[:, None, :], works[None, :, :]).min(axis=0)
        unrelated += [int(d) for (name, _), d in zip(low, nearest.tolist(), strict=True)
                      if name != path.name and frozenset((name, path.name)) not in legit]
    caught, apart = np.array(copies), np.array(unrelated)
    print(f"{args.split} half: {len(low)} works of PDQ quality under {PDQ_MIN_QUALITY}, {len(caught)} copies, "
          f"{len(apart)} unrelated pairs (closest {apart.min()}, 1% quantile {np.quantile(apart, 0.01):.0f})")
    for limit in (8, 16, 20, 24, 28, 31):
        print(f"  distance <= {limit}: copies caught {np.mean(caught <= limit):.3f}, "
              f"unrelated pairs that close {int(np.sum(apart <= limit))}")


if __name__ == "__main__":
    main()

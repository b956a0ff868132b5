"""Perceptual hashes of an image: PDQ (Meta's, interoperable with Hasher-Matcher-Actioner) and pHash.

PDQ hashes are 256 bits, kept packed as 32 bytes (the layout faiss binary indexes use) and written as
64 hex characters in evidence. `pdq_dihedral` gives the hashes of all eight rotations and mirror images,
so a mirrored or 90°-rotated copy matches an enrolled work hashed once in its own orientation.
"""

import hashlib

import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

PDQ_MIN_QUALITY = 50  # Hasher-Matcher-Actioner ignores PDQ hashes below this quality
PDQ_MAX_DISTANCE = 31  # the PDQ authors' recommended match threshold
# Hash-only matching (bulk lookups, the offline bank) also takes hashes of quality under 50 (smooth and dark
# images, which HMA drops) within a stricter distance: on the calibration half of the development images,
# copies (half size, JPEG 30, grayscale, mirror) of low-quality works lie within 24 in 87% of cases, and no
# unrelated image comes closer than 86 to a low-quality work (8,671 pairs; `scripts/calibrate_pdq_lookup.py`)
PDQ_LOW_QUALITY_MAX_DISTANCE = 24


def pdq_match_distance(quality_a: int, quality_b: int) -> int:
    """The largest Hamming distance at which two PDQ hashes count as the same picture in hash-only matching."""
    return PDQ_MAX_DISTANCE if min(quality_a, quality_b) >= PDQ_MIN_QUALITY else PDQ_LOW_QUALITY_MAX_DISTANCE


PDQ_SIDE = 512  # PDQ reduces every image to 64 x 64 with box filters; hashing it box-reduced to about 512 px
# a side first moves a few of the 256 bits (median 4, at most 8 on the large development images; the match
# radius is 31) in a quarter of the time for the largest decoded images


def _rgb_array(img: Image.Image) -> npt.NDArray[np.uint8]:
    if img.mode != "RGB":
        img = img.convert("RGB")
    factor = max(img.size) // PDQ_SIDE
    if factor >= 2:
        img = img.reduce(factor)  # a box filter, as PDQ's own first step
    return np.asarray(img, dtype=np.uint8)


def pdq(img: Image.Image) -> tuple[npt.NDArray[np.uint8], int]:
    """The packed PDQ hash (32 bytes) of the image as it is, and its quality (0-100)."""
    bits, quality = pdqhash.compute(_rgb_array(img))
    return np.packbits(bits.astype(np.uint8)), int(quality)


def pdq_dihedral(img: Image.Image) -> tuple[npt.NDArray[np.uint8], int]:
    """Packed PDQ hashes of the 8 dihedral variants, shape (8, 32), and their quality."""
    hashes, quality = pdqhash.compute_dihedral(_rgb_array(img))
    return np.stack([np.packbits(h.astype(np.uint8)) for h in hashes]), int(quality)


def pdq_hex(packed: npt.NDArray[np.uint8]) -> str:
    return bytes(packed.tolist()).hex()


def phash(img: Image.Image) -> str:
    return str(imagehash.phash(img))


def phash_distance(a: str, b: str) -> int:
    return int(imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b))


def pixel_sha256(img: Image.Image) -> str:
    """SHA-256 of the decoded RGB pixels and size: equal for the same picture in another container."""
    rgb = img.convert("RGB")
    return hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()

"""Fusion of the image signals into one confidence, keyed by signal name, and the calibration behind it.

Each signal's raw value (a PDQ distance, a count of verified local features, a cosine) is turned into a
feature by its transform (`FEATURES`), then into a probability by its own logistic curve; the confidence is
a noisy-OR of those probabilities: 1 - prod(1 - p). Each curve is fitted on its signal alone, so one strong
signal suffices and weak ones add up. A curve may be capped: a global embedding cannot tell a copy from a
look-alike (two nebula photographs reach a cosine of 0.95), so it supports the other signals and never makes
a match by itself. The matcher and `scripts/calibrate_image.py` both use `features` and `fuse` from here.
"""

import json
import math
from collections.abc import Callable, Mapping
from importlib import resources

import msgspec


def _pdq_similarity(distance: float) -> float:
    return max(0.0, 1.0 - distance / 64.0)


# signal names: "exact", "pdq", "pdq_low", "sift" (verified local features), "dense", "placed", "aligned", "inset",
# "embedding:<embedder name>"; "local" (local-feature votes) and "band" (`signals.BandDescriptor`) only name
# candidates and are not fused
FEATURES: dict[str, Callable[[float], float]] = {
    "pdq": _pdq_similarity,
    "pdq_low": _pdq_similarity,  # either hash of quality < 50
    "dense": lambda correlation: correlation,  # the whole pictures aligned (dense.py)
    "placed": lambda correlation: correlation,  # one placed in or cut out of the other (dense.py)
    "inset": lambda correlation: correlation,  # a picture cut out of the query along its outline (insets.py)
    "aligned": lambda correlation: correlation,  # a placement refined at a larger size, block by block (dense.py)
    "sift": math.log1p,
    "embedding": lambda cosine: cosine,
}


def kind_of(signal: str) -> str:
    """The kind of a signal name: "embedding:efficientnet_lite0" is an "embedding"."""
    return signal.split(":", 1)[0]


class Curve(msgspec.Struct, frozen=True):
    """p = min(cap, sigmoid(a + b * feature))."""

    a: float
    b: float
    cap: float = 1.0


class ImageCalibration(msgspec.Struct, frozen=True, kw_only=True):
    curves: dict[str, Curve] = msgspec.field(default_factory=lambda: {
        "pdq": Curve(-12.0, 14.0), "sift": Curve(-8.0, 4.0), "embedding": Curve(-30.0, 10.0, 0.3)})
    threshold: float = 0.5
    embedding_k: int = 8
    max_candidates: int = 8
    verify_min_cosine: float = 0.0  # embedding candidates below this cosine are not worth verifying
    local_query_descriptors: int = 200  # strongest query descriptors searched in the local index
    local_min_similarity: float = 0.9  # RootSIFT inner product for a descriptor hit to vote
    local_min_votes: int = 3
    dense_candidates: int = 4  # candidates compared densely when nothing else verified a match
    band_candidates: int = 3  # and the `band` index's best few (compared densely, not verified by SIFT)
    placed_candidates: int = 2  # of those, the best few also searched for a placement

    def curve(self, signal: str) -> Curve | None:
        """The curve fitted for this signal, else the one for its kind (every embedder shares "embedding")."""
        return self.curves.get(signal) or self.curves.get(kind_of(signal))


def load_calibration() -> ImageCalibration:
    raw = resources.files("matcher.image").joinpath("calibration.json").read_text()
    return msgspec.convert(json.loads(raw)["calibration"], ImageCalibration)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def features(signals: Mapping[str, float]) -> dict[str, float]:
    """Each fused signal's feature (signals without a transform, such as "exact", are not fused)."""
    return {name: FEATURES[kind_of(name)](value) for name, value in signals.items() if kind_of(name) in FEATURES}


def fuse(cal: ImageCalibration, signals: Mapping[str, float]) -> float:
    """The confidence that the pair is a copy, from the signals that saw it (a signal that did not is absent;
    "sift" with 0 inliers counts as absent)."""
    if signals.get("exact"):
        return 1.0
    miss = 1.0
    for name, feature in features({k: v for k, v in signals.items() if not (k == "sift" and v <= 0)}).items():
        curve = cal.curve(name)
        if curve is not None:
            miss *= 1.0 - min(curve.cap, _sigmoid(curve.a + curve.b * feature))
    return 1.0 - miss

"""The image signals behind one protocol: each hashes a work, keeps its own index, and names candidates.

A signal stores per-work data under an integer id that the matcher assigns (`iid`) and answers a query with
`{iid: raw value}`; the matcher owns everything else about a work. Signals run in cheap-first stages (the
`stage` attribute): exact pixels and PDQ first, and only when they verify nothing, the embeddings and the
local-feature index. A new signal is a class here (or in its own module) and one entry in the matcher's
`signals` list; its fused value needs a transform in `fusion.FEATURES` and a curve in the calibration.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from matcher.image import features as lf
from matcher.image.embed import Embedder
from matcher.image.hashes import PDQ_MAX_DISTANCE, PDQ_MIN_QUALITY, pdq, pdq_dihedral, pixel_sha256
from matcher.image.index import HashIndex, VectorIndex

T = TypeVar("T")


class ImageQuery:
    """A query image with what the signals compute from it, each computed once, on first use."""

    def __init__(self, img: Image.Image) -> None:
        self.img = img
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = compute()
        value: T = self._cache[key]
        return value

    def pdq(self) -> tuple[npt.NDArray[np.uint8], int]:
        """The packed PDQ hashes of the 8 dihedral variants and their quality."""
        return self.cached("pdq", lambda: pdq_dihedral(self.img))

    def features(self, mirror: bool = False) -> lf.LocalFeatures:
        return self.cached(f"features:{mirror}", lambda: lf.extract(self.img, mirror=mirror))


class ImageSignal(Protocol):
    name: str  # the key of its value in evidence, fusion and calibration
    stage: int  # 0: cheap, always run; 1: run only when stage 0 verified nothing

    def fingerprint(self, image: ImageQuery) -> Any:
        """What a work contributes to this signal's index, computed from the enrolled image."""
        ...

    def add(self, iid: int, part: Any) -> None: ...

    def remove(self, iid: int) -> None: ...

    def search(self, query: ImageQuery) -> dict[int, float]: ...

    def clear(self) -> None: ...

    def save(self, directory: Path) -> None: ...

    def load(self, directory: Path) -> None:
        """Read what `save` wrote; raise OSError or ValueError when it is missing or does not fit."""
        ...


EMBED_SIDE = 512  # regions are cut from the image scaled to this size: every region is then resized to 224


def _embedding_base(image: ImageQuery) -> Image.Image:
    def scaled() -> Image.Image:
        img = image.img
        if max(img.size) <= EMBED_SIDE:
            return img
        small = img.copy()
        small.thumbnail((EMBED_SIDE, EMBED_SIDE), Image.Resampling.BILINEAR)
        return small

    return image.cached("embedding_base", scaled)


def _crop(img: Image.Image, boxes: list[tuple[float, float, float, float]]) -> list[Image.Image]:
    w, h = img.size
    return [img.crop((round(x0 * w), round(y0 * h), max(round(x0 * w) + 1, round(x1 * w)),
                      max(round(y0 * h) + 1, round(y1 * h)))) for x0, y0, x1, y1 in boxes]


class ExactPixels:
    """Works whose decoded pixels are identical to the query's (another container, the same picture)."""

    name = "exact"
    stage = 0

    def __init__(self) -> None:
        self.by_digest: dict[str, set[int]] = {}
        self.digest: dict[int, str] = {}

    def fingerprint(self, image: ImageQuery) -> str:
        return image.cached("pixels", lambda: pixel_sha256(image.img))

    def add(self, iid: int, part: str) -> None:
        self.digest[iid] = part
        self.by_digest.setdefault(part, set()).add(iid)

    def remove(self, iid: int) -> None:
        digest = self.digest.pop(iid, None)
        if digest is not None:
            self.by_digest.get(digest, set()).discard(iid)

    def search(self, query: ImageQuery) -> dict[int, float]:
        digest = query.cached("pixels", lambda: pixel_sha256(query.img))
        return {iid: 1.0 for iid in self.by_digest.get(digest, ())}

    def clear(self) -> None:
        self.by_digest, self.digest = {}, {}

    def save(self, directory: Path) -> None:
        (directory / "exact.json").write_text(json.dumps({str(k): v for k, v in self.digest.items()}))

    def load(self, directory: Path) -> None:
        self.clear()
        for iid, digest in json.loads((directory / "exact.json").read_text()).items():
            self.add(int(iid), digest)


class Pdq:
    """PDQ hashes within Hamming 31 of any of the query's eight dihedral variants; only hashes of quality
    >= 50 on both sides count (as Hasher-Matcher-Actioner does). The value is the distance."""

    name = "pdq"
    stage = 0

    def __init__(self) -> None:
        self.index = HashIndex()
        self.quality: dict[int, int] = {}

    def fingerprint(self, image: ImageQuery) -> tuple[npt.NDArray[np.uint8], int]:
        return image.cached("pdq1", lambda: pdq(image.img))  # a work is hashed in its own orientation only

    def add(self, iid: int, part: tuple[npt.NDArray[np.uint8], int]) -> None:
        hash_, quality = part
        self.index.add(np.array([iid]), hash_[None, :])
        self.quality[iid] = quality

    def remove(self, iid: int) -> None:
        if self.quality.pop(iid, None) is not None:
            self.index.remove(np.array([iid]))

    def search(self, query: ImageQuery) -> dict[int, float]:
        hashes, quality = query.pdq()
        if quality < PDQ_MIN_QUALITY:
            return {}
        return {iid: float(dist) for iid, dist in self.index.search(hashes, PDQ_MAX_DISTANCE)
                if self.quality.get(iid, 0) >= PDQ_MIN_QUALITY}

    def clear(self) -> None:
        self.index, self.quality = HashIndex(), {}

    def save(self, directory: Path) -> None:
        self.index.save(directory / "pdq")
        (directory / "pdq.quality.json").write_text(json.dumps({str(k): v for k, v in self.quality.items()}))

    def load(self, directory: Path) -> None:
        self.index.load(directory / "pdq")
        self.quality = {int(k): v for k, v in json.loads((directory / "pdq.quality.json").read_text()).items()}


ENROLLED_REGIONS = [(0.0, 0.0, 1.0, 1.0), (0.15, 0.15, 0.85, 0.85)]  # the whole image and its central 70%
QUERY_REGIONS = [*ENROLLED_REGIONS,  # and overlapping quadrants: copies placed into or cut out of a larger picture
                 (0.0, 0.0, 0.6, 0.6), (0.4, 0.0, 1.0, 0.6), (0.0, 0.4, 0.6, 1.0), (0.4, 0.4, 1.0, 1.0)]


class Embedding:
    """Nearest embeddings of the query's regions among the works' regions (one signal per embedder); the
    value is the best cosine over the region pairs."""

    stage = 1

    def __init__(self, embedder: Embedder, k: int = 8, approximate_after: int = 200_000) -> None:
        self.embedder = embedder
        self.name = f"embedding:{embedder.name}"
        self.k = k
        self.approximate_after = approximate_after
        self.index = VectorIndex(embedder.dim, approximate_after)
        self.regions = len(ENROLLED_REGIONS)

    def fingerprint(self, image: ImageQuery) -> npt.NDArray[np.float32]:
        return self.embedder.embed(_crop(_embedding_base(image), ENROLLED_REGIONS))

    def add(self, iid: int, part: npt.NDArray[np.float32]) -> None:
        self.index.add(np.arange(iid * self.regions, iid * self.regions + len(part)), part)

    def remove(self, iid: int) -> None:
        self.index.remove(np.arange(iid * self.regions, (iid + 1) * self.regions))

    def search(self, query: ImageQuery) -> dict[int, float]:
        if not len(self.index):
            return {}
        vectors = self.embedder.embed(_crop(_embedding_base(query), QUERY_REGIONS))
        best: dict[int, float] = {}
        for hits in self.index.search(vectors, self.k):
            for vid, score in hits:
                iid = vid // self.regions
                best[iid] = max(best.get(iid, -1.0), score)
        return best

    def clear(self) -> None:
        self.index = VectorIndex(self.embedder.dim, self.approximate_after)

    def save(self, directory: Path) -> None:
        self.index.save(directory / "embeddings")

    def load(self, directory: Path) -> None:
        self.index.load(directory / "embeddings")


class LocalFeatureVotes:
    """Works holding several of the query's strongest local features (RootSIFT in a faiss index): copies
    placed in a larger picture or cut out of one, which neither PDQ nor a global embedding finds. The value
    is the number of query features that voted for the work."""

    name = "local"
    stage = 1
    per_work = 48  # strongest descriptors of each work in the index

    def __init__(self, query_descriptors: int = 200, min_similarity: float = 0.9, min_votes: int = 3) -> None:
        self.query_descriptors, self.min_similarity, self.min_votes = query_descriptors, min_similarity, min_votes
        self.index = VectorIndex(128, approximate_after=50_000, pca_dim=64)

    def fingerprint(self, image: ImageQuery) -> lf.LocalFeatures:
        return image.features()

    def add(self, iid: int, part: lf.LocalFeatures) -> None:
        strongest = part.desc[: self.per_work]
        if len(strongest):
            self.index.add(np.arange(iid * self.per_work, iid * self.per_work + len(strongest)),
                           lf.root_sift(strongest))

    def remove(self, iid: int) -> None:
        self.index.remove(np.arange(iid * self.per_work, (iid + 1) * self.per_work))

    def search(self, query: ImageQuery) -> dict[int, float]:
        desc = query.features().desc[: self.query_descriptors]
        if not len(desc) or not len(self.index):
            return {}
        votes: dict[int, set[int]] = {}
        for qi, hits in enumerate(self.index.search(lf.root_sift(desc), 2)):
            for vid, score in hits:
                if score >= self.min_similarity:
                    votes.setdefault(vid // self.per_work, set()).add(qi)
        return {iid: float(len(v)) for iid, v in votes.items() if len(v) >= self.min_votes}

    def clear(self) -> None:
        self.index = VectorIndex(128, approximate_after=50_000, pca_dim=64)

    def save(self, directory: Path) -> None:
        self.index.save(directory / "local")

    def load(self, directory: Path) -> None:
        self.index.load(directory / "local")

"""The image signals behind one protocol: each hashes a work, keeps its own index, and names candidates.

A signal stores per-work data under an integer id that the matcher assigns (`iid`) and answers a query with
`{iid: raw value}`; the matcher owns everything else about a work. Signals run in cheap-first stages (the
`stage` attribute): exact pixels and PDQ first, and only when they verify nothing, the embeddings and the
local-feature index. A new signal is a class here (or in its own module) and one entry in the matcher's
`signals` list; its fused value needs a transform in `fusion.FEATURES` and a curve in the calibration.
"""

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from matcher.image import features as lf
from matcher.image.dense import DESCRIPTOR_DIM, FINE_SIDE, DenseQuery, descriptor, descriptors, thumbnail, unframed
from matcher.image.embed import Box, Embedder
from matcher.image.hashes import PDQ_MAX_DISTANCE, pdq, pdq_dihedral, pdq_match_distance, phash, pixel_sha256
from matcher.image.index import HashIndex, VectorIndex
from matcher.image.insets import insets

T = TypeVar("T")


class ImageQuery:
    """A query image with what the signals compute from it, each computed once, on first use, by whichever
    thread asks first (the request's thread or the matcher's worker); the others wait for it."""

    def __init__(self, img: Image.Image) -> None:
        self.img = img
        self._cache: dict[str, Future[Any]] = {}
        self._claims = threading.Lock()
        self.timings: dict[str, float] = {}  # seconds per step, for the per-stage profile
        self.verified = 0  # candidates verified geometrically
        self.deep = threading.Event()  # set when the search goes past the cheap stage

    def _claim(self, key: str) -> tuple["Future[Any]", bool]:
        """The future holding `key`, and whether the caller is the one to compute it."""
        with self._claims:
            future = self._cache.get(key)
            if future is not None:
                return future, False
            future = self._cache[key] = Future()
            return future, True

    def cached(self, key: str, compute: Callable[[], T], timed: bool = True) -> T:
        future, mine = self._claim(key)
        if mine:
            self._run(future, key, compute, timed)
        result: T = future.result()
        return result

    def prefetch(self, pool: Executor, key: str, compute: Callable[[], object]) -> None:
        """Start computing `key` on another thread; `cached` waits for it (OpenCV, ONNX Runtime and NumPy
        release the GIL, so the two cores work on one query at once)."""
        future, mine = self._claim(key)
        if mine:
            pool.submit(self._run, future, key, compute, True)

    def _run(self, future: "Future[Any]", key: str, compute: Callable[[], object], timed: bool) -> None:
        t0 = time.perf_counter()
        try:
            value = compute()
        except BaseException as exc:  # the waiting threads get it from `result()`
            future.set_exception(exc)
            return
        if timed:
            self.add_time(key.split(":", 1)[0], time.perf_counter() - t0)
        future.set_result(value)

    def add_time(self, step: str, seconds: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + seconds

    def pdq(self) -> tuple[npt.NDArray[np.uint8], int]:
        """The packed PDQ hashes of the 8 dihedral variants and their quality."""
        return self.cached("pdq", lambda: pdq_dihedral(self.img))

    def phash(self) -> str:
        return self.cached("phash", lambda: phash(self.img))

    def features(self, mirror: bool = False) -> lf.LocalFeatures:
        if mirror:
            return self.cached("features:mirror", lambda: lf.mirror_of(self.features()))
        return self.cached("features", self._extract)

    def thumb(self) -> npt.NDArray[np.uint8]:
        """The dense-verification thumbnail (`dense.thumbnail`): stored for a work, made for a query only when
        the search gets to dense verification."""
        return self.cached("thumb", lambda: thumbnail(self.img))

    def fine(self) -> npt.NDArray[np.uint8]:
        """The larger thumbnail (`FINE_SIDE`) where dense placements are refined: stored for a work, made for a
        query only when the search gets to dense verification."""
        return self.cached("fine", lambda: thumbnail(self.img, FINE_SIDE))

    def unframed_thumb(self) -> npt.NDArray[np.uint8] | None:
        """The thumbnail of the picture without its uniform border (`dense.unframed`), None when it has none."""
        def make() -> npt.NDArray[np.uint8] | None:
            inner = unframed(self.img)
            return None if inner is None else thumbnail(inner)

        return self.cached("unframed", make)

    def dense(self) -> DenseQuery:
        """The query prepared for dense verification."""
        return self.cached("dense", lambda: DenseQuery(self.thumb(), self.unframed_thumb(), self.fine()))

    def band(self) -> npt.NDArray[np.float32]:
        """The descriptors of the `band` index, one per dihedral orientation, with and without a border."""
        return self.cached("band", lambda: descriptors(self.thumb(), self.unframed_thumb()))

    def insets(self) -> list[Box]:
        """Pictures pasted into this one along a rectangular outline (`insets.insets`), found once."""
        return self.cached("insets", lambda: insets(self.img))

    def crop(self, box: Box) -> Image.Image:
        """The region `box` (fractions of the width and height) of the picture."""
        w, h = self.img.size
        return self.img.crop((round(box[0] * w), round(box[1] * h), max(round(box[0] * w) + 1, round(box[2] * w)),
                              max(round(box[1] * h) + 1, round(box[3] * h))))

    def prefetch_features(self, pool: Executor) -> None:
        self.prefetch(pool, "features", self._extract)

    def _extract(self) -> lf.LocalFeatures:
        return lf.extract(self.img)


class ImageSignal(Protocol):
    name: str  # the key of its value in evidence, fusion and calibration
    stage: int  # 0: cheap, always run; 1: run only when stage 0 verified nothing
    background: bool  # searched on the matcher's worker thread as soon as the query's local features exist
    geometric: bool  # its candidates are verified with SIFT (else they go to the dense comparison as they are)

    def fingerprint(self, image: ImageQuery) -> Any:
        """What a work contributes to this signal's index, computed from the enrolled image."""
        ...

    def add(self, iid: int, part: Any) -> None: ...

    def remove(self, iid: int) -> None: ...

    def prepare(self, query: ImageQuery) -> None:
        """Compute (and cache on the query) what `search` needs: run outside the index lock."""
        ...

    def search(self, query: ImageQuery) -> dict[int, float]:
        """The candidates and their raw values, from what `prepare` computed."""
        ...

    def clear(self) -> None: ...

    def save(self, directory: Path) -> None: ...

    def load(self, directory: Path) -> None:
        """Read what `save` wrote; raise OSError or ValueError when it is missing or does not fit."""
        ...


class ExactPixels:
    """Works whose decoded pixels are identical to the query's (another container, the same picture)."""

    name = "exact"
    stage = 0
    background = False
    geometric = True

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

    def prepare(self, query: ImageQuery) -> None:
        self.fingerprint(query)

    def search(self, query: ImageQuery) -> dict[int, float]:
        digest = self.fingerprint(query)
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
    """PDQ hashes within Hamming 31 of any of the query's eight dihedral variants when both hashes have a
    quality of 50 or more (Hasher-Matcher-Actioner's rule), within 24 when either has less (smooth and dark
    pictures, which HMA drops; `hashes.pdq_match_distance`). The value is the distance; the matcher fuses a
    pair with a low-quality hash as the weaker signal "pdq_low", with its own calibrated curve."""

    name = "pdq"
    stage = 0
    background = False
    geometric = True

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

    def prepare(self, query: ImageQuery) -> None:
        query.pdq()

    def search(self, query: ImageQuery) -> dict[int, float]:
        hashes, quality = query.pdq()
        return {iid: float(dist) for iid, dist in self.index.search(hashes, PDQ_MAX_DISTANCE)
                if dist <= pdq_match_distance(quality, self.quality.get(iid, 0))}

    def clear(self) -> None:
        self.index, self.quality = HashIndex(), {}

    def save(self, directory: Path) -> None:
        self.index.save(directory / "pdq")
        (directory / "pdq.quality.json").write_text(json.dumps({str(k): v for k, v in self.quality.items()}))

    def load(self, directory: Path) -> None:
        self.index.load(directory / "pdq")
        self.quality = {int(k): v for k, v in json.loads((directory / "pdq.quality.json").read_text()).items()}


ENROLLED_REGIONS: list[Box] = [(0.0, 0.0, 1.0, 1.0), (0.15, 0.15, 0.85, 0.85)]  # the whole image and its central 70%
# and overlapping quadrants: copies placed into or cut out of a larger picture
QUERY_REGIONS: list[Box] = [*ENROLLED_REGIONS,
                            (0.0, 0.0, 0.6, 0.6), (0.4, 0.0, 1.0, 0.6), (0.0, 0.4, 0.6, 1.0), (0.4, 0.4, 1.0, 1.0)]


class Embedding:
    """Nearest embeddings of the query's regions among the works' regions (one signal per embedder); the
    value is the best cosine over the region pairs."""

    stage = 1
    background = False
    geometric = True

    def __init__(self, embedder: Embedder, k: int = 8, approximate_after: int = 200_000) -> None:
        self.embedder = embedder
        self.name = f"embedding:{embedder.name}"
        self.k = k
        self.approximate_after = approximate_after
        self.index = VectorIndex(embedder.dim, approximate_after)
        self.regions = len(ENROLLED_REGIONS)

    def fingerprint(self, image: ImageQuery) -> npt.NDArray[np.float32]:
        return self.embedder.embed_regions(image.img, ENROLLED_REGIONS)

    def add(self, iid: int, part: npt.NDArray[np.float32]) -> None:
        self.index.add(np.arange(iid * self.regions, iid * self.regions + len(part)), part)

    def remove(self, iid: int) -> None:
        self.index.remove(np.arange(iid * self.regions, (iid + 1) * self.regions))

    def _regions(self, query: ImageQuery) -> npt.NDArray[np.float32]:
        return query.cached(self.name, lambda: self.embedder.embed_regions(query.img, QUERY_REGIONS))

    def prepare(self, query: ImageQuery) -> None:
        self._regions(query)

    def search(self, query: ImageQuery) -> dict[int, float]:
        return self.nearest(self._regions(query))

    def nearest(self, vectors: npt.NDArray[np.float32]) -> dict[int, float]:
        """The works nearest to any of `vectors` (region embeddings), each with its best cosine."""
        if not len(self.index):
            return {}
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


class BandDescriptor:
    """Works whose whole picture compares closely with the query's (`dense.descriptor`: the band-pass image at
    the comparison size, without brightness, contrast, colour or smooth trend), in any dihedral orientation,
    with or without the query's border. It names candidates for the dense comparison that the embedding does
    not: a darkened or brightened paper texture, a flat sky under a caption box, among thousands of textures
    and skies the embedding finds as close. The value is the best cosine; it is not fused (the dense
    comparison of the candidate is the evidence) and its best `band_candidates` go to the dense comparison
    without SIFT verification."""

    name = "band"
    stage = 1
    background = True  # the thumbnail is all it needs: searched on the worker thread beside the embedding
    geometric = False  # a picture with keypoints enough for SIFT is the embedding's to name

    def __init__(self, k: int = 4, approximate_after: int = 200_000) -> None:
        self.k = k
        self.approximate_after = approximate_after
        self.index = VectorIndex(DESCRIPTOR_DIM, approximate_after)

    def fingerprint(self, image: ImageQuery) -> npt.NDArray[np.float32]:
        return descriptor(image.thumb())

    def add(self, iid: int, part: npt.NDArray[np.float32]) -> None:
        if np.any(part):  # a flat picture has no descriptor: the dense comparison could not verify it
            self.index.add(np.array([iid]), part[None, :])

    def remove(self, iid: int) -> None:
        self.index.remove(np.array([iid]))

    def prepare(self, query: ImageQuery) -> None:
        query.band()

    def search(self, query: ImageQuery) -> dict[int, float]:
        rows = query.band()
        rows = rows[np.any(rows, axis=1)]
        if not len(rows) or not len(self.index):
            return {}
        best: dict[int, float] = {}
        for hits in self.index.search(rows, self.k):
            for iid, score in hits:
                best[iid] = max(best.get(iid, -1.0), score)
        return best

    def clear(self) -> None:
        self.index = VectorIndex(DESCRIPTOR_DIM, self.approximate_after)

    def save(self, directory: Path) -> None:
        self.index.save(directory / "band")

    def load(self, directory: Path) -> None:
        self.index.load(directory / "band")



class LocalFeatureVotes:
    """Works holding several of the query's strongest local features (RootSIFT in a faiss index): copies
    placed in a larger picture or cut out of one, which neither PDQ nor a global embedding finds. The value
    is the number of query features that voted for the work."""

    name = "local"
    stage = 1
    background = True  # it needs only the local features, which the worker thread extracts
    geometric = True
    per_work = 48  # strongest descriptors of each work in the index

    def __init__(self, query_descriptors: int = 200, min_similarity: float = 0.9, min_votes: int = 3) -> None:
        self.query_descriptors, self.min_similarity, self.min_votes = query_descriptors, min_similarity, min_votes
        self.index = self._empty()

    @staticmethod
    def _empty() -> VectorIndex:
        return VectorIndex(128, approximate_after=50_000, approximate="ivf")

    def fingerprint(self, image: ImageQuery) -> lf.LocalFeatures:
        return image.features()

    def add(self, iid: int, part: lf.LocalFeatures) -> None:
        strongest = part.desc[: self.per_work]
        if len(strongest):
            self.index.add(np.arange(iid * self.per_work, iid * self.per_work + len(strongest)),
                           lf.root_sift(strongest))

    def remove(self, iid: int) -> None:
        self.index.remove(np.arange(iid * self.per_work, (iid + 1) * self.per_work))

    def prepare(self, query: ImageQuery) -> None:
        query.features()

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
        self.index = self._empty()

    def save(self, directory: Path) -> None:
        self.index.save(directory / "local")

    def load(self, directory: Path) -> None:
        self.index.load(directory / "local")

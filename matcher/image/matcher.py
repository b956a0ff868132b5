"""The image matcher: candidates from several indexes, SIFT verification, one fused confidence.

Candidates come from (1) exact pixel SHA-256, (2) PDQ hashes of the query's eight dihedral variants
within Hamming 31 of an enrolled hash (only when both hashes have PDQ quality >= 50), and, when those
yield no verified match, (3) nearest embeddings of the query and of a few of its regions and (4) works
holding several of the query's strongest local features (RootSIFT in a faiss index). Each candidate is
verified with SIFT and a RANSAC similarity transform (on the query and on its mirror image). The evidence
is fused by a noisy-OR of per-signal logistic curves whose parameters and decision threshold come from
`calibration.json`, written by `scripts/calibrate_image.py` from synthetic edits of development images.
"""

import json
import math
import os
import threading
from importlib import resources
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
from PIL import Image

from matcher.base import Match, OriginalSource
from matcher.image import features as lf
from matcher.image.embed import Embedder
from matcher.image.hashes import (
    PDQ_MAX_DISTANCE,
    PDQ_MIN_QUALITY,
    pdq,
    pdq_dihedral,
    pdq_hex,
    phash,
    phash_distance,
    pixel_sha256,
)
from matcher.image.index import HashIndex, VectorIndex
from registry.content import Content
from registry.evidence import ImageEvidence, PdqQuality
from registry.models import WorkKind

VERSION = "image-fused-2"
FORMAT = 2
REGIONS = 2  # enrolled vectors per work: the whole image and its central 70%
LOCAL_PER_WORK = 48  # strongest SIFT descriptors per work in the local-feature retrieval index


class ImageCalibration(msgspec.Struct, frozen=True, kw_only=True):
    """Noisy-OR fusion of three signals, each turned into a probability by its own logistic curve:

    p_pdq = sigmoid(pdq[0] + pdq[1] * (1 - distance / 64)), p_sift = sigmoid(sift[0] + sift[1] * ln(1 + inliers)),
    p_cos = min(cos_cap, sigmoid(cos[0] + cos[1] * cosine)); confidence = 1 - (1 - p_pdq)(1 - p_sift)(1 - p_cos).
    Each curve is fitted on its signal alone, so one strong signal suffices and weak ones add up. The cosine
    is capped: a global embedding cannot tell a copy from a look-alike (two nebula photographs reach 0.95),
    so it only ever supports the other signals and never makes a match by itself.
    """

    pdq: tuple[float, float] = (-12.0, 14.0)
    sift: tuple[float, float] = (-8.0, 4.0)
    cos: tuple[float, float] = (-30.0, 10.0)
    cos_cap: float = 0.3
    threshold: float = 0.5
    embedding_k: int = 8
    max_candidates: int = 12
    local_query_descriptors: int = 200  # strongest query descriptors searched in the local index
    local_min_similarity: float = 0.9  # RootSIFT inner product for a descriptor hit to vote
    local_min_votes: int = 3


def load_calibration() -> ImageCalibration:
    raw = resources.files("matcher.image").joinpath("calibration.json").read_text()
    return msgspec.convert(json.loads(raw)["calibration"], ImageCalibration)


class ImageFingerprint(msgspec.Struct, frozen=True, kw_only=True):
    pixel_sha256: str
    pdq: npt.NDArray[np.uint8]
    pdq_quality: int
    phash: str
    embeddings: npt.NDArray[np.float32] | None
    features: lf.LocalFeatures


class _WorkEntry(msgspec.Struct, array_like=True):
    iid: int
    pdq_quality: int
    phash: str
    pixel_sha256: str


def _regions(img: Image.Image, query: bool) -> list[Image.Image]:
    w, h = img.size
    boxes = [(0.0, 0.0, 1.0, 1.0), (0.15, 0.15, 0.85, 0.85)]
    if query:  # overlapping quadrants, for copies placed into or cropped out of a larger picture
        boxes += [(0.0, 0.0, 0.6, 0.6), (0.4, 0.0, 1.0, 0.6), (0.0, 0.4, 0.6, 1.0), (0.4, 0.4, 1.0, 1.0)]
    return [img.crop((round(x0 * w), round(y0 * h), max(round(x0 * w) + 1, round(x1 * w)),
                      max(round(y0 * h) + 1, round(y1 * h)))) for x0, y0, x1, y1 in boxes]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def signal_features(pdq_distance: int | None, inliers: int, cosine: float | None) -> tuple[float, float, float]:
    """The three fused inputs: PDQ similarity (0 when no PDQ hit), ln(1 + inliers), cosine (0 when unknown)."""
    pdq_sim = 0.0 if pdq_distance is None else max(0.0, 1.0 - pdq_distance / 64.0)
    return pdq_sim, math.log1p(inliers), 0.0 if cosine is None else cosine


def fuse(cal: ImageCalibration, pdq_distance: int | None, inliers: int, cosine: float | None) -> float:
    pdq_sim, log_inliers, cos = signal_features(pdq_distance, inliers, cosine)
    miss = 1.0
    if pdq_distance is not None:
        miss *= 1.0 - _sigmoid(cal.pdq[0] + cal.pdq[1] * pdq_sim)
    if inliers > 0:
        miss *= 1.0 - _sigmoid(cal.sift[0] + cal.sift[1] * log_inliers)
    if cosine is not None:
        miss *= 1.0 - min(cal.cos_cap, _sigmoid(cal.cos[0] + cal.cos[1] * cos))
    return 1.0 - miss


class _Query:
    """A query image with its local features and pHash computed once, on first use."""

    def __init__(self, img: Image.Image) -> None:
        self.img = img
        self.pdq_hex = ""
        self.quality = 0
        self._features: dict[bool, lf.LocalFeatures] = {}
        self._phash: str | None = None

    def features(self, mirror: bool = False) -> lf.LocalFeatures:
        if mirror not in self._features:
            self._features[mirror] = lf.extract(self.img, mirror=mirror)
        return self._features[mirror]

    def phash(self) -> str:
        if self._phash is None:
            self._phash = phash(self.img)
        return self._phash


class ImageMatcher:
    kind = WorkKind.IMAGE

    def __init__(self, originals: OriginalSource | None, embedder: Embedder | None,
                 index_dir: Path | None = None, calibration: ImageCalibration | None = None,
                 threshold: float | None = None, approximate_after: int = 200_000) -> None:
        self.originals = originals
        self.embedder = embedder
        self.index_dir = index_dir
        self.calibration = calibration or load_calibration()
        self.threshold = self.calibration.threshold if threshold is None else threshold
        self.approximate_after = approximate_after
        self._lock = threading.RLock()
        self._reset()
        if index_dir is not None:
            self._load()

    def _reset(self) -> None:
        self.hashes = HashIndex()
        self.vectors = VectorIndex(self.embedder.dim, self.approximate_after) if self.embedder else None
        self.local = VectorIndex(128, approximate_after=50_000, pca_dim=64)
        self.works: dict[str, _WorkEntry] = {}
        self.by_iid: dict[int, str] = {}
        self.by_pixels: dict[str, set[str]] = {}
        self.next_iid = 0
        self._features: dict[str, bytes] = {}

    @property
    def embedder_id(self) -> str:
        return f"{self.embedder.name}@{self.embedder.version}" if self.embedder else "none"

    @property
    def version(self) -> str:
        return f"{VERSION}(pdq,phash,sift,embedder={self.embedder_id})"

    # -- fingerprints ---------------------------------------------------------------------------------
    def fingerprint(self, content: Content) -> ImageFingerprint:
        img = content.image
        hash_, quality = pdq(img)
        emb = self.embedder.embed(_regions(img, query=False)) if self.embedder else None
        return ImageFingerprint(pixel_sha256=pixel_sha256(img), pdq=hash_, pdq_quality=quality,
                                phash=phash(img), embeddings=emb, features=lf.extract(img))

    # -- updates --------------------------------------------------------------------------------------
    def add(self, work_id: str, fp: ImageFingerprint) -> None:
        with self._lock:
            if work_id in self.works:
                return
            iid = self.next_iid
            self.next_iid += 1
            self._write_features(work_id, fp.features.to_bytes())
            self.hashes.add(np.array([iid]), fp.pdq[None, :])
            if self.vectors is not None and fp.embeddings is not None:
                self.vectors.add(np.arange(iid * REGIONS, iid * REGIONS + len(fp.embeddings)), fp.embeddings)
            strongest = fp.features.desc[:LOCAL_PER_WORK]
            if len(strongest):
                self.local.add(np.arange(iid * LOCAL_PER_WORK, iid * LOCAL_PER_WORK + len(strongest)),
                               lf.root_sift(strongest))
            self.works[work_id] = _WorkEntry(iid, fp.pdq_quality, fp.phash, fp.pixel_sha256)
            self.by_iid[iid] = work_id
            self.by_pixels.setdefault(fp.pixel_sha256, set()).add(work_id)

    def remove(self, work_id: str) -> None:
        with self._lock:
            entry = self.works.pop(work_id, None)
            if entry is None:
                return
            self.hashes.remove(np.array([entry.iid]))
            if self.vectors is not None:
                self.vectors.remove(np.arange(entry.iid * REGIONS, (entry.iid + 1) * REGIONS))
            self.local.remove(np.arange(entry.iid * LOCAL_PER_WORK, (entry.iid + 1) * LOCAL_PER_WORK))
            self.by_iid.pop(entry.iid, None)
            self.by_pixels.get(entry.pixel_sha256, set()).discard(work_id)

    def work_ids(self) -> set[str]:
        return set(self.works)

    def has(self, work_id: str) -> bool:
        return work_id in self.works

    def clear(self) -> None:
        with self._lock:
            self._reset()

    # -- search ---------------------------------------------------------------------------------------
    def search(self, content: Content) -> list[Match]:
        return [m for m in self.verify_all(content) if m.score >= self.threshold]

    def verify_all(self, content: Content) -> list[Match]:
        """Every candidate, verified and scored, best first (before the decision threshold).

        Cheap signals first, as Hasher-Matcher-Actioner does: exact pixels and PDQ. Only when they yield
        no verified match above the threshold are the embeddings of the query and its regions and the
        local-feature index searched. A work withdrawn while the search runs is skipped.
        """
        img = content.image
        q = _Query(img)
        exact = self.by_pixels.get(pixel_sha256(img), set())
        hashes, quality = pdq_dihedral(img)
        q.pdq_hex, q.quality = pdq_hex(hashes[0]), quality
        pdq_hits: dict[str, int] = {}
        if quality >= PDQ_MIN_QUALITY:
            with self._lock:  # faiss indexes are not safe to search while another thread adds to them
                hits = self.hashes.search(hashes, PDQ_MAX_DISTANCE)
            for iid, dist in hits:
                wid = self.by_iid.get(iid)
                if wid is not None and self.works[wid].pdq_quality >= PDQ_MIN_QUALITY:
                    pdq_hits[wid] = dist
        results: dict[str, Match] = {}
        for wid in [*exact, *sorted(pdq_hits, key=pdq_hits.__getitem__)]:
            if wid not in results and wid in self.works:
                results[wid] = self._verify(wid, q, exact=wid in exact, pdq_distance=pdq_hits.get(wid), cosine=None)
        if not any(m.score >= self.threshold for m in results.values()):
            cosines = self._embedding_candidates(img)
            ranked = sorted(cosines, key=lambda w: -cosines[w])[: self.calibration.max_candidates]
            votes = self._local_candidates(q.features())
            ranked += sorted(votes, key=lambda w: -votes[w])[: self.calibration.max_candidates // 2]
            for wid in dict.fromkeys(ranked):
                if wid not in results and wid in self.works:
                    results[wid] = self._verify(wid, q, exact=False, pdq_distance=None, cosine=cosines.get(wid))
        return sorted(results.values(), key=lambda m: -m.score)

    def _embedding_candidates(self, img: Image.Image) -> dict[str, float]:
        cosines: dict[str, float] = {}
        if self.vectors is None or self.embedder is None or not len(self.vectors):
            return cosines
        vecs = self.embedder.embed(_regions(img, query=True))
        with self._lock:
            found = self.vectors.search(vecs, self.calibration.embedding_k)
        for hits in found:
            for vid, score in hits:
                wid = self.by_iid.get(vid // REGIONS)
                if wid is not None and score > cosines.get(wid, -1.0):
                    cosines[wid] = score
        return cosines

    def _local_candidates(self, features: lf.LocalFeatures) -> dict[str, int]:
        """Works that hold several of the query's strongest local features (copies placed in a larger
        picture or cut out of one, which neither PDQ nor a global embedding finds), with their vote counts."""
        cal = self.calibration
        desc = features.desc[: cal.local_query_descriptors]
        if not len(desc) or not len(self.local):
            return {}
        votes: dict[str, set[int]] = {}
        with self._lock:
            found = self.local.search(lf.root_sift(desc), 2)
        for qi, hits in enumerate(found):
            for vid, score in hits:
                wid = self.by_iid.get(vid // LOCAL_PER_WORK)
                if wid is not None and score >= cal.local_min_similarity:
                    votes.setdefault(wid, set()).add(qi)
        return {w: len(v) for w, v in votes.items() if len(v) >= cal.local_min_votes}

    def _verify(self, wid: str, q: "_Query", *, exact: bool, pdq_distance: int | None,
                cosine: float | None) -> Match:
        entry = self.works[wid]
        verification = None
        if not exact:
            w_feat = self._read_features(wid)
            verification = lf.verify(q.features(), w_feat) or lf.verify(q.features(mirror=True), w_feat,
                                                                          mirrored=True)
        inliers = verification.inliers if verification else 0
        score = 1.0 if exact else fuse(self.calibration, pdq_distance, inliers, cosine)
        evidence = ImageEvidence(
            exact_pixels=exact, pdq_distance=pdq_distance,
            pdq_quality=PdqQuality(query=q.quality, work=entry.pdq_quality),
            phash_distance=phash_distance(q.phash(), entry.phash),
            cosine=None if cosine is None else round(cosine, 4),
            embedder=self.embedder_id, geometry=verification, query_pdq=q.pdq_hex,
        )
        return Match(work_id=wid, score=round(score, 4), evidence=evidence)

    # -- persistence ----------------------------------------------------------------------------------
    def _features_path(self, work_id: str) -> Path | None:
        if self.index_dir is None:
            return None
        return self.index_dir / "features" / work_id[-2:] / f"{work_id}.npz"

    def _write_features(self, work_id: str, data: bytes) -> None:
        path = self._features_path(work_id)
        if path is None:
            self._features[work_id] = data
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _read_features(self, work_id: str) -> lf.LocalFeatures:
        path = self._features_path(work_id)
        if path is None:
            return lf.LocalFeatures.from_bytes(self._features[work_id])
        try:
            return lf.LocalFeatures.from_bytes(path.read_bytes())
        except FileNotFoundError:
            if self.originals is None:
                raise
            from registry.formats.image import decode_image

            img, _ = decode_image(self.originals.original(work_id), 2**40)
            feats = lf.extract(img)
            self._write_features(work_id, feats.to_bytes())
            return feats

    def save(self) -> None:
        if self.index_dir is None:
            return
        with self._lock:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            self.hashes.save(self.index_dir / "pdq")
            if self.vectors is not None:
                self.vectors.save(self.index_dir / "embeddings")
            self.local.save(self.index_dir / "local")
            meta = {"format": FORMAT, "embedder": self.embedder_id, "next_iid": self.next_iid,
                    "works": {w: msgspec.to_builtins(e) for w, e in self.works.items()}}
            tmp = self.index_dir / "meta.json.tmp"
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, self.index_dir / "meta.json")

    def _load(self) -> None:
        """Load the saved index; on any mismatch (format, embedder) start empty so sync rebuilds it."""
        assert self.index_dir is not None
        try:
            meta = json.loads((self.index_dir / "meta.json").read_text())
            if meta.get("format") != FORMAT or meta.get("embedder") != self.embedder_id:
                return
            self.hashes.load(self.index_dir / "pdq")
            if self.vectors is not None:
                self.vectors.load(self.index_dir / "embeddings")
            self.local.load(self.index_dir / "local")
        except (OSError, ValueError, RuntimeError):
            self._reset()
            return
        self.next_iid = int(meta["next_iid"])
        for wid, raw in meta["works"].items():
            entry = msgspec.convert(raw, _WorkEntry)
            self.works[wid] = entry
            self.by_iid[entry.iid] = wid
            self.by_pixels.setdefault(entry.pixel_sha256, set()).add(wid)

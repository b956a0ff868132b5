"""Local features (OpenCV SIFT) and geometric verification of a candidate pair.

Verification fits a similarity transform (rotation, uniform scale, translation) from the work to the
query with RANSAC and rejects the degenerate fits that fake inliers between unrelated images: a scale
far from 1 maps many points onto one spot, so the scale must be plausible, inliers are counted at
distinct positions, and they must spread over a real part of both images.
"""

import cv2
import msgspec
import numpy as np
import numpy.typing as npt
from PIL import Image

from registry.evidence import Geometry

MAX_SIDE = 256  # SIFT runs on the image scaled to this (OpenCV doubles it for the first octave); on the
# development data's hard edits, 256 px verifies the same copies as 320 and 512 px in 60 % / 35 % of the time
MAX_FEATURES = 400
VERIFY_WORK_FEATURES = 200  # a work's strongest features matched in verification (the query's are all used)


class LocalFeatures(msgspec.Struct, frozen=True):
    """Keypoint positions in [0, 1] image coordinates, uint8 SIFT descriptors, and the image's aspect; with
    them, for a work, what dense verification needs of it (`dense.thumbnail` at two sizes, set by the matcher),
    kept in the same file."""

    xy: npt.NDArray[np.float32]
    desc: npt.NDArray[np.uint8]
    width: int
    height: int
    thumb: npt.NDArray[np.uint8] = msgspec.field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    fine: npt.NDArray[np.uint8] = msgspec.field(default_factory=lambda: np.zeros((0, 0), np.uint8))

    def to_bytes(self) -> bytes:
        """The stored form: a small msgpack header and the arrays' raw bytes (`_Stored`), read back with no
        parsing beyond the header (a work's features are read on every verification of it)."""
        dim = self.desc.shape[1] if self.desc.ndim == 2 else 0
        return _STORED_MAGIC + _encoder.encode(_Stored(
            self.xy.astype(np.float16).tobytes(), len(self.xy), self.desc.tobytes(), dim, self.width, self.height,
            self.thumb.tobytes(), _shape(self.thumb), self.fine.tobytes(), _shape(self.fine)))

    @classmethod
    def from_bytes(cls, data: bytes) -> "LocalFeatures":
        if not data.startswith(_STORED_MAGIC):
            raise ValueError("not a stored local-features file (written by an older version: rebuild the index)")
        s = _decoder.decode(memoryview(data)[len(_STORED_MAGIC):])
        return cls(np.frombuffer(s.xy, np.float16).reshape(s.count, 2).astype(np.float32),
                   np.frombuffer(s.desc, np.uint8).reshape(s.count, s.dim), s.width, s.height,
                   np.frombuffer(s.thumb, np.uint8).reshape(s.thumb_shape),
                   np.frombuffer(s.fine, np.uint8).reshape(s.fine_shape))


class _Stored(msgspec.Struct, array_like=True):
    """`LocalFeatures` as stored: the keypoints (float16 x, y), their descriptors (`count` x `dim` uint8), the
    image's size and the two grayscale thumbnails, each array as raw bytes."""

    xy: bytes
    count: int
    desc: bytes
    dim: int
    width: int
    height: int
    thumb: bytes
    thumb_shape: tuple[int, int]
    fine: bytes
    fine_shape: tuple[int, int]


_STORED_MAGIC = b"PVLF1"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Stored)


def _shape(img: npt.NDArray[np.uint8]) -> tuple[int, int]:
    return (int(img.shape[0]), int(img.shape[1])) if img.ndim == 2 else (0, 0)


_sift = cv2.SIFT_create(nfeatures=MAX_FEATURES)  # type: ignore[attr-defined]


def _gray(img: Image.Image) -> npt.NDArray[np.uint8]:
    g = img.convert("L")
    scale = MAX_SIDE / max(g.size)
    if scale < 1:
        g = g.resize((max(1, round(g.width * scale)), max(1, round(g.height * scale))), Image.Resampling.BILINEAR)
    return np.asarray(g, dtype=np.uint8)


def extract(img: Image.Image) -> LocalFeatures:
    gray = _gray(img)
    h, w = gray.shape
    keypoints, desc = _sift.detectAndCompute(gray, None)
    if desc is None or not keypoints:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), w, h)
    order = np.argsort([-kp.response for kp in keypoints], kind="stable")  # strongest first
    points = np.array([keypoints[i].pt for i in order], dtype=np.float32)
    xy = (points / np.array([w, h], dtype=np.float32)).astype(np.float32)
    return LocalFeatures(xy, np.clip(desc[order], 0, 255).astype(np.uint8), w, h)


# A SIFT descriptor is 4 x 4 cells (rows along the keypoint's own y axis) of 8 orientation bins. Mirroring
# the image reflects each keypoint's frame about its x axis: the rows of cells reverse and every gradient
# angle is negated. So the features of the mirror image are these with x -> 1 - x and the descriptor
# entries permuted: no second extraction.
_MIRROR = np.arange(128).reshape(4, 4, 8)[::-1][:, :, (-np.arange(8)) % 8].reshape(-1)


def mirror_of(features: LocalFeatures) -> LocalFeatures:
    """The features of the horizontally mirrored image."""
    xy = features.xy.copy()
    xy[:, 0] = 1.0 - xy[:, 0]
    return LocalFeatures(xy, np.ascontiguousarray(features.desc[:, _MIRROR]), features.width, features.height)


def root_sift(desc: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """RootSIFT (Arandjelovic and Zisserman): L1-normalize, square root; unit length, so inner product is the
    Hellinger kernel, which compares SIFT descriptors better than Euclidean distance."""
    d = desc.astype(np.float32)
    d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
    out: npt.NDArray[np.float32] = np.sqrt(d)
    return out


_matcher = cv2.BFMatcher(cv2.NORM_L2)


def verify(query: LocalFeatures, work: LocalFeatures, *, mirrored: bool = False, ratio: float = 0.8,
           min_inliers: int = 8, min_scale: float = 0.12, max_scale: float = 8.0,
           min_spread: float = 0.015) -> Geometry | None:
    """Geometric verification of `work` inside `query`; None when no plausible transform is found."""
    if len(query.desc) < min_inliers or len(work.desc) < min_inliers:
        return None
    pairs = _matcher.knnMatch(work.desc[:VERIFY_WORK_FEATURES].astype(np.float32), query.desc.astype(np.float32),
                              k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    if len(good) < min_inliers:
        return None
    # work to query in pixel units of each image's own frame, so the scale is a real size ratio
    wsz = np.array([work.width, work.height], np.float32)
    qsz = np.array([query.width, query.height], np.float32)
    src = work.xy[[m.queryIdx for m in good]] * wsz
    dst = query.xy[[m.trainIdx for m in good]] * qsz
    transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=6.0,
                                                  maxIters=2000, confidence=0.995)
    if transform is None or mask is None:
        return None
    inl = mask.ravel().astype(bool)
    a, b = float(transform[0, 0]), float(transform[1, 0])
    scale = float(np.hypot(a, b))
    if not (min_scale <= scale <= max_scale):
        return None
    src_in, dst_in = src[inl] / wsz, dst[inl] / qsz
    distinct = min(len(np.unique(np.round(src_in * 100), axis=0)), len(np.unique(np.round(dst_in * 100), axis=0)))
    if distinct < min_inliers:
        return None

    def box(points: npt.NDArray[np.float32]) -> tuple[float, float, float, float]:
        lo, hi = points.min(axis=0), points.max(axis=0)
        return (round(float(lo[0]), 4), round(float(lo[1]), 4), round(float(hi[0]), 4), round(float(hi[1]), 4))

    wb, qb = box(src_in), box(dst_in)
    for x0, y0, x1, y1 in (wb, qb):
        if (x1 - x0) * (y1 - y0) < min_spread:
            return None
    if mirrored:  # report the query box in the query's own (unmirrored) frame
        qb = (round(1 - qb[2], 4), qb[1], round(1 - qb[0], 4), qb[3])
    return Geometry(inliers=distinct, matches=len(good), scale=round(scale, 4),
                        rotation_deg=round(float(np.degrees(np.arctan2(b, a))), 2), mirrored=mirrored,
                        work_box=wb, query_box=qb)

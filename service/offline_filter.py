"""Filtering a dataset offline against a downloaded opt-out bank (`service.bank`): no server, no originals.

Each candidate is hashed where it lies and compared with the bank: its SHA-256 with the works' (exact
copies), an image's PDQ hashes in its eight rotations and mirror images with the works' PDQ hashes (within
the bank's distance: 31, or 24 when either hash has a quality under 50), a text's window MinHash
signatures with the works' (the text index's banding finds the candidates; a window pair whose signatures
agree on at least `TEXT_MIN_JACCARD` of their values excludes it), and a URL with the works' locations.
Matching fully (local features, embeddings, verified text passages) needs the originals: use the server's
`POST /v1/lookups` for that (`provenance filter --server`).
"""

import base64
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

import faiss
import msgspec
import numpy as np
import numpy.typing as npt

from matcher.image.hashes import pdq_dihedral
from matcher.text.compact import BandTable, band_params
from matcher.text.index import TextIndex, TextIndexParams, low16
from matcher.text.normalize import word_ids
from matcher.text.shingles import shingle_hashes
from registry.content import load_content
from registry.errors import ProvenanceError
from registry.locations import normalize_url
from registry.models import WorkKind
from registry.settings import ContentLimits
from service.lookups import REASON, USE_RANK

# 100-shingle windows of a verbatim passage overlap a work window by half or more: Jaccard >= 1/3; unrelated
# windows agree on about 128 / 65536 of their 16-bit values; 10% word edits bring a copy's windows to 0.2-0.4
TEXT_MIN_JACCARD = 0.3
LIMITS = ContentLimits()


class Hashed(msgspec.Struct, frozen=True, kw_only=True):
    """What the filter needs of one candidate file, computed where it lies (a worker process)."""

    item: str
    sha256: str
    pdq: list[str] = []  # hex, the eight dihedral variants
    pdq_quality: int = 0
    windows: bytes = b""  # (n, num_perm) uint16 little-endian: the text's window signatures
    error: str | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    item: str
    excluded: bool
    reason: str  # no_match, reserved, constrained, unreadable
    work_id: str | None = None
    by: str | None = None  # sha256, pdq, text, url
    confidence: float | None = None
    detail: str | None = None


def hash_file(path: Path, params: TextIndexParams) -> Hashed:
    """Hash one file (run in worker processes: it is the costly part)."""
    try:
        data = path.read_bytes()
        content = load_content(data, limits=LIMITS)
    except (OSError, ProvenanceError) as exc:
        return Hashed(item=str(path), sha256="", error=str(exc))
    sha = hashlib.sha256(data).hexdigest()
    if content.kind == WorkKind.IMAGE:
        hashes, quality = pdq_dihedral(content.image)
        return Hashed(item=str(path), sha256=sha, pdq=[bytes(h.tolist()).hex() for h in hashes], pdq_quality=quality)
    ids = word_ids(content.text)
    if not len(ids):
        return Hashed(item=str(path), sha256=sha)
    sigs = _hasher(params).signatures_for(shingle_hashes(ids, params.shingle))
    windows = sigs[1:] or sigs[:1]  # a text shorter than a window is one window: its whole signature
    packed = np.stack([low16(s) for s in windows]).astype("<u2")
    return Hashed(item=str(path), sha256=sha, windows=packed.tobytes())


@functools.lru_cache(maxsize=4)
def _hasher(params: TextIndexParams) -> TextIndex:
    """One MinHash hasher per process and parameters (its permutations are costly to make)."""
    return TextIndex(params)


class OfflineFilter:
    """The bank's reserved works, indexed for the filter."""

    def __init__(self, header: dict[str, object], entries: Iterable[dict[str, object]]) -> None:
        text = header.get("text")
        pdq = header.get("pdq")
        if not isinstance(text, dict) or not isinstance(pdq, dict):
            raise ValueError("the bank's header has no text or PDQ parameters")
        self.purpose = str(header["purpose"])
        self.params = TextIndexParams(shingle=int(text["shingle"]), num_perm=int(text["num_perm"]),
                                      window=int(text["window"]), seed=int(text["seed"]),
                                      lsh_threshold=float(text["window_threshold"]))
        self.pdq_max, self.pdq_min_quality = int(pdq["max_distance"]), int(pdq["min_quality"])
        self.pdq_low_max = int(pdq.get("low_quality_max_distance", -1))  # -1: low-quality hashes never match
        self.use: dict[str, str] = {}
        self.by_sha: dict[str, list[str]] = {}
        self.by_url: dict[str, list[str]] = {}
        pdq_hashes: list[bytes] = []
        self.pdq_works: list[str] = []
        self.pdq_quality: list[int] = []
        self.windows = BandTable(*band_params(self.params.lsh_threshold, self.params.num_perm))
        self.window_sigs: list[npt.NDArray[np.uint16]] = []
        self.window_work: list[str] = []
        for e in entries:
            if e.get("removed"):
                continue
            wid = str(e["work_id"])
            uses = e.get("uses")
            self.use[wid] = str(uses.get(self.purpose, "notAllowed")) if isinstance(uses, dict) else "notAllowed"
            self.by_sha.setdefault(str(e["sha256"]), []).append(wid)
            for url in e.get("locations") or []:  # type: ignore[attr-defined]
                self.by_url.setdefault(str(url), []).append(wid)
            if isinstance(e.get("pdq"), str):
                pdq_hashes.append(bytes.fromhex(str(e["pdq"])))
                self.pdq_works.append(wid)
                self.pdq_quality.append(int(e.get("pdq_quality", 0)))  # type: ignore[call-overload]
            if isinstance(e.get("minhash16"), str):
                sigs = np.frombuffer(base64.b64decode(str(e["minhash16"])), dtype="<u2")
                sigs = sigs.reshape(-1, self.params.num_perm)
                rows = sigs[1:] if len(sigs) > 1 else sigs
                first = len(self.window_work)
                self.window_sigs.extend(rows)
                self.window_work.extend([wid] * len(rows))
                items = np.arange(first, first + len(rows), dtype=np.uint32)
                self.windows.add(items, self.windows.band_keys(rows.astype(np.uint64)))
        self.windows.flush()
        self.pdq_index = faiss.IndexBinaryFlat(256)
        if pdq_hashes:
            self.pdq_index.add(np.frombuffer(b"".join(pdq_hashes), dtype=np.uint8).reshape(-1, 32))
        self.window_matrix = np.stack(self.window_sigs) if self.window_sigs else np.zeros((0, self.params.num_perm),
                                                                                          np.uint16)

    def __len__(self) -> int:
        return len(self.use)

    def _decide(self, item: str, hits: list[tuple[str, str, float]], detail: str | None = None) -> Decision:
        if not hits:
            return Decision(item=item, excluded=False, reason="no_match", detail=detail)
        work, by, confidence = max(hits, key=lambda h: (USE_RANK.get(self.use.get(h[0], "notAllowed"), 2), h[2]))
        use = self.use.get(work, "notAllowed")
        return Decision(item=item, excluded=use != "allowed", reason=REASON.get(use, "reserved"), work_id=work, by=by,
                        confidence=round(confidence, 4))

    def check_hashed(self, h: Hashed) -> Decision:
        if h.error is not None:
            return Decision(item=h.item, excluded=False, reason="unreadable", detail=h.error)
        hits = [(w, "sha256", 1.0) for w in self.by_sha.get(h.sha256, [])]
        if h.pdq and self.pdq_index.ntotal:
            queries = np.frombuffer(b"".join(bytes.fromhex(x) for x in h.pdq), dtype=np.uint8).reshape(-1, 32)
            _, dist, pos = self.pdq_index.range_search(queries, self.pdq_max + 1)
            for d, p in zip(dist.tolist(), pos.tolist(), strict=True):
                strong = min(h.pdq_quality, self.pdq_quality[p]) >= self.pdq_min_quality
                if d <= (self.pdq_max if strong else self.pdq_low_max):
                    hits.append((self.pdq_works[p], "pdq", 1.0 - d / 64))
        if h.windows and len(self.window_matrix):
            query = np.frombuffer(h.windows, dtype="<u2").reshape(-1, self.params.num_perm)
            found = self.windows.query_many(self.windows.band_keys(query.astype(np.uint64)))
            for row, items in zip(query, found, strict=True):
                if items:
                    cand = np.fromiter(items, dtype=np.int64, count=len(items))
                    jaccard = (self.window_matrix[cand] == row).mean(axis=1)
                    best = int(np.argmax(jaccard))
                    if jaccard[best] >= TEXT_MIN_JACCARD:
                        hits.append((self.window_work[int(cand[best])], "text", float(jaccard[best])))
        return self._decide(h.item, hits)

    def check_url(self, url: str) -> Decision:
        try:
            normal = normalize_url(url)
        except ProvenanceError as exc:
            return Decision(item=url, excluded=False, reason="unreadable", detail=exc.message)
        return self._decide(url, [(w, "url", 1.0) for w in self.by_url.get(normal, [])])

"""The image matcher: candidates from the image signals in cheap-first stages, SIFT verification, fusion.

The signals (`signals.py`: exact pixels, PDQ, one embedding per embedder, local-feature votes) each name
candidates from their own index. Stage 0 (exact pixels, PDQ) always runs; stage 1 (embeddings, local
features) runs only when stage 0 verified nothing above the threshold. Every candidate is verified with
SIFT and a RANSAC similarity transform (on the query and on its mirror image). When that verifies nothing
(smooth, flat and dark pictures have too few keypoints), the best few candidates are compared densely
(`dense.py`: aligned at low resolution, correlated pixel by pixel). The signals' values are fused
(`fusion.py`) into one confidence with the curves and threshold of `calibration.json`, written by
`scripts/calibrate_image.py` from synthetic edits of development images.
"""

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from matcher.base import Match, OriginalSource
from matcher.image import dense
from matcher.image import features as lf
from matcher.image.embed import Embedder
from matcher.image.fusion import ImageCalibration, fuse, kind_of, load_calibration
from matcher.image.hashes import PDQ_MAX_DISTANCE, PDQ_MIN_QUALITY, pdq_hex, pdq_match_distance, phash_distance
from matcher.image.signals import (
    BandDescriptor,
    Embedding,
    ExactPixels,
    ImageQuery,
    ImageSignal,
    LocalFeatureVotes,
    Pdq,
)
from matcher.locks import ReadWriteLock
from registry.content import Content
from registry.evidence import DenseAlignment, Geometry, ImageEvidence, PdqQuality
from registry.models import WorkKind

# two worker threads per process: a query's local features are extracted there (and the local-feature index
# searched) while the request's thread hashes and embeds it
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-features")

VERSION = "image-fused-9"
FORMAT = 9


class ImageFingerprint(msgspec.Struct, frozen=True, kw_only=True):
    """What a work contributes to each signal's index (`parts`, by signal name), its pHash and PDQ quality
    for the evidence, and its local features for verification."""

    parts: dict[str, Any]
    phash: str
    pdq_quality: int
    features: lf.LocalFeatures


class _WorkEntry(msgspec.Struct, array_like=True):
    iid: int
    pdq_quality: int
    phash: str


INSET_ASPECT_TOLERANCE = math.log(1.15)  # how far a cut-out's proportions may be from the work's (the outline's
# position is found to a pixel or two of a reduced picture)


def _placed_and_refined(prepared: dense.DenseQuery,
                        stored: lf.LocalFeatures) -> tuple[dense.DenseResult, dense.DenseResult]:
    """A work's placement in the query (`DenseQuery.placed`) and that placement refined (`DenseQuery.aligned`)."""
    placed = prepared.placed(stored.thumb, stored.fine)
    return placed, prepared.aligned(stored.fine, placed)


def _same_proportions(a: float, b: float) -> bool:
    """Whether two width/height ratios agree, or agree once one picture is turned a quarter turn."""
    return min(abs(math.log(a / b)), abs(math.log(a * b))) <= INSET_ASPECT_TOLERANCE


class ImageMatcher:
    kind = WorkKind.IMAGE

    def __init__(self, originals: OriginalSource | None, embedder: Embedder | None,
                 index_dir: Path | None = None, calibration: ImageCalibration | None = None,
                 threshold: float | None = None, approximate_after: int = 200_000) -> None:
        self.originals = originals
        self.embedder = embedder
        self.index_dir = index_dir
        self.calibration = cal = calibration or load_calibration()
        self.threshold = cal.threshold if threshold is None else threshold
        self.signals: list[ImageSignal] = [ExactPixels(), Pdq()]
        if embedder is not None:
            self.signals.append(Embedding(embedder, cal.embedding_k, approximate_after))
        self.signals.append(LocalFeatureVotes(cal.local_query_descriptors, cal.local_min_similarity,
                                              cal.local_min_votes))
        self.signals.append(BandDescriptor(cal.band_candidates, approximate_after))
        self.stages = sorted({s.stage for s in self.signals})
        self._lock = ReadWriteLock()
        self._reset()
        if index_dir is not None:
            self._load()

    def _reset(self) -> None:
        for signal in self.signals:
            signal.clear()
        self.works: dict[str, _WorkEntry] = {}
        self.by_iid: dict[int, str] = {}
        self.next_iid = 0
        self._features: dict[str, bytes] = {}

    @property
    def embedder_id(self) -> str:
        return f"{self.embedder.name}@{self.embedder.version}" if self.embedder else "none"

    @property
    def version(self) -> str:
        return f"{VERSION}({','.join(s.name for s in self.signals)},sift,embedder={self.embedder_id})"

    # -- fingerprints ---------------------------------------------------------------------------------
    def fingerprint(self, content: Content) -> ImageFingerprint:
        query = ImageQuery(content.image)
        query.prefetch_features(_POOL)  # on the other core while the hashes and embeddings are computed
        parts = {s.name: s.fingerprint(query) for s in self.signals}
        _, quality = parts["pdq"]
        return ImageFingerprint(parts=parts, phash=query.phash(), pdq_quality=int(quality),
                                features=msgspec.structs.replace(query.features(), thumb=query.thumb(),
                                                                  fine=query.fine()))

    # -- updates --------------------------------------------------------------------------------------
    def add(self, work_id: str, fp: ImageFingerprint) -> None:
        with self._lock.write():
            if work_id in self.works:
                return
            iid = self.next_iid
            self.next_iid += 1
            self._write_features(work_id, fp.features.to_bytes())
            for signal in self.signals:
                if signal.name in fp.parts:
                    signal.add(iid, fp.parts[signal.name])
            self.works[work_id] = _WorkEntry(iid, fp.pdq_quality, fp.phash)
            self.by_iid[iid] = work_id

    def remove(self, work_id: str) -> None:
        with self._lock.write():
            entry = self.works.pop(work_id, None)
            if entry is None:
                return
            for signal in self.signals:
                signal.remove(entry.iid)
            self.by_iid.pop(entry.iid, None)

    def work_ids(self) -> set[str]:
        return set(self.works)

    def has(self, work_id: str) -> bool:
        return work_id in self.works

    def clear(self) -> None:
        with self._lock.write():
            self._reset()

    # -- search ---------------------------------------------------------------------------------------
    def search(self, content: Content) -> list[Match]:
        return [m for m in self.verify_all(content) if m.score >= self.threshold]

    def _candidates(self, signal: ImageSignal, values: dict[int, float]) -> list[int]:
        """The candidates a signal names, best first: every PDQ or exact hit; the best few of the others,
        and of the embeddings only those close enough to be worth verifying (the calibrated gate)."""
        if signal.name == "exact":
            return list(values)
        if signal.name == "pdq":
            return sorted(values, key=values.__getitem__)
        cal = self.calibration
        if kind_of(signal.name) == "embedding":
            return [i for i in sorted(values, key=lambda i: -values[i])[: cal.max_candidates]
                    if values[i] >= cal.verify_min_cosine]
        if signal.name == "band":
            return [i for i in sorted(values, key=lambda i: -values[i])[: cal.band_candidates] if values[i] > 0]
        return sorted(values, key=lambda i: -values[i])[: cal.max_candidates // 2]

    def verify_all(self, content: Content) -> list[Match]:
        """Every candidate, verified and scored, best first (before the decision threshold).

        Cheap stages first, as Hasher-Matcher-Actioner does; a later stage runs only when the earlier ones
        yield no verified match above the threshold. A work withdrawn while the search runs is skipped.
        """
        return self.verify_query(ImageQuery(content.image))

    def verify_query(self, query: ImageQuery) -> list[Match]:
        """`verify_all` for a prepared query, whose `timings` then hold the per-stage profile.

        The query's local features are extracted on a worker thread from the start (every path needs them);
        once the search goes past the cheap stage, that thread also runs the searches that need only those
        features (the local-feature votes) while this one embeds the query and searches the embeddings.
        Candidates are verified as each signal names them; they are scored once every signal of the stage
        has answered, so the fused confidence sees every signal's value."""
        _POOL.submit(self._background, query)
        seen: dict[str, dict[int, float]] = {}
        results: dict[str, Match] = {}
        found: dict[str, tuple[dict[str, float], Geometry | None]] = {}  # what each candidate was scored on
        for stage in self.stages:
            if stage > 0:
                query.deep.set()
            checked: dict[str, tuple[int, Geometry | None]] = {}
            for signal in (s for s in self.signals if s.stage == stage):
                values = seen[signal.name] = self._values(signal, query)
                t0 = time.perf_counter()
                for iid in self._candidates(signal, values):
                    wid = self.by_iid.get(iid)
                    if wid is None or wid in results or wid in checked or wid not in self.works:
                        continue  # withdrawn meanwhile, or already verified
                    exact = bool(seen.get("exact", {}).get(iid))
                    if exact or not signal.geometric:
                        checked[wid] = iid, None  # identical pixels, or a candidate for the dense comparison only
                        continue
                    checked[wid] = iid, self._geometry(wid, query)
                    query.verified += 1
                query.add_time("verify", time.perf_counter() - t0)
            for wid, (iid, geometry) in checked.items():
                found[wid] = {n: v[iid] for n, v in seen.items() if iid in v}, geometry
                match = self._score(wid, query, dict(found[wid][0]), geometry)
                if match is not None:
                    results[wid] = match
            if any(m.score >= self.threshold for m in results.values()):
                break
        else:
            self._dense_stage(query, results, found)
        return sorted(results.values(), key=lambda m: -m.score)

    def _dense_stage(self, query: ImageQuery, results: dict[str, Match],
                     found: dict[str, tuple[dict[str, float], Geometry | None]]) -> None:
        """When no stage verified a match: the best few candidates that SIFT did not verify (smooth, flat or
        dark pictures have too few keypoints; the embedding's best few and the `band` index's) compared densely
        (`dense.py`): whole, and the whole pictures refined on the larger thumbnails when either has little
        detail at the comparison size, for each; searched for a placement for the best of them, that placement
        refined on the larger thumbnails too (on the worker threads, while this thread compares the wholes);
        each is scored again with those values."""
        t0 = time.perf_counter()
        cal = self.calibration
        unverified = [w for w in results if found[w][1] is None]
        unverified.sort(key=lambda w: -max([results[w].score, *(v for k, v in found[w][0].items()
                                                                  if kind_of(k) == "embedding")]))
        chosen = unverified[: cal.dense_candidates]  # the embedding's best, then the band index's best
        by_band = sorted((w for w in unverified if "band" in found[w][0]), key=lambda w: -found[w][0]["band"])
        chosen += [w for w in by_band[: cal.band_candidates] if w not in chosen]
        thumbs: dict[str, lf.LocalFeatures] = {}
        for wid in chosen:
            try:
                stored = self._read_features(wid)
            except FileNotFoundError:
                continue  # withdrawn meanwhile
            if stored.thumb.size:
                thumbs[wid] = stored
        prepared = query.dense()

        def place(stored: lf.LocalFeatures) -> tuple[dense.DenseResult, dense.DenseResult]:
            """The placement search and the refined comparisons (the placement's and the whole pictures')."""
            placed, refined = _placed_and_refined(prepared, stored)
            return placed, max(refined, prepared.aligned_whole(stored.thumb, stored.fine), key=lambda r: r.value)

        placements = {wid: _POOL.submit(place, stored)
                      for wid, stored in list(thumbs.items())[: cal.placed_candidates]}
        # the others compared whole at the fine size too: a fine texture named by the band index is verified there
        fine_wholes = {wid: _POOL.submit(prepared.aligned_whole, stored.thumb, stored.fine)
                       for wid, stored in list(thumbs.items())[cal.placed_candidates :]}
        for wid, stored in thumbs.items():
            whole = prepared.whole(stored.thumb)
            signals, geometry = found[wid]
            signals = {**signals, "dense": round(whole.value, 4)}
            best = whole
            refined = fine_wholes[wid].result() if wid in fine_wholes else None
            if wid in placements:
                placed, refined = placements[wid].result()
                signals["placed"] = round(placed.value, 4)
                best = max(best, placed, key=lambda r: r.value)
            if refined is not None and stored.fine.size:  # refined at the fine size, placed or whole: its own curve
                signals["aligned"] = round(refined.value, 4)
                best = max(best, refined, key=lambda r: r.value)
            alignment = DenseAlignment(correlation=round(best.value, 4), how=best.how, scale=best.scale,
                                       work_inside=best.work_inside if best.box is not None else None)
            match = self._score(wid, query, signals, geometry, alignment)
            if match is not None:
                results[wid] = match
        if not any(m.score >= self.threshold for m in results.values()):
            self._inset_stage(query, results, found, set(placements))
        query.add_time("dense", time.perf_counter() - t0)

    def _inset_stage(self, query: ImageQuery, results: dict[str, Match],
                     found: dict[str, tuple[dict[str, float], Geometry | None]], placed: set[str]) -> None:
        """A picture pasted into the query along a rectangular outline (`insets.py`), cut out and searched as a
        query of its own: its embedding names the candidates, and they are verified by its whole-picture dense
        comparison, held to agree block by block (`DenseQuery.cutout`), or by the same comparison refined at
        the fine size (`inset`: the larger of the two). The best candidate of each cut-out is also searched for
        in the whole query as the dense stage's best are (`placed`, refined: `aligned`), unless it was
        (`placed`): an outline found a few pixels off (a side that meets the background's colour, a band of
        the copy's own taken for its edge) spoils the cut-out's comparisons, not the placement's."""
        cal = self.calibration
        prepared = query.dense()
        embedding = next((s for s in self.signals if isinstance(s, Embedding)), None)
        if embedding is None:
            return
        for box in query.insets():
            crop = query.crop(box)
            vectors = embedding.embedder.embed_regions(crop, [(0.0, 0.0, 1.0, 1.0)])
            with self._lock.read():
                nearest = embedding.nearest(vectors)
            best = {wid: cosine for iid, cosine in nearest.items()
                    if (wid := self.by_iid.get(iid)) is not None and wid in self.works
                    and cosine >= cal.verify_min_cosine}
            inset = dense.DenseQuery(dense.thumbnail(crop), None, dense.thumbnail(crop, dense.FINE_SIDE))
            share = round(math.sqrt((box[2] - box[0]) * (box[3] - box[1])), 3)
            named: dict[str, lf.LocalFeatures] = {}
            for wid, _ in sorted(best.items(), key=lambda kv: -kv[1])[: cal.dense_candidates]:
                try:
                    stored = self._read_features(wid)
                except FileNotFoundError:
                    continue
                if stored.thumb.size and stored.fine.size:
                    named[wid] = stored
            # a resized copy keeps its proportions: a cut-out of others is not one
            candidates = {wid: stored for wid, stored in named.items()
                          if _same_proportions(crop.width / crop.height, stored.thumb.shape[1] / stored.thumb.shape[0])}
            # each compared at 64 px (`cutout`) and at the fine size (on the worker threads): either may verify;
            # the best named one not yet placed also placed in the whole query, whatever the cut-out's proportions
            refined = {wid: _POOL.submit(inset.aligned_whole, stored.thumb, stored.fine, always=True)
                       for wid, stored in candidates.items()}
            first = next((w for w in named if w not in placed), None)
            placement = None if first is None else _POOL.submit(_placed_and_refined, prepared, named[first])
            if first is not None:
                placed.add(first)
            for wid in (w for w in named if w in candidates or w == first):
                signals = dict(found[wid][0]) if wid in found else {}
                signals[embedding.name] = max(signals.get(embedding.name, -1.0), round(best[wid], 4))
                alignment: DenseAlignment | None = None
                if wid in candidates:
                    value = max(inset.cutout(candidates[wid].thumb).value, refined[wid].result().value)
                    signals["inset"] = max(signals.get("inset", 0.0), round(value, 4))  # its own curve
                    alignment = DenseAlignment(correlation=round(value, 4), how="inset", scale=share)
                if wid == first and placement is not None:
                    moved, refit = placement.result()
                    signals["placed"] = max(signals.get("placed", 0.0), round(moved.value, 4))
                    signals["aligned"] = max(signals.get("aligned", 0.0), round(refit.value, 4))
                    where = max(moved, refit, key=lambda r: r.value)
                    if alignment is None or where.value > alignment.correlation:
                        alignment = DenseAlignment(correlation=round(where.value, 4), how=where.how, scale=where.scale,
                                                   work_inside=where.work_inside)
                match = self._score(wid, query, signals, found[wid][1] if wid in found else None, alignment)
                if match is not None and (wid not in results or match.score > results[wid].score):
                    results[wid] = match

    def lookup_pdq(self, hashes: list[bytes], qualities: list[int] | None = None) -> list[list[tuple[str, float]]]:
        """For each 32-byte PDQ hash (one orientation, as a trainer hashes its data; its quality when known):
        the works whose PDQ hash lies within the hash-only match distance (`hashes.pdq_match_distance`: 31,
        or 24 when either hash has a quality under 50), nearest first, with the PDQ similarity 1 - d/64."""
        pdq_signal = next(s for s in self.signals if isinstance(s, Pdq))
        queries = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), 32)
        with self._lock.read():
            found = pdq_signal.index.search_each(queries, PDQ_MAX_DISTANCE)
        out: list[list[tuple[str, float]]] = []
        for n, hits in enumerate(found):
            query_quality = 100 if qualities is None else qualities[n]
            row = []
            for iid, distance in hits:
                wid = self.by_iid.get(iid)
                limit = pdq_match_distance(query_quality, pdq_signal.quality.get(iid, 0))
                if wid is not None and distance <= limit:
                    row.append((wid, round(1.0 - distance / 64.0, 4)))
            out.append(row)
        return out

    def bank_fingerprints(self, work_ids: list[str]) -> dict[str, dict[str, object]]:
        """What an offline filter needs of each work: its PDQ hash (hex) and the hash's quality."""
        pdq_signal = next(s for s in self.signals if isinstance(s, Pdq))
        with self._lock.read():
            iids = {self.works[w].iid: w for w in work_ids if w in self.works}
            hashes = pdq_signal.index.get(list(iids))
        return {iids[i]: {"pdq": h.hex(), "pdq_quality": self.works[iids[i]].pdq_quality} for i, h in hashes.items()}

    def _background(self, query: ImageQuery) -> None:
        """On the worker thread: the query's local features, then, if the search has gone deep by then, the
        searches that need only them."""
        try:
            query.features()
        except Exception:  # the request's thread meets the same error when it asks for the features
            return
        if query.deep.is_set():
            for signal in self.signals:
                if signal.background:
                    self._values(signal, query)

    def _values(self, signal: ImageSignal, query: ImageQuery) -> dict[int, float]:
        """The signal's candidates for the query, searched once (by whichever thread asks first)."""

        def search() -> dict[int, float]:
            signal.prepare(query)  # the query's fingerprints, computed outside the lock
            t0 = time.perf_counter()
            with self._lock.read():  # faiss indexes are not safe to search while another thread adds to them
                values = signal.search(query)
            query.add_time(f"search:{kind_of(signal.name)}", time.perf_counter() - t0)
            return values

        return query.cached(f"values:{signal.name}", search, timed=False)

    def _geometry(self, wid: str, query: ImageQuery) -> Geometry | None:
        """SIFT + RANSAC verification of the work in the query, or in its mirror image."""
        w_feat = self._read_features(wid)
        return lf.verify(query.features(), w_feat) or lf.verify(query.features(mirror=True), w_feat, mirrored=True)

    def _score(self, wid: str, query: ImageQuery, signals: dict[str, float],
               geometry: Geometry | None, alignment: DenseAlignment | None = None) -> Match | None:
        """The candidate's fused confidence and evidence; None when it was withdrawn meanwhile."""
        entry = self.works.get(wid)
        if entry is None:
            return None
        exact = bool(signals.get("exact"))
        if geometry is not None:
            signals["sift"] = float(geometry.inliers)
        hashes, quality = query.pdq()
        if "pdq" in signals and min(quality, entry.pdq_quality) < PDQ_MIN_QUALITY:
            signals["pdq_low"] = signals.pop("pdq")  # a weaker signal with its own curve
        score = fuse(self.calibration, signals)
        cosine = next((v for k, v in signals.items() if kind_of(k) == "embedding"), None)
        evidence = ImageEvidence(
            exact_pixels=exact,
            pdq_distance=next((int(signals[k]) for k in ("pdq", "pdq_low") if k in signals), None),
            pdq_quality=PdqQuality(query=quality, work=entry.pdq_quality),
            phash_distance=phash_distance(query.phash(), entry.phash),
            cosine=None if cosine is None else round(cosine, 4),
            embedder=self.embedder_id, geometry=geometry, dense=alignment, query_pdq=pdq_hex(hashes[0]),
            signals={k: round(v, 4) for k, v in signals.items()},
        )
        return Match(work_id=wid, score=round(score, 4), evidence=evidence)

    # -- persistence ----------------------------------------------------------------------------------
    def _features_path(self, work_id: str) -> Path | None:
        if self.index_dir is None:
            return None
        # `LocalFeatures.to_bytes` (FORMAT 7 and older wrote .npz files: `_drop_old_features`)
        return self.index_dir / "features" / work_id[-2:] / f"{work_id}.feat"

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
            feats = msgspec.structs.replace(lf.extract(img), thumb=dense.thumbnail(img),
                                            fine=dense.thumbnail(img, dense.FINE_SIDE))
            self._write_features(work_id, feats.to_bytes())
            return feats

    def save(self) -> None:
        if self.index_dir is None:
            return
        with self._lock.write():
            self.index_dir.mkdir(parents=True, exist_ok=True)
            for signal in self.signals:
                signal.save(self.index_dir)
            meta = {"format": FORMAT, "embedder": self.embedder_id, "signals": [s.name for s in self.signals],
                    "next_iid": self.next_iid, "works": {w: msgspec.to_builtins(e) for w, e in self.works.items()}}
            tmp = self.index_dir / "meta.json.tmp"
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, self.index_dir / "meta.json")

    def _drop_old_features(self) -> None:
        """The feature files an older format wrote (`.npz`): the rebuild writes every work's again."""
        assert self.index_dir is not None
        for path in (self.index_dir / "features").glob("*/*.npz"):
            path.unlink(missing_ok=True)

    def _load(self) -> None:
        """Load the saved index; on any mismatch (format, embedder, signals) start empty so sync rebuilds it."""
        assert self.index_dir is not None
        try:
            meta = json.loads((self.index_dir / "meta.json").read_text())
            if meta.get("format") != FORMAT:
                self._drop_old_features()
                return
            if meta.get("embedder") != self.embedder_id or meta.get("signals") != [s.name for s in self.signals]:
                return
            for signal in self.signals:
                signal.load(self.index_dir)
        except (OSError, ValueError, RuntimeError):
            self._reset()
            return
        self.next_iid = int(meta["next_iid"])
        for wid, raw in meta["works"].items():
            entry = msgspec.convert(raw, _WorkEntry)
            self.works[wid] = entry
            self.by_iid[entry.iid] = wid

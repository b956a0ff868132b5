"""The text matcher: MinHash-window retrieval, exact verification against the stored original, fusion.

Confidence is 1 - exp(-weighted / tau): `weighted` counts the query words copied in the largest verified
passage plus half of those in the others, boilerplate left out, so it rises with how much was copied,
whatever else the output holds, and one long passage weighs more than scattered stock sentences.
The decision threshold comes from `calibration.json`, written by `scripts/calibrate_text.py`.
"""

import base64
import json
import math
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

from matcher.base import Match, OriginalSource
from matcher.text.index import TextIndex, TextIndexParams
from matcher.text.normalize import Tokens, tokenize, word_ids
from matcher.text.shingles import shingle_hashes
from matcher.text.verify import copied_spans
from registry.content import Content
from registry.errors import UnsupportedContent
from registry.evidence import TextEvidence
from registry.models import WorkKind

VERSION = "text-minhash-1"


class TextCalibration(msgspec.Struct, frozen=True, kw_only=True):
    threshold: float = 0.5
    tau: float = 20.0
    seed_words: int = 4
    max_gap: int = 6
    min_span_words: int = 8
    max_candidates: int = 25
    # candidates whose best estimated window Jaccard is under half the LSH threshold (0.2) are chance
    # collisions (a 128-value MinHash estimate has a standard deviation of about 0.035 there): not verified
    verify_min_estimate: float = 0.1


def load_calibration() -> TextCalibration:
    raw = resources.files("matcher.text").joinpath("calibration.json").read_text()
    return msgspec.convert(json.loads(raw)["calibration"], TextCalibration)


class TextFingerprint(msgspec.Struct, frozen=True):
    shingles: npt.NDArray[np.uint32]
    long_shingles: npt.NDArray[np.uint32]
    words: int


class TextMatcher:
    kind = WorkKind.TEXT

    def __init__(self, originals: OriginalSource, index_dir: Path | None = None,
                 params: TextIndexParams | None = None, calibration: TextCalibration | None = None,
                 threshold: float | None = None, redis_url: str | None = None,
                 redis_prefix: str = "provenance:text") -> None:
        self.originals = originals
        self.index_dir = index_dir
        self.calibration = calibration or load_calibration()
        self.threshold = self.calibration.threshold if threshold is None else threshold
        self.index = TextIndex(params or TextIndexParams(), redis_url, redis_prefix)
        self._tokens_cache: OrderedDict[str, Tokens] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._index_lock = threading.RLock()
        if index_dir is not None:
            self.index.load(index_dir)

    @property
    def version(self) -> str:
        p = self.index.params
        return f"{VERSION}(k={p.shingle},perm={p.num_perm},window={p.window})"

    def fingerprint(self, content: Content) -> TextFingerprint:
        ids = word_ids(content.text)
        if len(ids) == 0:
            raise UnsupportedContent("text has no words to fingerprint")
        p = self.index.params
        return TextFingerprint(shingle_hashes(ids, p.shingle), shingle_hashes(ids, p.df_shingle), len(ids))

    def add(self, work_id: str, fingerprint: TextFingerprint) -> None:
        with self._index_lock:  # the LSH tables are plain dicts and sets: no change while a query reads them
            self.index.add(work_id, fingerprint.shingles, fingerprint.long_shingles)

    def remove(self, work_id: str) -> None:
        with self._index_lock:
            self.index.remove(work_id)
        with self._cache_lock:
            self._tokens_cache.pop(work_id, None)

    def work_ids(self) -> set[str]:
        return self.index.work_ids()

    def has(self, work_id: str) -> bool:
        return work_id in self.index

    def bank_fingerprints(self, work_ids: list[str]) -> dict[str, dict[str, object]]:
        """What an offline filter needs of each work: its MinHash signatures as the index keeps them (16-bit
        values; the whole text, then windows of `window` shingles stepping by half a window)."""
        with self._index_lock:
            found = self.index.signatures16(work_ids)
        return {w: {"minhash16": base64.b64encode(sig.astype("<u2").tobytes()).decode(), "signatures": len(sig)}
                for w, sig in found.items()}

    def save(self) -> None:
        if self.index_dir is not None:
            with self._index_lock:
                self.index.save(self.index_dir)

    def clear(self) -> None:
        with self._index_lock:
            self.index.clear()
        with self._cache_lock:
            self._tokens_cache.clear()

    def _work_tokens(self, work_id: str) -> Tokens:
        """The tokens of a work's original, from a small LRU cache shared by the API's worker threads."""
        with self._cache_lock:
            tokens = self._tokens_cache.get(work_id)
            if tokens is not None:
                self._tokens_cache.move_to_end(work_id)
                return tokens
        tokens = tokenize(self.originals.original(work_id).decode("utf-8-sig"))
        with self._cache_lock:
            self._tokens_cache[work_id] = tokens
            if len(self._tokens_cache) > 256:
                self._tokens_cache.popitem(last=False)
        return tokens

    def search(self, content: Content) -> list[Match]:
        return [m for m in self.verify_all(content) if m.score >= self.threshold]

    def verify_all(self, content: Content) -> list[Match]:
        """Every retrieved candidate, verified and scored, best first (the threshold not yet applied)."""
        query = tokenize(content.text)
        if len(query) == 0:
            return []
        k = self.index.params.shingle
        q_shingles = shingle_hashes(query.ids, k)
        long_shingles = shingle_hashes(query.ids, self.index.params.df_shingle)
        with self._index_lock:  # only the table lookups; similarity and verification run without the lock
            lookup = self.index.lookup(q_shingles)
            boilerplate = self.index.boilerplate_mask(long_shingles, len(query))
        similarity = lookup.similarity()
        c = self.calibration
        ranked = [w for w in sorted(similarity, key=lambda w: -similarity[w])[: c.max_candidates]
                  if similarity[w] >= c.verify_min_estimate]
        q_set = set(q_shingles.tolist())
        matches = []
        for work_id in ranked:
            work = self._work_tokens(work_id)
            match = self._score(work_id, query, boilerplate, q_set, work)
            if match is not None:
                matches.append(match)
        matches.sort(key=lambda m: -m.score)
        return matches

    def _score(self, work_id: str, query: Tokens, boilerplate: npt.NDArray[np.bool_], q_set: set[int],
               work: Tokens) -> Match | None:
        c, k = self.calibration, self.index.params.shingle
        spans = copied_spans(query, work, seed=c.seed_words, max_gap=c.max_gap, min_words=c.min_span_words,
                             boilerplate=boilerplate)
        if not spans:
            return None
        copied = sum(s.original_words for s in spans)
        # one long copied passage is stronger evidence than the same words in scattered shared sentences
        largest = max(s.original_words for s in spans)
        weighted = largest + 0.5 * (copied - largest)
        w_set = set(shingle_hashes(work.ids, k).tolist())
        shared = len(q_set & w_set)
        score = 1.0 - math.exp(-weighted / c.tau)
        evidence = TextEvidence(
            copied_words=copied, query_words=len(query), work_words=len(work),
            query_share=round(copied / len(query), 4),
            containment=round(shared / max(1, len(q_set)), 4),
            jaccard=round(shared / max(1, len(q_set | w_set)), 4),
            boilerplate_words=int(boilerplate.sum()),
            longest_passage_words=max(s.q_end - s.q_start for s in spans),
            longest_verbatim_words=max(s.longest_run for s in spans),
            passages=[s.summary() for s in sorted(spans, key=lambda s: -s.original_words)[:10]],
        )
        return Match(work_id=work_id, score=round(score, 4), evidence=evidence)

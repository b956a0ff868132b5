"""The text index: MinHash signatures of overlapping shingle windows of every work, in datasketch LSH.

Retrieval asks a containment question, not a near-duplicate one: a copied excerpt is small beside the
work it came from, so each work is cut into windows of `window` shingles (stepping by half a window) and
each window gets a MinHash. A query is cut the same way; a query window inside a copied passage overlaps
some work window by at least half, which the LSH threshold is set to catch. A whole-work MinHash in a
second LSH answers the near-duplicate question for whole documents.

Boilerplate: the index counts, for a deterministic sample of long shingles (`df_shingle` words, hash mod
`df_sample` == 0), in how many works each occurs; a passage whose sampled long shingles mostly occur in
`boilerplate_works` or more works is boilerplate (licence footers, headers, standard phrases). Long
shingles, because short ones ("a bit mask") are common in any prose and say nothing about copying.

In memory, the tables are NumPy arrays (`compact.py`: about 13 KB per 5 KB document, written to one `.npz`,
no pickle); shared by replicas, they live in Redis (datasketch's Redis LSH storage, `state.py`).
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from datasketch import LeanMinHash, MinHash, MinHashLSH

from matcher.text.compact import CompactTables
from matcher.text.state import RedisTextState

FORMAT = 3  # 3: the compact tables in one .npz (2: LeanMinHash signatures; older files are rebuilt)
MAX_CANDIDATE_WORKS = 128  # works (most colliding windows first) whose similarity a query estimates
MAX_HITS_PER_WORK = 256  # distinct (query window, work window) pairs compared per work and query


Sig16 = npt.NDArray[np.uint16]


def low16(sig: LeanMinHash) -> Sig16:
    """The low 16 bits of each hash value: what the compact index keeps of a signature."""
    return (sig.hashvalues & np.uint64(0xFFFF)).astype(np.uint16)


class Lookup:
    """What one query found in the LSH tables; its similarity estimate needs no lock."""

    def __init__(self, doc_sig: Sig16, doc_hits: list[str], pairs: dict[str, list[tuple[Sig16, int]]],
                 stored: dict[str, Sig16], distinct_windows: int) -> None:
        self.doc_sig, self.doc_hits, self.pairs, self.stored = doc_sig, doc_hits, pairs, stored
        self.distinct_windows = distinct_windows

    @property
    def compared_pairs(self) -> int:
        return sum(len(hits) for hits in self.pairs.values())

    def similarity(self) -> dict[str, float]:
        """Each candidate work's best estimated Jaccard similarity to the query, whole or window by window
        (from 16-bit signature values: at most (1 - J) / 65536 above the 64-bit estimate)."""
        best: dict[str, float] = {}
        for work_id in self.doc_hits:
            if work_id in self.stored:
                best[work_id] = float((self.doc_sig == self.stored[work_id][0]).mean())
        for work_id, hits in self.pairs.items():
            sigs = self.stored.get(work_id)
            if sigs is None:
                continue
            hits = [(q, j) for q, j in hits if j >= 0 and j + 1 < len(sigs)]
            if not hits:
                continue
            query = np.stack([q for q, _ in hits])
            works = sigs[[j + 1 for _, j in hits]]
            top = float((query == works).mean(axis=1).max())
            if top > best.get(work_id, -1.0):
                best[work_id] = top
        return best


class TextIndexParams(msgspec.Struct, frozen=True, kw_only=True):
    shingle: int = 3
    num_perm: int = 128
    window: int = 100
    lsh_threshold: float = 0.2
    doc_threshold: float = 0.5
    df_shingle: int = 8
    df_sample: int = 4
    boilerplate_works: int = 5
    seed: int = 1


def _params_tag(params: TextIndexParams) -> str:
    """A short tag of the parameters, so that indexes built differently never share Redis keys."""
    return hashlib.sha256(msgspec.json.encode(params, order="sorted")).hexdigest()[:10]


def _identity(value: int) -> int:
    return value


class TextIndex:
    def __init__(self, params: TextIndexParams, redis_url: str | None = None, prefix: str = "provenance:text") -> None:
        """In memory (persisted with `save`/`load`), or shared in Redis when `redis_url` is given."""
        self.params = params
        self._template = MinHash(num_perm=params.num_perm, seed=params.seed)
        self._sig_size = LeanMinHash(self._template).bytesize()
        self._redis: Any = None
        self._prefix = f"{prefix}:{_params_tag(params)}"
        if redis_url is not None:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            try:
                self._redis.ping()
            except redis.RedisError as exc:
                raise ConnectionError(f"cannot reach Redis at {redis_url}: {exc}") from None
            url = self._redis.connection_pool.connection_kwargs
            self._storage: dict[str, Any] | None = {
                "type": "redis", "redis": {"host": url.get("host", "localhost"), "port": url.get("port", 6379),
                                           "db": url.get("db", 0)}}
        else:
            self._storage = None
        self._reset()

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def _lsh(self, threshold: float, name: str) -> MinHashLSH:
        p = self.params
        if self._storage is None:
            return MinHashLSH(threshold=threshold, num_perm=p.num_perm)
        config = {**self._storage, "basename": f"{self._prefix}:{name}".encode()}
        return MinHashLSH(threshold=threshold, num_perm=p.num_perm, storage_config=config, prepickle=False)

    def _reset(self) -> None:
        p = self.params
        self.compact: CompactTables | None = None
        if self.shared:
            self.windows = self._lsh(p.lsh_threshold, "windows")
            self.docs = self._lsh(p.doc_threshold, "docs")
            self.state = RedisTextState(self._redis, self._prefix, self._sig_size)
        else:  # in memory: NumPy band tables with datasketch's banding (matcher/text/compact.py)
            self.compact = CompactTables(p.num_perm, p.lsh_threshold, p.doc_threshold)

    def clear(self) -> None:
        """Forget every work (in Redis too, for a shared index)."""
        if self._redis is not None:
            for key in self._redis.scan_iter(match=f"{self._prefix}*".encode(), count=1000):
                self._redis.delete(key)
        self._reset()

    # -- signatures -----------------------------------------------------------------------------------
    def minhash(self, shingles: npt.NDArray[np.uint32]) -> LeanMinHash:
        return LeanMinHash(seed=self.params.seed, hashvalues=self._hashvalues(shingles),
                           scheme=self._template.scheme)

    def window_bounds(self, n: int) -> list[tuple[int, int]]:
        w = self.params.window
        if n <= w:
            return [(0, n)]
        step = w // 2
        starts = list(range(0, n - w + 1, step))
        if starts[-1] + w < n:
            starts.append(n - w)
        return [(s, s + w) for s in starts]

    def _hashvalues(self, shingles: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
        m = MinHash(num_perm=self.params.num_perm, seed=self.params.seed, hashfunc=_identity,
                    permutations=self._template.permutations, scheme=self._template.scheme)
        m.update_batch(shingles.tolist())
        values: npt.NDArray[np.uint64] = m.hashvalues
        return values

    def signatures_for(self, shingles: npt.NDArray[np.uint32]) -> list[LeanMinHash]:
        """The whole text's MinHash, then each window's. Windows overlap by half, so each is the merge (the
        element-wise minimum, exactly as MinHash.merge) of two half-window blocks: every shingle is hashed
        once, not three times."""
        n, w = len(shingles), self.params.window
        bounds = self.window_bounds(n)
        if len(bounds) == 1 or w % 2:
            return [self.minhash(shingles)] + [self.minhash(shingles[a:b]) for a, b in bounds]
        half = w // 2
        blocks = [self._hashvalues(shingles[a : a + half]) for a in range(0, n, half)]
        values = [np.minimum.reduce(blocks)]
        for a, b in bounds:
            if a % half == 0 and b == a + w:
                values.append(np.minimum(blocks[a // half], blocks[a // half + 1]))
            else:  # the last window, aligned to the end of the text
                values.append(self._hashvalues(shingles[a:b]))
        return [LeanMinHash(seed=self.params.seed, hashvalues=v, scheme=self._template.scheme) for v in values]

    def sample(self, shingles: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        return np.unique(shingles[shingles % self.params.df_sample == 0])

    # -- updates --------------------------------------------------------------------------------------
    def add(self, work_id: str, shingles: npt.NDArray[np.uint32], long_shingles: npt.NDArray[np.uint32]) -> None:
        if work_id in self:
            return
        sigs, sampled = self.signatures_for(shingles), self.sample(long_shingles)
        if self.compact is not None:
            self.compact.add(work_id, np.stack([s.hashvalues for s in sigs]), sampled)
            return
        self._insert(work_id, sigs, sampled)

    def _insert(self, work_id: str, sigs: list[LeanMinHash], sampled: npt.NDArray[np.uint32]) -> None:
        self.docs.insert(work_id.encode(), sigs[0], check_duplication=False)
        for j, sig in enumerate(sigs[1:]):
            self.windows.insert(f"{work_id}#{j}".encode(), sig, check_duplication=False)
        self.state.add(work_id, sigs, sampled)  # last: a work is indexed once its state is written

    def remove(self, work_id: str) -> None:
        if self.compact is not None:
            self.compact.remove(work_id)
            return
        removed = self.state.remove(work_id)
        if removed is None:
            return
        count, _ = removed
        self.docs.remove(work_id.encode())
        for j in range(count - 1):
            self.windows.remove(f"{work_id}#{j}".encode())

    # -- queries --------------------------------------------------------------------------------------
    def lookup(self, shingles: npt.NDArray[np.uint32]) -> "Lookup":
        """The LSH part of a query, the only part that reads the shared tables (hold the index lock for it).

        Identical query windows (a repetitive text repeats them thousands of times) are looked up once, and
        at most `MAX_HITS_PER_WORK` distinct window pairs are kept per work, so the cost of the similarity
        estimate that follows (`Lookup.similarity`, done without the lock) is bounded whatever the texts."""
        sigs = self.signatures_for(shingles)
        distinct: dict[bytes, LeanMinHash] = {}
        for sig in sigs[1:]:
            distinct.setdefault(sig.hashvalues.tobytes(), sig)
        pairs: dict[str, list[tuple[Sig16, int]]] = {}

        def hit(work_id: str, sig: LeanMinHash, j: int) -> None:
            hits = pairs.setdefault(work_id, [])
            if len(hits) < MAX_HITS_PER_WORK:
                hits.append((low16(sig), j))

        if self.compact is not None:
            doc_hits = self.compact.query_docs(sigs[0].hashvalues)
            windows = list(distinct.values())
            if windows:
                found = self.compact.window_candidates(np.stack([w.hashvalues for w in windows]),
                                                       MAX_CANDIDATE_WORKS)
                for work_id, window_pairs in found:
                    for row, j in window_pairs:
                        hit(work_id, windows[row], j)
            stored = {w: s16 for w in {*doc_hits, *pairs} if (s16 := self.compact.signatures(w)) is not None}
        else:
            doc_hits = [k.decode() for k in self.docs.query(sigs[0])]
            for sig in distinct.values():
                for key in self.windows.query(sig):
                    work_id, _, j = key.decode().rpartition("#")
                    hit(work_id, sig, int(j))
            stored = {w: np.stack([low16(x) for x in v])
                      for w, v in self.state.signatures(sorted({*doc_hits, *pairs})).items()}
        return Lookup(low16(sigs[0]), doc_hits, pairs, stored, len(distinct))

    def signatures16(self, work_ids: list[str]) -> dict[str, npt.NDArray[np.uint16]]:
        """Each work's MinHash signatures (the whole text first, then its windows), low 16 bits of each value."""
        if self.compact is not None:
            return {w: s16 for w in work_ids if (s16 := self.compact.signatures(w)) is not None}
        return {w: np.stack([low16(x) for x in v]) for w, v in self.state.signatures(work_ids).items()}

    def candidates(self, shingles: npt.NDArray[np.uint32]) -> dict[str, float]:
        """Works whose windows collide with the query's in the LSH, each with its best estimated Jaccard."""
        return self.lookup(shingles).similarity()

    def boilerplate_mask(self, long_shingles: npt.NDArray[np.uint32], n_words: int) -> npt.NDArray[np.bool_]:
        """Per word of a text: is it inside a passage that `boilerplate_works` or more works share?

        A word is covered when a sampled long shingle over it is that common; holes of up to one shingle
        length between covered words are filled, since the sample skips some shingles of every passage.
        """
        p = self.params
        mask = np.zeros(n_words, dtype=bool)
        k = min(p.df_shingle, n_words)
        positions = np.nonzero(long_shingles % p.df_sample == 0)[0].tolist()
        hashes = [int(long_shingles[i]) for i in positions]
        counts = self.compact.df.get(hashes) if self.compact is not None else self.state.df(hashes)
        for i, count in zip(positions, counts, strict=True):
            if count >= p.boilerplate_works:
                mask[i : i + k] = True
        covered = np.nonzero(mask)[0]
        if len(covered) > 1:
            for a, b in zip(covered[:-1].tolist(), covered[1:].tolist(), strict=True):
                if 1 < b - a <= k:
                    mask[a:b] = True
        return mask

    def work_ids(self) -> set[str]:
        return set(self.compact.works) if self.compact is not None else self.state.work_ids()

    def __contains__(self, work_id: object) -> bool:
        return work_id in (self.compact if self.compact is not None else self.state)

    def __len__(self) -> int:
        return len(self.compact) if self.compact is not None else len(self.state)

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the index to files (an in-memory index; a shared one lives in Redis already)."""
        if self.compact is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        self.compact.save(directory / "tables.npz")
        meta = {"format": FORMAT, "params": msgspec.to_builtins(self.params)}
        (directory / "meta.json.tmp").write_text(json.dumps(meta))
        os.replace(directory / "meta.json.tmp", directory / "meta.json")  # meta last: it marks a complete save

    def load(self, directory: Path) -> bool:
        """Load a saved index; False (and an empty index) if none is there or it was saved differently
        (an older format is rebuilt from the stored originals). A shared (Redis) index needs no loading."""
        if self.shared:
            return True
        self._reset()
        assert self.compact is not None
        try:
            meta = json.loads((directory / "meta.json").read_text())
            if meta.get("format") != FORMAT or meta.get("params") != msgspec.to_builtins(self.params):
                return False
            self.compact.load(directory / "tables.npz")
        except (OSError, ValueError, KeyError):
            self._reset()
            return False
        return True

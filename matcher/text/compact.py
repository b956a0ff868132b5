"""The in-memory text index in NumPy arrays: LSH band tables, 16-bit signatures and shingle counts.

datasketch's in-memory `MinHashLSH` keeps a Python dict entry and set per band per window (about 160 KB for
a 5 KB document); this keeps the same banding (the same (b, r) that datasketch chooses for each threshold, so
the same windows collide) in sorted runs of arrays: a 64-bit key and a 32-bit item id per band per window. Signatures
are kept as the low 16 bits of each of their hash values (the Jaccard estimate they give is off by at most
(1 - J) / 65536), and the document frequency of sampled long shingles in sorted arrays too. New entries wait
in small dicts that become sorted runs in bulk; removed works are masked, then dropped when a quarter of the
entries are dead. About 11.5 KB per 5 KB document in the arrays, 13.2 KB of process memory at a million
documents (`benchmarks/bench_text.py --scale 1000000 --workers 2`).
"""

from array import array
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
from datasketch.lsh import _optimal_param

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
_RNG = np.random.default_rng(20261127)
_MULT = (_RNG.integers(1, 2**63, 64, dtype=np.uint64) | np.uint64(1)).astype(np.uint64)
_SALT = _RNG.integers(0, 2**63, 512, dtype=np.uint64).astype(np.uint64)
_CHUNK = 1 << 16  # signatures are stored in chunks of this many rows (no doubling slack)


def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows) datasketch's MinHashLSH uses for this threshold (equal weights on both errors)."""
    b, r = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(b), int(r)


class BandTable:
    """For each band, the items whose signatures agree on that band's rows.

    New entries go to a dict per band (found in O(1)); every `flush_every` items they become a sorted run of
    (key, item) arrays, and runs of similar size are merged (as a log-structured merge tree does), so a band
    holds a handful of sorted runs whatever its size and a lookup is a few binary searches."""

    def __init__(self, bands: int, rows: int, flush_every: int = 8192) -> None:
        self.b, self.r, self.flush_every = bands, rows, flush_every
        self.runs: list[list[tuple[U64, U32]]] = [[] for _ in range(bands)]  # per band: (keys, items) runs
        self.pending: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        self._pending = 0

    def band_keys(self, hashvalues: npt.NDArray[np.uint64]) -> U64:
        """(n, 128) hash values -> (n, b) band keys."""
        h = hashvalues[:, : self.b * self.r].astype(np.uint64).reshape(len(hashvalues), self.b, self.r)
        with np.errstate(over="ignore"):
            mixed = (h * _MULT[: self.r]).sum(axis=2, dtype=np.uint64)
        return np.asarray(mixed ^ _SALT[: self.b], dtype=np.uint64)

    def add(self, items: U32, keys: U64) -> None:
        rows = keys.tolist()
        for item, row in zip(items.tolist(), rows, strict=True):
            for band, key in enumerate(row):
                self.pending[band].setdefault(key, []).append(item)
        self._pending += len(items)
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self, alive: bytearray | None = None) -> None:
        """Turn the pending entries into a sorted run and merge runs of similar size; with `alive`, merge
        every run into one and drop the dead items."""
        live = None if alive is None else np.frombuffer(bytes(alive), dtype=np.uint8)
        for band in range(self.b):
            pending = self.pending[band]
            if pending:
                keys = np.fromiter((k for k, v in pending.items() for _ in v), dtype=np.uint64)
                items = np.fromiter((i for v in pending.values() for i in v), dtype=np.uint32)
                order = np.argsort(keys, kind="stable")
                self.runs[band].append((keys[order], items[order]))
                self.pending[band] = {}
            runs = self.runs[band]
            while len(runs) > 1 and (live is not None or len(runs[-2][0]) <= 4 * len(runs[-1][0])):
                (k1, i1), (k2, i2) = runs[-2], runs[-1]
                k, i = np.concatenate([k1, k2]), np.concatenate([i1, i2])
                order = np.argsort(k, kind="stable")  # two sorted runs: timsort merges them in linear time
                runs[-2:] = [(k[order], i[order])]
            if live is not None and runs:
                k, i = runs[0]
                keep = live[i] == 1
                runs[0] = (k[keep], i[keep])
        self._pending = 0

    def query(self, keys: U64) -> set[int]:
        """Items sharing at least one band key with the (b,) `keys` of a query signature."""
        found: set[int] = set()
        for band, key in enumerate(keys.tolist()):
            hit = self.pending[band].get(key)
            if hit:
                found.update(hit)
            k = np.uint64(key)
            for run_keys, run_items in self.runs[band]:
                lo = int(np.searchsorted(run_keys, k, "left"))
                if lo < len(run_keys) and run_keys[lo] == k:
                    hi = int(np.searchsorted(run_keys, k, "right"))
                    found.update(run_items[lo:hi].tolist())
        return found

    def query_many(self, keys: U64) -> list[set[int]]:
        """`query` for each row of an (m, b) array of query keys, with one binary search per band and run."""
        found: list[set[int]] = [set() for _ in range(len(keys))]
        for band in range(self.b):
            column = keys[:, band]
            pending = self.pending[band]
            if pending:
                for row, key in enumerate(column.tolist()):
                    hit = pending.get(key)
                    if hit:
                        found[row].update(hit)
            for run_keys, run_items in self.runs[band]:
                lo = np.searchsorted(run_keys, column, "left")
                hi = np.searchsorted(run_keys, column, "right")
                for row in np.flatnonzero(hi > lo).tolist():
                    found[row].update(run_items[lo[row]:hi[row]].tolist())
        return found

    def query_pairs(self, keys: U64) -> tuple[npt.NDArray[np.int64], U32]:
        """Every (query row, item) pair sharing a band key, as two arrays (a pair may repeat across bands):
        `query_many` without a Python set per row, for queries that collide with many items."""
        rows_out: list[npt.NDArray[np.int64]] = []
        items_out: list[U32] = []
        for band in range(self.b):
            column = keys[:, band]
            pending = self.pending[band]
            if pending:
                for row, key in enumerate(column.tolist()):
                    hit = pending.get(key)
                    if hit:
                        rows_out.append(np.full(len(hit), row, np.int64))
                        items_out.append(np.asarray(hit, np.uint32))
            for run_keys, run_items in self.runs[band]:
                lo = np.searchsorted(run_keys, column, "left")
                hi = np.searchsorted(run_keys, column, "right")
                counts = hi - lo
                total = int(counts.sum())
                if not total:
                    continue
                rows = np.repeat(np.arange(len(column), dtype=np.int64), counts)
                starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
                rows_out.append(rows)
                items_out.append(run_items[np.arange(total) + starts])
        if not rows_out:
            return np.zeros(0, np.int64), np.zeros(0, np.uint32)
        return np.concatenate(rows_out), np.concatenate(items_out)

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        self.flush()
        out: dict[str, npt.NDArray[np.generic]] = {}
        for band, runs in enumerate(self.runs):
            keys = np.concatenate([k for k, _ in runs]) if runs else np.empty(0, np.uint64)
            items = np.concatenate([i for _, i in runs]) if runs else np.empty(0, np.uint32)
            order = np.argsort(keys, kind="stable")
            out[f"k{band}"], out[f"i{band}"] = keys[order], items[order]
        return out

    def load(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        self.runs = [[(arrays[f"k{b}"].astype(np.uint64), arrays[f"i{b}"].astype(np.uint32))] for b in range(self.b)]
        self.pending = [{} for _ in range(self.b)]
        self._pending = 0


class Counts:
    """How many works hold each sampled shingle: sorted runs of (key, count change) plus a small buffer.

    Changes collect in a Counter; every `merge_every` keys they become a sorted run, and runs of similar size
    are merged (summing the counts of equal keys, dropping the zeros), as the band tables do, so enrolling
    n works costs O(n log n) whatever the number of distinct shingles (one sorted array re-merged on every
    flush cost O(n^2): a million works never finished). A count is the sum over the runs and the buffer."""

    def __init__(self, merge_every: int = 100_000) -> None:
        self.runs: list[tuple[U32, npt.NDArray[np.int32]]] = []
        self._delta: Counter[int] = Counter()
        self.merge_every = merge_every

    def change(self, shingles: U32, by: int) -> None:
        for h in shingles.tolist():
            self._delta[h] += by
        if len(self._delta) >= self.merge_every:
            self.flush()

    @staticmethod
    def _combine(keys: U32, counts: npt.NDArray[np.int64], drop_zero: bool) -> tuple[U32, npt.NDArray[np.int32]]:
        """Sort by key, sum equal keys, drop zero counts when `drop_zero`."""
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        if not len(keys):
            return keys.astype(np.uint32), counts.astype(np.int32)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1])
        summed = np.add.reduceat(counts, starts)
        uniq = keys[starts]
        if drop_zero:
            keep = summed != 0
            uniq, summed = uniq[keep], summed[keep]
        return uniq.astype(np.uint32), summed.astype(np.int32)

    def flush(self, everything: bool = False) -> None:
        """The buffer becomes a run; runs of similar size (with `everything`, all runs) are merged."""
        if self._delta:
            dk = np.fromiter(self._delta.keys(), dtype=np.uint32, count=len(self._delta))
            dv = np.fromiter(self._delta.values(), dtype=np.int64, count=len(self._delta))
            run = self._combine(dk, dv, drop_zero=True)
            if len(run[0]):
                self.runs.append(run)
            self._delta.clear()
        runs = self.runs
        while len(runs) > 1 and (everything or len(runs[-2][0]) <= 4 * len(runs[-1][0])):
            (k1, c1), (k2, c2) = runs[-2], runs[-1]
            merged = self._combine(np.concatenate([k1, k2]), np.concatenate([c1, c2]).astype(np.int64),
                                   drop_zero=True)
            runs[-2:] = [merged] if len(merged[0]) else []

    def merge(self) -> None:
        """Everything in one run (before saving)."""
        self.flush(everything=True)

    @property
    def keys(self) -> U32:
        self.merge()
        return self.runs[0][0] if self.runs else np.empty(0, np.uint32)

    @property
    def counts(self) -> npt.NDArray[np.int32]:
        self.merge()
        return self.runs[0][1] if self.runs else np.empty(0, np.int32)

    def set(self, keys: U32, counts: npt.NDArray[np.int32]) -> None:
        """Start from saved (sorted, unique) keys and counts."""
        self.runs = [(keys.astype(np.uint32), counts.astype(np.int32))] if len(keys) else []
        self._delta.clear()

    def nbytes(self) -> int:
        return sum(k.nbytes + c.nbytes for k, c in self.runs)

    def get(self, hashes: list[int]) -> list[int]:
        if not hashes:
            return []
        q = np.asarray(hashes, dtype=np.uint32)
        total = np.zeros(len(q), np.int64)
        for keys, counts in self.runs:  # never empty
            pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
            found = keys[pos] == q
            total[found] += counts[pos[found]]
        return [int(b) + self._delta.get(h, 0) for b, h in zip(total.tolist(), hashes, strict=True)]


class _Work(msgspec.Struct, array_like=True):
    first: int  # item of the whole-document signature; its windows follow
    count: int  # signatures: 1 + windows


class CompactTables:
    """Everything the in-memory text index holds, in arrays; works are named by their ids."""

    def __init__(self, num_perm: int, window_threshold: float, doc_threshold: float) -> None:
        self.num_perm = num_perm
        self.windows = BandTable(*band_params(window_threshold, num_perm))
        self.docs = BandTable(*band_params(doc_threshold, num_perm))
        self.works: dict[str, _Work] = {}
        self.item_work = array("I")  # item -> index into self.names
        self.names: list[str] = []
        self.alive = bytearray()
        self._sig_chunks: list[npt.NDArray[np.uint16]] = []
        self.sampled: dict[str, U32] = {}
        self.df = Counts()
        self._dead = 0

    def __len__(self) -> int:
        return len(self.works)

    def __contains__(self, work_id: object) -> bool:
        return work_id in self.works

    def nbytes(self) -> int:
        """Bytes held in the arrays (the sorted runs, signatures, items, sampled shingles and counts)."""
        total = sum(k.nbytes + i.nbytes for t in (self.windows, self.docs) for runs in t.runs for k, i in runs)
        total += len(self.alive) * (self.num_perm * 2 + 5)  # 16-bit signatures, item -> work, alive
        total += sum(a.nbytes for a in self.sampled.values()) + self.df.nbytes()
        return int(total)

    def _store_sigs(self, first: int, sig16: npt.NDArray[np.uint16]) -> None:
        for row, values in enumerate(sig16, start=first):
            chunk, offset = divmod(row, _CHUNK)
            while chunk >= len(self._sig_chunks):
                self._sig_chunks.append(np.zeros((_CHUNK, self.num_perm), np.uint16))
            self._sig_chunks[chunk][offset] = values

    def signatures(self, work_id: str) -> npt.NDArray[np.uint16] | None:
        """The work's 16-bit signatures, the whole document first, then its windows."""
        w = self.works.get(work_id)
        if w is None:
            return None
        rows = [self._sig_chunks[r >> 16][r & (_CHUNK - 1)] for r in range(w.first, w.first + w.count)]
        return np.stack(rows)

    def add(self, work_id: str, hashvalues: npt.NDArray[np.uint64], sampled: U32) -> None:
        """`hashvalues`: (1 + windows, num_perm), the whole document first."""
        if work_id in self.works:
            return
        first, n = len(self.alive), len(hashvalues)
        index = len(self.names)
        self.names.append(work_id)
        self.item_work.extend([index] * n)
        self.alive.extend(b"\x01" * n)
        self._store_sigs(first, (hashvalues & np.uint64(0xFFFF)).astype(np.uint16))
        items = np.arange(first, first + n, dtype=np.uint32)
        self.docs.add(items[:1], self.docs.band_keys(hashvalues[:1]))
        if n > 1:
            self.windows.add(items[1:], self.windows.band_keys(hashvalues[1:]))
        self.works[work_id] = _Work(first, n)
        self.sampled[work_id] = sampled
        self.df.change(sampled, +1)

    def remove(self, work_id: str) -> tuple[int, U32] | None:
        w = self.works.pop(work_id, None)
        if w is None:
            return None
        for item in range(w.first, w.first + w.count):
            self.alive[item] = 0
        self._dead += w.count
        sampled = self.sampled.pop(work_id)
        self.df.change(sampled, -1)
        if self._dead > max(10_000, len(self.alive) // 4):  # drop the dead entries from the band tables
            self.windows.flush(self.alive)
            self.docs.flush(self.alive)
            self._dead = 0
        return w.count, sampled

    def _live(self, items: set[int]) -> list[int]:
        return [i for i in items if self.alive[i]]

    def query_docs(self, hashvalues: npt.NDArray[np.uint64]) -> list[str]:
        keys = self.docs.band_keys(hashvalues[None, :])[0]
        return [self.names[self.item_work[i]] for i in self._live(self.docs.query(keys))]

    def window_candidates(self, hashvalues: npt.NDArray[np.uint64],
                          max_works: int) -> list[tuple[str, list[tuple[int, int]]]]:
        """The works whose windows collide with the (m, num_perm) query windows, each with its (query row,
        work window) pairs; only the `max_works` works with the most colliding pairs. A copied passage
        collides window after window; a chance collision once: at a million works, chance collisions are
        thousands a query, and fetching and comparing their signatures would dominate its cost."""
        rows, items = self.windows.query_pairs(self.windows.band_keys(hashvalues))
        if not len(items):
            return []
        pairs = np.unique((rows << np.int64(32)) | items.astype(np.int64))
        rows, items = pairs >> np.int64(32), (pairs & np.int64(0xFFFFFFFF)).astype(np.int64)
        alive = np.frombuffer(self.alive, dtype=np.uint8)
        live = alive[items] == 1
        del alive  # release the view: `alive` grows in place when works are added
        rows, items = rows[live], items[live]
        item_work = np.frombuffer(self.item_work, dtype=np.uint32)
        works = item_work[items].astype(np.int64)
        del item_work
        if not len(works):
            return []
        ids, counts = np.unique(works, return_counts=True)
        keep = ids[np.argsort(-counts, kind="stable")[:max_works]]
        out: list[tuple[str, list[tuple[int, int]]]] = []
        for index in keep.tolist():
            name = self.names[index]
            first = self.works[name].first
            mine = works == index
            out.append((name, [(int(r), int(i) - first - 1) for r, i in zip(rows[mine], items[mine], strict=True)]))
        return out

    def clear(self) -> None:
        self.works, self.names, self.sampled = {}, [], {}
        self.item_work, self.alive, self._sig_chunks = array("I"), bytearray(), []
        self.windows = BandTable(self.windows.b, self.windows.r)
        self.docs = BandTable(self.docs.b, self.docs.r)
        self.df, self._dead = Counts(), 0

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Every array as it is (after a merge), in one uncompressed `.npz` written whole, then renamed."""
        self.windows.flush(self.alive)
        self.docs.flush(self.alive)
        self.df.merge()
        ids = list(self.works)
        rows = len(self.alive)
        sigs = (np.concatenate(self._sig_chunks)[:rows] if self._sig_chunks
                else np.zeros((0, self.num_perm), np.uint16))
        flat = np.concatenate([self.sampled[w] for w in ids]) if ids else np.zeros(0, np.uint32)
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "names": np.array(self.names, dtype=str), "item_work": np.frombuffer(self.item_work, dtype=np.uint32),
            "alive": np.frombuffer(bytes(self.alive), dtype=np.uint8), "sigs": sigs,
            "work_ids": np.array(ids, dtype=str),
            "work_first": np.array([self.works[w].first for w in ids], dtype=np.int64),
            "work_count": np.array([self.works[w].count for w in ids], dtype=np.int64),
            "sampled_lengths": np.array([len(self.sampled[w]) for w in ids], dtype=np.int64), "sampled": flat,
            "df_keys": self.df.keys, "df_counts": self.df.counts,
            **{f"w_{k}": v for k, v in self.windows.arrays().items()},
            **{f"d_{k}": v for k, v in self.docs.arrays().items()},
        }
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        self.names = [str(n) for n in data["names"]]
        self.item_work = array("I", data["item_work"].astype(np.uint32).tobytes())
        self.alive = bytearray(data["alive"].astype(np.uint8).tobytes())
        sigs = data["sigs"].astype(np.uint16)
        self._sig_chunks = []
        if len(sigs):
            self._store_sigs(0, sigs)
        offsets = np.concatenate([[0], np.cumsum(data["sampled_lengths"])])
        self.works, self.sampled = {}, {}
        for i, (w, first, count) in enumerate(zip(data["work_ids"], data["work_first"], data["work_count"],
                                                  strict=True)):
            self.works[str(w)] = _Work(int(first), int(count))
            self.sampled[str(w)] = data["sampled"][offsets[i]:offsets[i + 1]].astype(np.uint32)
        self.df = Counts()
        self.df.set(data["df_keys"], data["df_counts"])
        self.windows.load({k[2:]: v for k, v in data.items() if k.startswith("w_")})
        self.docs.load({k[2:]: v for k, v in data.items() if k.startswith("d_")})
        self._dead = 0

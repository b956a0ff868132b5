"""faiss indexes for image fingerprints; each returns (integer id, distance or score), nothing else.

- `HashIndex`: packed 256-bit PDQ hashes in a flat binary index, searched by Hamming range.
- `VectorIndex`: unit embeddings searched by inner product (cosine). Exact (flat) while small; from
  `coarse_after` vectors a PCA projection to `coarse_dim` (trained on the vectors held) names candidates
  that are then scored exactly against the flat vectors, so a search reads a fifth of the memory and its
  scores stay exact; past `approximate_after` vectors it is rebuilt as an approximate index: for
  embeddings (`approximate="hnsw"`) PCA to `pca_dim`, 8-bit scalar quantization and an HNSW graph, which
  keeps a million 1280-d vectors in well under a gigabyte; for local descriptors (`approximate="ivf"`), an
  inverted file over 8-bit codes in the full dimension, which keeps the inner products of many queries
  close to exact (a PCA projection shrinks them below any fixed similarity threshold) at a few
  milliseconds for hundreds of queries.
Positions in the faiss index map to caller ids through an array; removal marks a position dead and
searches skip it, so approximate indexes (which cannot delete) and exact ones behave the same.
Persistence uses faiss's own writers plus a NumPy array file for the id map (no pickle).
"""

from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


class _IdMap:
    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)

    def append(self, ids: I64) -> None:
        self.ids = np.concatenate([self.ids, ids.astype(np.int64)])
        self.alive = np.concatenate([self.alive, np.ones(len(ids), dtype=bool)])

    def kill(self, ids: I64) -> None:
        self.alive &= ~np.isin(self.ids, ids)

    @property
    def live(self) -> int:
        return int(self.alive.sum())

    def save(self, path: Path) -> None:
        with path.open("wb") as f:
            np.savez(f, ids=self.ids, alive=self.alive)

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.ids, self.alive = z["ids"], z["alive"]


def _sample(vectors: npt.NDArray[np.float32], limit: int) -> npt.NDArray[np.float32]:
    """Up to `limit` of the vectors, the same ones for the same input: what an index is trained on."""
    return vectors[np.random.default_rng(0).permutation(len(vectors))[:limit]]


class HashIndex:
    """PDQ hashes (32 packed bytes each); `search` returns hits within `radius` Hamming bits."""

    def __init__(self, bits: int = 256) -> None:
        self.bits = bits
        self.index: faiss.IndexBinary = faiss.IndexBinaryFlat(bits)
        self.map = _IdMap()

    def add(self, ids: I64, hashes: npt.NDArray[np.uint8]) -> None:
        self.index.add(np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, self.bits // 8))
        self.map.append(ids)

    def remove(self, ids: I64) -> None:
        self.map.kill(ids)

    def search(self, queries: npt.NDArray[np.uint8], radius: int) -> list[tuple[int, int]]:
        """(id, smallest distance over the queries) for every live hash within `radius` of any query."""
        if self.index.ntotal == 0:
            return []
        _lims, dist, pos = self.index.range_search(np.ascontiguousarray(queries, dtype=np.uint8), radius + 1)
        best: dict[int, int] = {}
        for p, d in zip(pos.tolist(), dist.tolist(), strict=True):
            if self.map.alive[p]:
                i = int(self.map.ids[p])
                best[i] = min(best.get(i, 1 << 30), int(d))
        return sorted(best.items(), key=lambda t: t[1])

    def get(self, ids: list[int]) -> dict[int, bytes]:
        """The stored hash of each live id."""
        positions = np.flatnonzero(self.map.alive & np.isin(self.map.ids, np.asarray(ids, dtype=np.int64))).tolist()
        return {int(self.map.ids[p]): bytes(self.index.reconstruct(p).tolist()) for p in positions}

    def search_each(self, queries: npt.NDArray[np.uint8], radius: int) -> list[list[tuple[int, int]]]:
        """For each query apart: (id, distance) of every live hash within `radius`, nearest first."""
        if self.index.ntotal == 0 or not len(queries):
            return [[] for _ in range(len(queries))]
        lims, dist, pos = self.index.range_search(np.ascontiguousarray(queries, dtype=np.uint8), radius + 1)
        ids, alive = self.map.ids, self.map.alive
        out: list[list[tuple[int, int]]] = []
        for q in range(len(queries)):
            lo, hi = int(lims[q]), int(lims[q + 1])
            hits = sorted((int(d), int(ids[p])) for p, d in zip(pos[lo:hi], dist[lo:hi], strict=True) if alive[p])
            out.append([(i, d) for d, i in hits])
        return out

    def __len__(self) -> int:
        return self.map.live

    def save(self, stem: Path) -> None:
        faiss.write_index_binary(self.index, str(stem.with_suffix(".faissb")))
        self.map.save(stem.with_suffix(".ids.npz"))

    def load(self, stem: Path) -> None:
        self.index = faiss.read_index_binary(str(stem.with_suffix(".faissb")))
        self.map.load(stem.with_suffix(".ids.npz"))


class VectorIndex:
    """Inner-product search over unit vectors: flat while small, PCA + SQ8 + HNSW when large."""

    def __init__(self, dim: int, approximate_after: int = 200_000, pca_dim: int = 256, hnsw_m: int = 32,
                 ef_search: int = 128, coarse_after: int = 8192, coarse_dim: int = 256,
                 coarse_factor: int = 4, approximate: str = "hnsw", nprobe: int = 4) -> None:
        if approximate not in ("hnsw", "ivf"):
            raise ValueError(f"approximate must be hnsw or ivf, not {approximate!r}")
        self.dim = dim
        self.kind = approximate
        self.nprobe = nprobe
        self.approximate_after = approximate_after
        self.pca_dim = min(pca_dim, dim)
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.coarse_after = coarse_after if coarse_dim < dim else 1 << 62
        self.coarse_dim = coarse_dim
        self.coarse_factor = coarse_factor  # candidates fetched from the projection per result wanted
        self.index: faiss.Index = faiss.IndexFlatIP(dim)
        self.coarse: faiss.Index | None = None
        self.map = _IdMap()

    @property
    def approximate(self) -> bool:
        return not isinstance(self.index, faiss.IndexFlatIP)

    def add(self, ids: I64, vectors: npt.NDArray[np.float32]) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if not self.approximate and self.index.ntotal + len(vectors) > self.approximate_after:
            self._to_approximate(vectors, ids)
            return
        self.index.add(vectors)
        self.map.append(ids)
        if self.coarse is not None:
            self.coarse.add(vectors)
        elif not self.approximate and self.index.ntotal >= self.coarse_after:
            self._build_coarse()

    def _build_coarse(self) -> None:
        """A PCA projection of every vector held (dead ones too, to keep positions aligned with the flat
        index), trained on up to 50,000 of them."""
        held = self.index.reconstruct_n(0, self.index.ntotal)
        coarse = faiss.index_factory(self.dim, f"PCA{self.coarse_dim},Flat", faiss.METRIC_INNER_PRODUCT)
        coarse.train(_sample(held, 50_000))
        coarse.add(held)
        self.coarse = coarse

    def _to_approximate(self, extra: npt.NDArray[np.float32], extra_ids: I64) -> None:
        """Rebuild as PCA + HNSW over SQ8 codes, trained on the vectors held so far plus `extra`."""
        held = self.index.reconstruct_n(0, self.index.ntotal) if self.index.ntotal else np.zeros((0, self.dim))
        keep = self.map.alive
        vectors = np.concatenate([held[keep], extra]).astype(np.float32)
        ids = np.concatenate([self.map.ids[keep], extra_ids])
        if self.kind == "ivf":
            nlist = int(min(65536, max(256, 2 ** round(np.log2(2 * np.sqrt(len(vectors)))))))
            factory = f"IVF{nlist},SQ8"
        else:
            factory = f"PCA{self.pca_dim},HNSW{self.hnsw_m}_SQ8"
        index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        index.train(_sample(vectors, 100_000))
        index.add(vectors)
        self.index = index
        self.coarse = None
        self._tune()
        self.map = _IdMap()
        self.map.append(ids)

    def _tune(self) -> None:
        if self.approximate:
            if isinstance(self.index, faiss.IndexIVF):
                self.index.nprobe = self.nprobe
            else:
                faiss.ParameterSpace().set_index_parameter(self.index, "efSearch", self.ef_search)

    def remove(self, ids: I64) -> None:
        self.map.kill(ids)

    def search(self, queries: npt.NDArray[np.float32], k: int) -> list[list[tuple[int, float]]]:
        """Per query, up to `k` (id, score) pairs of live vectors, best first."""
        if self.index.ntotal == 0:
            return [[] for _ in range(len(queries))]
        dead = len(self.map.alive) - self.map.live
        fetch = min(self.index.ntotal, k + dead if dead < 1000 else k * 4)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.coarse is not None:
            scores, pos = self._rescored(queries, min(self.index.ntotal, fetch * self.coarse_factor), fetch)
        else:
            scores, pos = self.index.search(queries, fetch)
        out = []
        for row_s, row_p in zip(scores, pos, strict=True):
            hits = [(int(self.map.ids[p]), float(s)) for s, p in zip(row_s, row_p, strict=True)
                    if p >= 0 and self.map.alive[p]]
            out.append(hits[:k])
        return out

    def _rescored(self, queries: npt.NDArray[np.float32], candidates: int,
                  fetch: int) -> tuple[npt.NDArray[np.float32], I64]:
        """Candidates from the projection, scored exactly against the flat vectors, best `fetch` first."""
        assert self.coarse is not None
        _, pos = self.coarse.search(queries, candidates)
        scores = np.full(pos.shape, -np.inf, dtype=np.float32)
        for row, (q, p) in enumerate(zip(queries, pos, strict=True)):
            valid = p >= 0
            scores[row, valid] = self.index.reconstruct_batch(p[valid]) @ q
        order = np.argsort(-scores, axis=1)[:, :fetch]
        best_pos = np.take_along_axis(pos, order, axis=1)
        best_scores = np.take_along_axis(scores, order, axis=1)
        return best_scores, np.where(np.isfinite(best_scores), best_pos, -1)

    def __len__(self) -> int:
        return self.map.live

    def save(self, stem: Path) -> None:
        faiss.write_index(self.index, str(stem.with_suffix(".faiss")))
        self.map.save(stem.with_suffix(".ids.npz"))
        coarse = stem.with_suffix(".coarse.faiss")
        if self.coarse is not None:
            faiss.write_index(self.coarse, str(coarse))
        else:
            coarse.unlink(missing_ok=True)

    def load(self, stem: Path) -> None:
        self.index = faiss.read_index(str(stem.with_suffix(".faiss")))
        self.map.load(stem.with_suffix(".ids.npz"))
        self.coarse = None
        coarse = stem.with_suffix(".coarse.faiss")
        if coarse.exists():
            self.coarse = faiss.read_index(str(coarse))
            if self.coarse.ntotal != self.index.ntotal:
                raise ValueError(f"{coarse} holds {self.coarse.ntotal} vectors, the index {self.index.ntotal}")
        elif not self.approximate and self.index.ntotal >= self.coarse_after:
            self._build_coarse()
        self._tune()

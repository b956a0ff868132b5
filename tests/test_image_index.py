"""faiss indexes against brute-force references on seeded data."""

from pathlib import Path

import numpy as np

from matcher.image.index import HashIndex, VectorIndex


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.bitwise_xor(a[None, :], b), axis=1).sum(axis=1)


def test_hash_range_search_equals_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)
    # plant near-duplicates: flip a few bits of some hashes
    queries = base[:50].copy()
    for q in queries:
        for _ in range(int(rng.integers(0, 40))):
            bit = int(rng.integers(0, 256))
            q[bit // 8] ^= np.uint8(1 << (7 - bit % 8))
    index = HashIndex()
    ids = np.arange(100, 2100)
    index.add(ids, base)
    index.remove(np.array([105, 110]))
    for q in queries:
        got = dict(index.search(q[None, :], 31))
        d = hamming(q, base)
        want = {int(ids[i]): int(d[i]) for i in np.nonzero(d <= 31)[0] if ids[i] not in (105, 110)}
        assert got == want
    index.save(tmp_path / "h")
    again = HashIndex()
    again.load(tmp_path / "h")
    assert again.search(queries[:3], 31) == index.search(queries[:3], 31)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_flat_vector_search_equals_brute_force() -> None:
    rng = np.random.default_rng(2)
    data = _unit(rng.normal(size=(3000, 64)))
    index = VectorIndex(64, approximate_after=10**9)
    index.add(np.arange(3000), data)
    index.remove(np.array([0, 1, 2]))
    queries = _unit(data[:20] + 0.1 * rng.normal(size=(20, 64)))
    truth = queries @ data.T
    truth[:, :3] = -np.inf
    for row, hits in zip(truth, index.search(queries, 10), strict=True):
        assert [i for i, _ in hits] == list(np.argsort(-row)[:10])
        assert np.allclose([s for _, s in hits], np.sort(row)[::-1][:10], atol=1e-5)


def test_approximate_vector_index_recall_against_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    # like real embeddings, the data has a low intrinsic dimension (24) inside 128 dimensions
    data = _unit(rng.normal(size=(20000, 24)) @ rng.normal(size=(24, 128)) + 0.05 * rng.normal(size=(20000, 128)))
    index = VectorIndex(128, approximate_after=5000, pca_dim=64)
    for start in range(0, 20000, 4000):
        index.add(np.arange(start, start + 4000), data[start : start + 4000])
    assert index.approximate and len(index) == 20000
    queries = _unit(data[rng.integers(0, 20000, size=100)] + 0.02 * rng.normal(size=(100, 128)))
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    got = index.search(queries, 10)
    recall = np.mean([len(set(t.tolist()) & {i for i, _ in g}) / 10 for t, g in zip(truth, got, strict=True)])
    assert recall >= 0.9
    top1 = np.mean([g[0][0] == t[0] for t, g in zip(truth, got, strict=True)])
    assert top1 >= 0.95
    index.save(tmp_path / "v")
    again = VectorIndex(128, approximate_after=5000, pca_dim=64)
    again.load(tmp_path / "v")
    assert again.approximate and again.search(queries[:5], 10) == index.search(queries[:5], 10)

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


def test_projected_candidates_rescored_exactly_against_brute_force(tmp_path: Path) -> None:
    """From `coarse_after` vectors a PCA projection names candidates; their scores are the exact cosines."""
    rng = np.random.default_rng(4)
    data = _unit(rng.normal(size=(6000, 32)) @ rng.normal(size=(32, 512)) + 0.05 * rng.normal(size=(6000, 512)))
    index = VectorIndex(512, coarse_after=2000, coarse_dim=64)
    for start in range(0, 6000, 1500):  # crosses the threshold, then keeps adding to both
        index.add(np.arange(start, start + 1500), data[start : start + 1500])
    index.remove(np.array([7]))
    assert index.coarse is not None and not index.approximate
    queries = _unit(data[:100] + 0.03 * rng.normal(size=(100, 512)))
    truth = queries @ data.T
    truth[:, 7] = -np.inf
    got = index.search(queries, 8)
    recall = np.mean([len(set(np.argsort(-t)[:8].tolist()) & {i for i, _ in g}) / 8
                      for t, g in zip(truth, got, strict=True)])
    assert recall >= 0.95
    for t, g in zip(truth, got, strict=True):
        assert np.allclose([s for _, s in g], t[[i for i, _ in g]], atol=1e-5)  # exact scores
        assert 7 not in {i for i, _ in g}
    index.save(tmp_path / "c")
    again = VectorIndex(512, coarse_after=2000, coarse_dim=64)
    again.load(tmp_path / "c")
    assert again.coarse is not None and again.search(queries[:5], 8) == got[:5]


def test_inverted_file_index_keeps_inner_products_close_to_exact(tmp_path: Path) -> None:
    """The local-descriptor index past `approximate_after`: neighbours and their similarities near the exact
    ones, so a fixed similarity threshold (the local-feature votes) means the same as on the flat index."""
    rng = np.random.default_rng(5)
    centres = _unit(rng.random((400, 128)) ** 3)  # non-negative, peaked, like RootSIFT
    data = _unit(centres[rng.integers(0, 400, 30000)] + 0.15 * rng.random((30000, 128)) ** 3)
    index = VectorIndex(128, approximate_after=10000, approximate="ivf")
    for start in range(0, 30000, 6000):
        index.add(np.arange(start, start + 6000), data[start : start + 6000])
    assert index.approximate
    queries = _unit(data[rng.integers(0, 30000, 200)] + 0.02 * rng.random((200, 128)))
    exact = queries @ data.T
    got = index.search(queries, 2)
    top1 = np.mean([g[0][0] == int(np.argmax(e)) for e, g in zip(exact, got, strict=True)])
    assert top1 >= 0.9
    errors = [abs(s - e[i]) for e, g in zip(exact, got, strict=True) for i, s in g]
    assert max(errors) < 0.01
    index.save(tmp_path / "ivf")
    again = VectorIndex(128, approximate_after=10000, approximate="ivf")
    again.load(tmp_path / "ivf")
    assert again.search(queries[:5], 2) == got[:5]

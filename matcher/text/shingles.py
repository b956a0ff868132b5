"""Word k-shingles hashed to 32 bits, vectorized: shingle i covers words i .. i+k-1."""

import numpy as np
import numpy.typing as npt

_MULT = np.uint64(0x9E3779B97F4A7C15)


def shingle_hashes(word_ids: npt.NDArray[np.uint32], k: int) -> npt.NDArray[np.uint32]:
    """One 32-bit hash per k-word shingle; a text shorter than k words gives one shingle of all its words."""
    n = len(word_ids)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    k = min(k, n)
    words = word_ids.astype(np.uint64)
    h = np.zeros(n - k + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = (h * _MULT) ^ words[j : n - k + 1 + j]
            h ^= h >> np.uint64(29)
        h *= _MULT
    folded: npt.NDArray[np.uint32] = ((h >> np.uint64(32)) ^ (h & np.uint64(0xFFFFFFFF))).astype(np.uint32)
    return folded

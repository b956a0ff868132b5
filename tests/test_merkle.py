"""The Merkle tree of the audit log against RFC 9162: proofs built by one side verify on the other for
every pair of sizes, a brute-force recursive definition gives the same roots, and any change is caught."""

import hashlib
from collections.abc import Sequence

from registry.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(70)]


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH exactly as RFC 9162 writes it: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_roots_match_the_recursive_definition() -> None:
    assert root([]) == EMPTY_ROOT
    for n in range(1, 70):
        assert root(LEAVES[:n]) == reference_root(LEAVES[:n]), n


def test_rfc_6962_test_vector_roots() -> None:
    """The roots of the first leaves of the CT reference tests (transparency-dev/merkle, rfc6962 hasher)."""
    data = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]
    leaves = [leaf_hash(d) for d in data]
    assert root(leaves[:1]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert root(leaves[:2]).hex() == "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
    assert root(leaves).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not() -> None:
    for n in range(1, 40):
        r = root(LEAVES[:n])
        for i in range(n):
            proof = inclusion_proof(i, LEAVES[:n])
            assert verify_inclusion(LEAVES[i], i, n, proof, r), (i, n)
            assert not verify_inclusion(leaf_hash(b"not in the log"), i, n, proof, r)
            if proof:
                bad = [proof[0][::-1], *proof[1:]]
                assert not verify_inclusion(LEAVES[i], i, n, bad, r)


def test_every_consistency_proof_verifies() -> None:
    for n in range(1, 45):
        second = root(LEAVES[:n])
        for m in range(1, n + 1):
            proof = consistency_proof(m, LEAVES[:n])
            assert verify_consistency(m, n, root(LEAVES[:m]), second, proof), (m, n)


def test_a_rewritten_deleted_or_reordered_log_fails_consistency() -> None:
    old_size = 30
    old_root = root(LEAVES[:old_size])
    rewritten = list(LEAVES[:50])
    rewritten[12] = leaf_hash(b"a rewritten entry")
    reordered = list(LEAVES[:50])
    reordered[3], reordered[4] = reordered[4], reordered[3]
    for tampered in (rewritten, reordered):
        proof = consistency_proof(old_size, tampered)
        assert not verify_consistency(old_size, len(tampered), old_root, root(tampered), proof)
    shrunk = LEAVES[:25]  # entries deleted: the log is smaller than the head an auditor holds
    assert not verify_consistency(old_size, len(shrunk), old_root, root(shrunk), [])

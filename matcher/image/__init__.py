"""Image matching: PDQ and imagehash hashes, learned embeddings, SIFT verification, fused confidence."""

"""Text matching: MinHash windows for retrieval, exact verification against the original."""

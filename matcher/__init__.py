"""The matcher: fingerprints, indexes, verification and fusion for images and texts."""

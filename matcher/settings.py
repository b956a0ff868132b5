"""The matchers' settings: index files, decision thresholds, the image embedder, a shared text index."""

from pathlib import Path

import msgspec


class MatcherSettings(msgspec.Struct, frozen=True, kw_only=True):
    index_dir: Path | None = None  # None: data_dir/indexes; give each replica its own
    text_threshold: float | None = None  # None: the calibrated default shipped with the matcher
    image_threshold: float | None = None
    image_embedder: str = "efficientnet_lite0"  # or "none", or "open_clip:MODEL[:PRETRAINED-OR-FILE]"
    text_index_redis: str | None = None  # None: text index in files; or redis://host:port/db, shared by replicas

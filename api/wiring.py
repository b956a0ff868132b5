"""Open a `Registry` from settings: the store, the blob store and the matchers, each opened once."""

from pathlib import Path

from matcher.base import Matcher
from matcher.image.embed import Embedder, open_embedder
from matcher.image.matcher import ImageMatcher
from matcher.text.matcher import TextMatcher
from registry.blobs import BlobStore
from registry.service import Registry
from registry.settings import Settings
from registry.sqlite_store import SQLiteStore
from registry.store import Store


class _Originals:
    """Reads a work's original through the store and blob store (the matcher's `OriginalSource`)."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store, self.blobs = store, blobs

    def original(self, work_id: str) -> bytes:
        return self.blobs.get(self.store.get_work(work_id).sha256)


def open_store(settings: Settings) -> Store:
    url = settings.database
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from registry.postgres_store import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url!r}; use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


def open_matchers(
    settings: Settings, store: Store, blobs: BlobStore, embedder: Embedder | None = None
) -> list[Matcher]:
    """The text and image matchers over index files in the data directory; `embedder` overrides the
    configured one (tests share one loaded model)."""
    originals = _Originals(store, blobs)
    index_root = settings.indexes
    image_embedder = embedder if embedder is not None else open_embedder(settings.image_embedder)
    return [
        TextMatcher(originals, index_dir=index_root / "text", threshold=settings.text_threshold,
                    redis_url=settings.text_index_redis),
        ImageMatcher(originals, image_embedder, index_dir=index_root / "image", threshold=settings.image_threshold),
    ]


def open_registry(settings: Settings, *, sync: bool = True, embedder: Embedder | None = None) -> Registry:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    blobs = BlobStore(settings.data_dir / "blobs")
    registry = Registry(settings, store, blobs, open_matchers(settings, store, blobs, embedder))
    if sync:
        registry.sync_indexes()
    return registry

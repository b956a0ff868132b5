"""Open a `Registry` from settings: the store, the blob store and (on first use) the matchers.

The composition root: the only module that names concrete stores and matchers. A command opens only what
it needs: the store always, the matchers (and with them the embedding model) only when a use case matches.
"""

from pathlib import Path
from typing import Any

from matcher.base import Matcher
from registry.blobs import BlobStore
from registry.sqlite_store import SQLiteStore
from registry.store import Store
from service.modalities import MODALITIES
from service.registry import Registry
from service.settings import ServiceSettings


class _Originals:
    """Reads a work's original through the store and blob store (the matcher's `OriginalSource`)."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store, self.blobs = store, blobs

    def original(self, work_id: str) -> bytes:
        return self.blobs.get(self.store.get_work(work_id).sha256)


def open_store(settings: ServiceSettings) -> Store:
    url = settings.storage.database
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from registry.postgres_store import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url!r}; use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


def open_matchers(settings: ServiceSettings, store: Store, blobs: BlobStore, **resources: Any) -> list[Matcher]:
    """One matcher per registered kind of content, over index files in the data directory; `resources`
    are handed to the matchers' factories (tests share one loaded `embedder`)."""
    originals = _Originals(store, blobs)
    return [m.open_matcher(settings, originals, resources) for m in MODALITIES]


def open_registry(settings: ServiceSettings, *, sync: bool = True, **resources: Any) -> Registry:
    """The registry over `settings`; with `sync`, the matchers are opened and their indexes brought in line
    with the store at once (a server), else on first use (commands that only read the store)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    blobs = BlobStore(settings.data_dir / "blobs")
    registry = Registry(settings, store, blobs, lambda: open_matchers(settings, store, blobs, **resources),
                        decoders=[m.decoder for m in MODALITIES])
    if sync:
        registry.indexes.sync()
    return registry

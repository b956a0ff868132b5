"""Shared fixtures: fixture files, stores (every implementation runs the contract suite), the embedder."""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from matcher.image.embed import Embedder
from matcher.image.embed_onnx import OnnxEmbedder
from registry.postgres_store import PostgresStore
from registry.sqlite_store import SQLiteStore
from registry.store import Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DEV_DATA = Path(os.environ.get("PROVENANCE_DEV_DATA", ROOT.parent / "shared" / "data" / "dev"))

STORE_KINDS = ["sqlite", "postgres"]
TEST_DATABASE_URL = os.environ.get("PROVENANCE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_or_skip(schema: str) -> PostgresStore:
    """A store in a fresh schema of the test database; outside CI a missing server skips, in CI it fails."""
    try:
        return PostgresStore(TEST_DATABASE_URL, schema=schema)
    except ConnectionError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable ({exc}); set PROVENANCE_TEST_DATABASE_URL")


@pytest.fixture(params=STORE_KINDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens stores on one shared database (several "replicas"); all are closed and the database removed."""
    opened: list[Store] = []
    schema = f"test_{uuid.uuid4().hex[:12]}"

    def open_store() -> Store:
        s: Store = SQLiteStore(tmp_path / "registry.sqlite3") if request.param == "sqlite" else postgres_or_skip(schema)
        opened.append(s)
        return s

    yield open_store
    for s in opened[1:]:
        s.close()
    if opened and isinstance(opened[0], PostgresStore):
        opened[0].drop_schema()
    if opened:
        opened[0].close()


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    return store_factory()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return OnnxEmbedder()


@pytest.fixture
def fixture_images() -> list[Path]:
    return sorted((FIXTURES / "images").glob("*.jpg"))


@pytest.fixture
def fixture_texts() -> list[Path]:
    return sorted((FIXTURES / "texts").glob("*.txt"))

"""Shared fixtures: fixture files, stores (every implementation runs the contract suite), the embedder."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from matcher.image.embed import EfficientNetLite0Embedder, Embedder
from registry.sqlite_store import SQLiteStore
from registry.store import Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DEV_DATA = Path(os.environ.get("PROVENANCE_DEV_DATA", ROOT.parent / "shared" / "data" / "dev"))

STORE_KINDS = ["sqlite"]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = SQLiteStore(tmp_path / "registry.sqlite3")
    yield s
    s.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return EfficientNetLite0Embedder()


@pytest.fixture
def fixture_images() -> list[Path]:
    return sorted((FIXTURES / "images").glob("*.jpg"))


@pytest.fixture
def fixture_texts() -> list[Path]:
    return sorted((FIXTURES / "texts").glob("*.txt"))

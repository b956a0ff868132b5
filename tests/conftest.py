"""Shared fixtures: fixture files, stores (every implementation runs the contract suite), the embedder."""

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from matcher.image.embed import Embedder
from matcher.image.embed_onnx import OnnxEmbedder
from registry.models import Role
from registry.postgres_store import PostgresStore
from registry.sqlite_store import SQLiteStore
from registry.store import Store
from service.registry import Registry
from service.wiring import open_registry

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


@dataclass
class Env:
    client: TestClient  # type: ignore[type-arg]
    registry: Registry
    keys: dict[str, str]
    settings: Settings

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def enroll(self, who: str, data: bytes, name: str, metadata: dict[str, Any] | None = None) -> Any:
        form = {"metadata": json.dumps(metadata)} if metadata else None
        return self.client.post("/v1/works", files={"file": (name, data)}, data=form, headers=self.h(who))


@contextmanager
def open_env(tmp_path: Path, embedder: Embedder, **overrides: Any) -> Iterator[Env]:
    """A registry with one account of each role (keys in `Env.keys`) behind a test client; `overrides` are
    settings by leaf name."""
    settings = Settings.load(data_dir=tmp_path / "data", max_upload_bytes=2_000_000, **overrides)
    registry = open_registry(settings.service, embedder=embedder)
    keys = {}
    for name, role in [("root", Role.ADMIN), ("alice", Role.CREATOR), ("bob", Role.CREATOR),
                       ("op", Role.OPERATOR), ("op2", Role.OPERATOR), ("audit", Role.AUDITOR)]:
        keys[name] = registry.create_key(name, role)[1]
    try:
        with TestClient(create_app(settings, registry)) as client:
            yield Env(client, registry, keys, settings)
    finally:
        registry.close()


@pytest.fixture
def env(tmp_path: Path, embedder: Embedder) -> Iterator[Env]:
    with open_env(tmp_path, embedder) as e:
        yield e

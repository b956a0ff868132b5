"""Two `provenance serve` replicas over one PostgreSQL: enrollments and withdrawals through one are seen
by the other within the change-feed interval; the audit chain stays whole."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry.postgres_store import PostgresStore
from tests.conftest import FIXTURES, TEST_DATABASE_URL, postgres_or_skip
from tests.servers import create_key, start_server, stop_server

FOLLOW = 0.5  # seconds between change-feed polls in this test


@pytest.fixture
def database() -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    store: PostgresStore = postgres_or_skip(schema)
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    yield f"{TEST_DATABASE_URL}{sep}options=-csearch_path%3D{schema}"
    store.drop_schema()
    store.close()


def wait_for(predicate: object, timeout: float = 20) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not seen within {timeout} s")


def test_two_replicas_share_one_registry(database: str, tmp_path: Path) -> None:
    common = {"PROVENANCE_DATABASE_URL": database, "PROVENANCE_DATA_DIR": str(tmp_path / "shared"),
              "PROVENANCE_FOLLOW_INTERVAL": str(FOLLOW), "PROVENANCE_IMAGE_EMBEDDER": "none"}
    a_proc, a = start_server({**common, "PROVENANCE_INDEX_DIR": str(tmp_path / "index-a")})
    try:
        b_proc, b = start_server({**common, "PROVENANCE_INDEX_DIR": str(tmp_path / "index-b")})
        try:
            creator = {"Authorization": f"Bearer {create_key('creator', 'alice', common)}"}
            operator = {"Authorization": f"Bearer {create_key('operator', 'op', common)}"}
            auditor = {"Authorization": f"Bearer {create_key('auditor', 'audit', common)}"}
            text = (FIXTURES / "texts" / "persuasion-ch003.txt").read_text()
            excerpt = " ".join(text.split()[500:700])
            with httpx.Client(timeout=60) as client:
                r = client.post(f"{a}/v1/works", files={"file": ("p.txt", text.encode())}, headers=creator)
                assert r.status_code == 201, r.text
                work_id = r.json()["id"]

                def b_matches() -> bool:
                    r = client.post(f"{b}/v1/checks", json={"text": excerpt}, headers=operator)
                    return [m["work_id"] for m in r.json()["matches"]] == [work_id]

                seen_after = wait_for(b_matches)
                print(f"enrolled via A, matched via B after {seen_after:.2f} s")  # shown with pytest -s
                assert seen_after < 10 * FOLLOW + 5
                assert client.delete(f"{a}/v1/works/{work_id}", headers=creator).status_code == 200
                print(f"withdrawn via A, ignored by B after {wait_for(lambda: not b_matches()):.2f} s")
                # both replicas write checks concurrently into one chain
                for _ in range(5):
                    client.post(f"{a}/v1/checks", json={"text": excerpt}, headers=operator)
                    client.post(f"{b}/v1/checks", json={"text": excerpt}, headers=operator)
                report = client.get(f"{b}/v1/audit/verify", headers=auditor).json()
                assert report["ok"] is True and report["entries"] >= 15
        finally:
            stop_server(b_proc)
    finally:
        stop_server(a_proc)

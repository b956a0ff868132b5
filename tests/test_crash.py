"""SIGKILL during a bulk enrollment: after a restart every acknowledged work is matched, no half-enrolled
work is visible, and the audit chain verifies."""

import random
import signal
import time
from pathlib import Path

import httpx

from registry.models import WorkStatus
from registry.sqlite_store import SQLiteStore
from tests.conftest import FIXTURES
from tests.servers import create_key, start_server, stop_server


def test_kill_during_bulk_enrollment_then_restart(tmp_path: Path) -> None:
    env = {"PROVENANCE_DATA_DIR": str(tmp_path / "data"), "PROVENANCE_IMAGE_EMBEDDER": "none",
           "PROVENANCE_JOB_STALE_SECONDS": "1"}
    creator = {"Authorization": f"Bearer {create_key('creator', 'alice', env)}"}
    operator = {"Authorization": f"Bearer {create_key('operator', 'op', env)}"}
    words = (FIXTURES / "unenrolled" / "emma-ch002.txt").read_text().split()
    rng = random.Random(0)
    texts = {f"t{i:03d}.txt": " ".join(rng.choice(words) for _ in range(400)) for i in range(150)}
    images = {p.name: p.read_bytes() for p in (FIXTURES / "images").glob("*.jpg")}
    files = [("files", (n, t.encode())) for n, t in texts.items()] + [("files", (n, b)) for n, b in images.items()]

    proc, base = start_server(env)
    acknowledged: dict[str, str] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            job = client.post("/v1/works/bulk", files=files, headers=creator).json()
            while True:
                polled = client.get(f"/v1/jobs/{job['id']}", headers=creator).json()
                acknowledged = {o["filename"]: o["work_id"] for o in polled["results"] if o["status"] == "enrolled"}
                if len(acknowledged) >= 20 or polled["status"] == "done":
                    break
                time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 20 <= len(acknowledged) < len(files), "the kill should land in the middle of the job"

    store = SQLiteStore(tmp_path / "data" / "registry.sqlite3")
    works = store.list_works(limit=1000)
    assert store.verify_audit().ok
    store.close()
    stored = {w.id for w in works}
    assert set(acknowledged.values()) <= stored  # nothing acknowledged was lost
    assert all(w.status == WorkStatus.ACTIVE for w in works)
    blobs = tmp_path / "data" / "blobs"
    assert all((blobs / w.sha256[:2] / w.sha256[2:4] / w.sha256).exists() for w in works)  # no half-enrolled work

    proc, base = start_server(env)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for name, work_id in acknowledged.items():
                data = texts[name].encode() if name in texts else images[name]
                r = client.post("/v1/checks", files={"file": (name, data)}, headers=operator)
                assert work_id in [m["work_id"] for m in r.json()["matches"]], name
            for work_id in stored - set(acknowledged.values()):  # enrolled after the last poll: matched too
                title = next(w.title for w in works if w.id == work_id)
                data = texts[title].encode() if title in texts else images[title]
                r = client.post("/v1/checks", files={"file": (title, data)}, headers=operator)
                assert work_id in [m["work_id"] for m in r.json()["matches"]], title
            # the job was staged in the store: the restarted server resumes it and enrolls every file once
            deadline = time.monotonic() + 120
            while (done := client.get(f"/v1/jobs/{job['id']}", headers=creator).json())["status"] != "done":
                assert time.monotonic() < deadline, done
                time.sleep(0.2)
            assert len(done["results"]) == len(files) and done["rejected"] == 0
            assert {o["filename"] for o in done["results"]} == {name for _, (name, _) in files}
            time.sleep(2.5)  # let the change feed settle
            health = client.get("/v1/health").json()
            assert sum(health["works_indexed"].values()) == len(files)
    finally:
        stop_server(proc)

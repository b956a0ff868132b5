"""`provenance serve` as a real process on a free port, spoken to over HTTP."""

from pathlib import Path

import httpx

from tests.conftest import FIXTURES
from tests.servers import create_key, start_server, stop_server


def test_real_server_enroll_and_check(tmp_path: Path) -> None:
    env = {"PROVENANCE_DATA_DIR": str(tmp_path / "data")}
    proc, base = start_server(env)
    try:
        creator = {"Authorization": f"Bearer {create_key('creator', 'alice', env)}"}
        operator = {"Authorization": f"Bearer {create_key('operator', 'op', env)}"}
        auditor = {"Authorization": f"Bearer {create_key('auditor', 'audit', env)}"}
        with httpx.Client(base_url=base, timeout=60) as client:
            image = (FIXTURES / "images" / "orc-ruler.jpg").read_bytes()
            r = client.post("/v1/works", files={"file": ("orc.jpg", image)}, headers=creator)
            assert r.status_code == 201, r.text
            r = client.post("/v1/checks", files={"file": ("out.jpg", image)}, headers=operator)
            assert r.status_code == 200 and r.json()["matches"][0]["title"] == "orc.jpg"
            assert r.json()["verdict"] == "license_required"
            assert client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True
            assert client.get("/schema/openapi.json").json()["info"]["title"] == "Provenance"
    finally:
        stop_server(proc)

"""`provenance serve` as a real process on a free port, spoken to over HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES

EXE = str(Path(sys.executable).parent / "provenance")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "PROVENANCE_DATA_DIR": str(data)}
    proc = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        else:
            pytest.fail("server did not become healthy within 120 s")
        yield base, data
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def key(data: Path, role: str, name: str) -> str:
    out = subprocess.run([EXE, "keys", "create", "--role", role, "--name", name, "--data-dir", str(data)],
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip()


def test_real_server_enroll_and_check(server: tuple[str, Path]) -> None:
    base, data = server
    creator = {"Authorization": f"Bearer {key(data, 'creator', 'alice')}"}
    operator = {"Authorization": f"Bearer {key(data, 'operator', 'op')}"}
    auditor = {"Authorization": f"Bearer {key(data, 'auditor', 'audit')}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        image = (FIXTURES / "images" / "orc-ruler.jpg").read_bytes()
        r = client.post("/v1/works", files={"file": ("orc.jpg", image)}, headers=creator)
        assert r.status_code == 201, r.text
        r = client.post("/v1/checks", files={"file": ("out.jpg", image)}, headers=operator)
        assert r.status_code == 200 and r.json()["matches"][0]["title"] == "orc.jpg"
        assert r.json()["verdict"] == "license_required"
        assert client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True
        assert client.get("/schema/openapi.json").json()["info"]["title"] == "Provenance"

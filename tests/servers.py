"""Start real `provenance serve` processes for tests, and create keys with the real command line."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

EXE = str(Path(sys.executable).parent / "provenance")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(env: dict[str, str], timeout: float = 120) -> tuple[subprocess.Popen[str], str]:
    """`provenance serve` on a free port with `env` added to the environment; returns once healthy."""
    port = free_port()
    # the log goes to a file: a pipe nobody reads fills up and blocks the server after a few thousand requests
    fd, log_name = tempfile.mkstemp(prefix=f"provenance-serve-{port}-", suffix=".log")
    with os.fdopen(fd, "w") as log:
        proc = subprocess.Popen([EXE, "serve", "--port", str(port)], env={**os.environ, **env},
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {Path(log_name).read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not become healthy within {timeout} s")


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def create_key(role: str, name: str, env: dict[str, str]) -> str:
    out = subprocess.run([EXE, "keys", "create", "--role", role, "--name", name], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip()

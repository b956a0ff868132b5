"""The README's API session, run from its text as a new user would: against a real `provenance serve` with a
data directory and a port that are not the defaults, every step must succeed (the session stops at the
first refusal), and the CLI's own help and errors must read well."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.servers import EXE, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent


def readme_session() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("A session a new user can follow")
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block is not None, "the README lost its session block"
    return block.group(1)


def test_the_readme_session_runs_with_another_data_dir_and_port(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    env = {"PROVENANCE_DATA_DIR": str(data), "PROVENANCE_RATE_LIMIT_PER_MINUTE": "0"}
    proc, base = start_server(env)
    try:
        port = base.rsplit(":", 1)[1]
        assert port != "8000"
        script = readme_session().replace(". .venv/bin/activate", f'PATH="{Path(sys.executable).parent}:$PATH"')
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, env={**clean, "DATA_DIR": str(data), "PORT": port})
    finally:
        stop_server(proc)
    assert done.returncode == 0, f"the session stopped:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    assert f"in the registry in {data.resolve()}" in done.stderr  # keys create says where it wrote
    assert '"verdict": "attribution_required"' in done.stdout
    assert '"ok": true' in done.stdout  # the audit chain verified
    assert '"status": "done"' in done.stdout and '"enrolled": 2' in done.stdout  # the bulk job, by its captured id
    assert not (ROOT / "data" / "elsewhere").exists()


def test_a_key_from_another_registry_is_refused_with_a_hint(tmp_path: Path) -> None:
    env = {"PROVENANCE_DATA_DIR": str(tmp_path / "served")}
    proc, base = start_server(env)
    try:
        other = subprocess.run([EXE, "keys", "create", "--role", "admin", "--name", "root", "--data-dir",
                                str(tmp_path / "other")], capture_output=True, text=True, check=True)
        import httpx

        r = httpx.get(f"{base}/v1/works", headers={"Authorization": f"Bearer {other.stdout.strip()}"})
    finally:
        stop_server(proc)
    assert r.status_code == 401
    assert "PROVENANCE_DATA_DIR" in r.json()["error"]["message"]


def test_cli_help_version_and_typos(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args, *(["--data-dir", str(tmp_path)] if args[0] in ("enroll", "check")
                                              or args[:2] in (("keys", "create"), ("accounts", "create"))
                                              else [])],
                              capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})

    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("provenance ")
    help_text = run("enroll", "--help").stdout
    assert "<" not in help_text and "list[" not in help_text and "--owner OWNER" in help_text
    assert all(len(line) <= 80 for line in help_text.splitlines())
    assert run("keys", "create", "--role", "creator", "--name", "alice").returncode == 0
    typo = run("enroll", str(ROOT / "fixtures" / "images" / "chelsea.jpg"), "--owner", "alcie")
    assert typo.returncode == 2 and "did you mean 'alice'" in typo.stderr and "Traceback" not in typo.stderr
    listed = subprocess.run([EXE, "accounts", "list", "--json", "--data-dir", str(tmp_path)], capture_output=True,
                            text=True, check=True).stdout
    assert "alcie" not in listed and "alice" in listed
    wrong = run("check", str(ROOT / "fixtures" / "images" / "chelsea.jpg"), "--operator", "nobody")
    assert wrong.returncode == 1 and "no operator account named 'nobody'" in wrong.stderr

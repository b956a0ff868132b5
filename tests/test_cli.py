"""The command line end to end: enroll a folder of fixtures, check files, see the matches and terms."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import FIXTURES

runner = CliRunner()

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A registry with the creator account alice (an account is created explicitly, never by a typo)."""
    data = tmp_path / "data"
    code, _, err = run("accounts", "create", "--role", "creator", "--name", "alice", "--data-dir", str(data))
    assert code == 0, err
    return data


def test_enroll_folder_then_check(data_dir: Path, tmp_path: Path) -> None:
    code, out, _ = run("enroll", str(FIXTURES / "images"), str(FIXTURES / "texts"), "--owner", "alice",
                       "--data-dir", str(data_dir), "--license", "CC-BY-4.0", "--opt-out", "release=notAllowed")
    assert code == 0, out
    assert "7 enrolled, 0 skipped, 0 rejected" in out
    code, out, _ = run("enroll", str(FIXTURES / "images"), "--owner", "alice", "--data-dir", str(data_dir))
    assert code == 0 and "0 enrolled, 4 skipped, 0 rejected" in out

    code, out, _ = run("check", str(FIXTURES / "images" / "chelsea.jpg"), "--data-dir", str(data_dir), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["verdict"] == "blocked"
    assert [m["title"] for m in result["matches"]] == ["chelsea.jpg"]
    assert result["matches"][0]["license"]["id"] == "CC-BY-4.0"

    # an excerpt copied out of a chapter, inside new text
    chapter = (FIXTURES / "texts" / "persuasion-ch003.txt").read_text().split()
    excerpt = " ".join(chapter[400:560])
    output = tmp_path / "generated.txt"
    output.write_text("The model wrote this opening of its own. " * 10 + excerpt + " And then it went on alone.")
    code, out, _ = run("check", str(output), "--data-dir", str(data_dir), "--purpose", "release")
    assert code == 0
    assert "verdict: blocked" in out and "persuasion-ch003.txt" in out and "license=CC-BY-4.0" in out

    code, out, _ = run("check", str(FIXTURES / "unenrolled" / "emma-ch002.txt"), "--data-dir", str(data_dir),
                       "--json")
    assert code == 0 and json.loads(out)["verdict"] == "clear" and json.loads(out)["matches"] == []

    code, out, _ = run("checks", "list", "--data-dir", str(data_dir), "--json")
    assert code == 0 and len(json.loads(out)) == 3
    code, out, _ = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "audit chain OK" in out


def test_bad_inputs_are_rejected_and_leave_nothing(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (bad / "fake.jpg").write_text("this is not a picture")
    jpeg = (FIXTURES / "images" / "coffee.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(jpeg[:2000])
    (bad / "report.pdf").write_bytes(PDF)
    code, out, err = run("enroll", str(bad), "--owner", "alice", "--data-dir", str(data_dir))
    assert code == 1
    assert "0 enrolled, 0 skipped, 5 rejected" in out
    assert "empty" in err and "UTF-8" in err and "named as an image" in err and "decoded" in err
    assert "PDF is not supported; send JPEG, PNG, WebP, GIF, BMP, TIFF or UTF-8 text" in err
    code, out, _ = run("works", "list", "--data-dir", str(data_dir), "--json")
    assert json.loads(out) == []
    assert not [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_unknown_opt_out_is_refused(data_dir: Path) -> None:
    code, _, err = run("enroll", str(FIXTURES / "texts"), "--owner", "alice", "--data-dir", str(data_dir),
                       "--opt-out", "colour=red")
    assert code == 2 and "unknown opt-out key" in err
    code, _, err = run("enroll", str(FIXTURES / "texts"), "--owner", "alice", "--data-dir", str(data_dir),
                       "--opt-out", "ai_training=sometimes")
    assert code == 2 and "ai_training" in err


def test_keys_create_prints_the_key_alone(data_dir: Path) -> None:
    code, out, _ = run("keys", "create", "--role", "operator", "--name", "op", "--data-dir", str(data_dir))
    assert code == 0 and out.startswith("pvk_") and len(out.strip().split()) == 1
    code, out, _ = run("keys", "list", "--data-dir", str(data_dir), "--json")
    keys = json.loads(out)
    assert keys[0]["role"] == "operator" and "key" not in keys[0]
    code, out, _ = run("keys", "revoke", keys[0]["id"], "--data-dir", str(data_dir))
    assert code == 0 and "revoked" in out


def test_withdrawn_work_no_longer_matches_and_reindex(data_dir: Path) -> None:
    run("enroll", str(FIXTURES / "texts"), "--owner", "alice", "--data-dir", str(data_dir))
    _, out, _ = run("works", "list", "--data-dir", str(data_dir), "--json")
    emma = next(w for w in json.loads(out) if w["title"] == "emma-ch001.txt")
    code, out, _ = run("works", "withdraw", emma["id"], "--data-dir", str(data_dir))
    assert code == 0
    code, out, _ = run("check", str(FIXTURES / "texts" / "emma-ch001.txt"), "--data-dir", str(data_dir), "--json")
    assert json.loads(out)["matches"] == []
    shutil.rmtree(data_dir / "indexes")  # indexes are derived: rebuilt from the stored originals
    code, out, _ = run("reindex", "--data-dir", str(data_dir))
    assert code == 0 and "reindexed 2 works" in out
    code, out, _ = run("check", str(FIXTURES / "texts" / "persuasion-ch003.txt"), "--data-dir", str(data_dir),
                       "--json")
    assert json.loads(out)["matches"][0]["title"] == "persuasion-ch003.txt"


def test_tampered_audit_log_fails_verify(data_dir: Path) -> None:
    import sqlite3

    run("keys", "create", "--role", "creator", "--name", "alice", "--data-dir", str(data_dir))
    with sqlite3.connect(data_dir / "registry.sqlite3") as conn:
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    code, _, err = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1 and "BROKEN at entry 1" in err


def test_console_script_runs(data_dir: Path) -> None:
    exe = Path(sys.executable).parent / "provenance"
    result = subprocess.run([str(exe), "keys", "create", "--role", "admin", "--name", "root",
                             "--data-dir", str(data_dir)], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pvk_")


def test_serve_listens_where_the_environment_says(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("PROVENANCE_HOST", "0.0.0.0")
    monkeypatch.setenv("PROVENANCE_PORT", "9123")
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 9123) and "http://0.0.0.0:9123" in result.output
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--port", "9200"])
    assert seen["port"] == 9200  # a flag still wins over the environment


def test_works_offers_sets_a_works_licences(data_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "poem.txt"
    text.write_text("the quick brown fox jumps over the lazy dog " * 40)
    code, out, err = run("enroll", str(text), "--owner", "alice", "--data-dir", str(data_dir))
    assert code == 0, err
    work_id = next(w for w in out.split() if w.startswith("wrk_"))
    offers = tmp_path / "offers.json"
    offers.write_text('[{"id": "std", "purposes": ["release"], "per": "output", '
                      '"price": {"amount_minor": 1250, "currency": "EUR"}}]')
    code, out, err = run("works", "offers", work_id, str(offers), "--data-dir", str(data_dir))
    assert code == 0 and "offers std: 12.50 EUR per output for release" in out, err
    offers.write_text('[{"purposes": ["release"], "per": "output", "price": {"amount_minor": 1.5, "currency": "EUR"}}]')
    code, out, err = run("works", "offers", work_id, str(offers), "--data-dir", str(data_dir))
    assert code == 2 and "not a list of offers" in out + err

"""`provenance filter`: a dataset filtered offline against a downloaded bank, and through the server."""

import csv
import io
from pathlib import Path

from PIL import Image, ImageOps
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import FIXTURES, Env
from tests.test_api import CHELSEA, EMMA

COFFEE = (FIXTURES / "images" / "coffee.jpg").read_bytes()
UNENROLLED = sorted((FIXTURES / "unenrolled").glob("*"))
runner = CliRunner()


def _save(img: Image.Image, path: Path, quality: int = 80) -> None:
    img.convert("RGB").save(path, "JPEG", quality=quality)


def _dataset(tmp_path: Path) -> Path:
    data = tmp_path / "dataset"
    data.mkdir()
    chelsea = Image.open(io.BytesIO(CHELSEA)).convert("RGB")
    (data / "exact.jpg").write_bytes(CHELSEA)
    _save(chelsea.resize((chelsea.width // 2, chelsea.height // 2)), data / "half.jpg", quality=60)
    _save(ImageOps.mirror(chelsea), data / "mirror.jpg")
    _save(ImageOps.grayscale(chelsea), data / "gray.jpg")
    (data / "coffee.jpg").write_bytes(COFFEE)  # enrolled, but allowed for training
    for i, path in enumerate(UNENROLLED[:3]):
        (data / f"other{i}{path.suffix}").write_bytes(path.read_bytes())
    words = EMMA.split()
    (data / "excerpt.txt").write_text("Some new words of our own. " + " ".join(words[300:500]) + " And an ending.")
    (data / "unrelated.txt").write_text(" ".join(words[5:40][::-1]) + " nothing else here at all")
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return data


def _name(item: str) -> str:
    """A file by its name, a URL as it was given."""
    return item if item.lower().startswith("http") else Path(item).name


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {_name(r["item"]): r for r in csv.DictReader(f)}


def test_offline_filter_against_a_downloaded_bank(env: Env, tmp_path: Path) -> None:
    reserved = {"ai_training": {"use": "notAllowed"}}
    chelsea = env.enroll("alice", CHELSEA, "chelsea.jpg", {
        "opt_outs": reserved, "locations": ["https://photos.example.org/chelsea.jpg"]}).json()
    emma = env.enroll("bob", EMMA.encode(), "emma.txt", {"opt_outs": reserved}).json()
    env.enroll("bob", COFFEE, "coffee.jpg", {"opt_outs": {"ai_training": {"use": "allowed"}}})
    bank = tmp_path / "bank.ndjson"
    bank.write_bytes(env.client.get("/v1/bank", headers=env.h("op")).content)
    (tmp_path / "bank.ndjson.key.json").write_bytes(env.client.get("/v1/bank/key").content)
    urls = tmp_path / "urls.txt"
    urls.write_text("HTTPS://photos.example.org:443/chelsea.jpg#x\nhttps://photos.example.org/other.jpg\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["filter", str(_dataset(tmp_path)), "--bank", str(bank), "--urls", str(urls),
                                 "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    excluded = _rows(out / "excluded.csv")
    for name in ("exact.jpg", "half.jpg", "mirror.jpg", "gray.jpg"):
        assert excluded[name]["work_id"] == chelsea["id"] and excluded[name]["reason"] == "reserved", name
    assert excluded["exact.jpg"]["matched_by"] == "sha256" and excluded["mirror.jpg"]["matched_by"] == "pdq"
    assert excluded["excerpt.txt"]["work_id"] == emma["id"] and excluded["excerpt.txt"]["matched_by"] == "text"
    assert excluded["HTTPS://photos.example.org:443/chelsea.jpg#x"]["matched_by"] == "url"
    kept = {_name(line) for line in (out / "kept.txt").read_text().splitlines()}
    others = {f"other{i}{p.suffix}" for i, p in enumerate(UNENROLLED[:3])}
    assert kept == {"coffee.jpg", "unrelated.txt", "https://photos.example.org/other.jpg", *others}
    assert "broken.png" in _rows(out / "unreadable.csv")
    # an altered bank is refused
    tampered = tmp_path / "tampered.ndjson"
    tampered.write_bytes(bank.read_bytes().replace(b"notAllowed", b"allowed", 1))
    result = runner.invoke(app, ["filter", str(tmp_path / "dataset"), "--bank", str(tampered),
                                 "--bank-key", str(tmp_path / "bank.ndjson.key.json"), "--out", str(out)])
    assert result.exit_code == 2 and "download it again" in result.output


def test_bank_download_and_filter_against_a_running_server(tmp_path: Path) -> None:
    """The trainer's path from the README: download the bank from a server, filter offline; and filter
    through the server's lookups (full matching) for the same dataset."""
    import httpx

    from tests.servers import create_key, start_server, stop_server

    env = {"PROVENANCE_DATA_DIR": str(tmp_path / "data")}
    creator = create_key("creator", "alice", env)
    operator = create_key("operator", "trainer", env)
    proc, base = start_server(env)
    try:
        r = httpx.post(f"{base}/v1/works", files={"file": ("chelsea.jpg", CHELSEA)},
                       data={"metadata": '{"opt_outs": {"ai_training": {"use": "notAllowed"}}}'},
                       headers={"Authorization": f"Bearer {creator}"}, timeout=60)
        assert r.status_code == 201, r.text
        work_id = r.json()["id"]
        data = _dataset(tmp_path)
        bank = tmp_path / "bank.ndjson"
        result = runner.invoke(app, ["bank", "download", "--server", base, "--key", operator, "--out", str(bank)])
        assert result.exit_code == 0 and "1 reserved works" in result.output, result.output
        for mode in (["--bank", str(bank)], ["--server", base, "--key", operator]):
            out = tmp_path / mode[0].strip("-")
            result = runner.invoke(app, ["filter", str(data), *mode, "--out", str(out)])
            assert result.exit_code == 0, result.output
            excluded = _rows(out / "excluded.csv")
            assert {"exact.jpg", "half.jpg", "mirror.jpg", "gray.jpg"} <= excluded.keys(), (mode, excluded)
            assert all(row["work_id"] == work_id for row in excluded.values())
            assert "broken.png" in _rows(out / "unreadable.csv")
        result = runner.invoke(app, ["bank", "download", "--server", base, "--out", str(tmp_path / "b2")])
        assert result.exit_code == 1 and "401" in result.output  # the bank is not public here
    finally:
        stop_server(proc)

"""Screenshots of the main pages for the README: a real server on a fresh data directory, driven in Chromium.

    python -m scripts.screenshots [--out docs/screenshots]
"""

import io
import tempfile
from pathlib import Path

import typer
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from tests.browser import chromium_path, drop_files, file_entry, follow, launch, sign_in
from tests.servers import create_key, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _edited(path: Path) -> bytes:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    img = img.crop((int(w * .12), int(h * .1), int(w * .88), int(h * .9))).resize((int(w * .6), int(h * .6)))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70)
    return out.getvalue()


def _shot(page: Page, out: Path, name: str, full: bool = True) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=full)
    print(f"wrote {out / name}.png")


def main(out: Path = typer.Option(ROOT / "docs" / "screenshots", help="Folder for the PNG files.")) -> None:
    chromium = chromium_path()
    if chromium is None:
        raise typer.BadParameter("no Chromium found: install Debian's chromium or set PROVENANCE_CHROMIUM")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data:
        env = {"PROVENANCE_DATA_DIR": data}
        keys = {n: create_key(r, n, env) for n, r in [("alice", "creator"), ("oscar", "operator"),
                                                       ("audrey", "auditor")]}
        proc, base = start_server(env)
        try:
            with sync_playwright() as p:
                browser = launch(p, chromium)
                page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
                sign_in(page, base, keys["alice"])
                page.goto(f"{base}/works/enroll")
                page.wait_for_selector("#enroll-form[data-ready=true]")
                page.fill("input[name=license_id]", "CC-BY-4.0")
                page.select_option("select[name=release]", "attribution")
                files = [file_entry(f) for f in sorted((FIXTURES / "images").iterdir())]
                files += [file_entry(f) for f in sorted((FIXTURES / "texts").iterdir())]
                files += [file_entry(FIXTURES / "images" / "coffee.jpg"), ("notes.png", b"not an image", "image/png")]
                drop_files(page, "#dropzone", files)
                page.wait_for_selector("#upload-summary[data-state=done]", timeout=120_000)
                _shot(page, out, "creator-enroll")
                page.goto(f"{base}/works")
                page.wait_for_load_state("networkidle")
                _shot(page, out, "creator-works")

                op = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
                sign_in(op, base, keys["oscar"])
                shot = Path(data) / "generated.jpg"
                shot.write_bytes(_edited(FIXTURES / "images" / "chelsea.jpg"))
                op.set_input_files("input[name=file]", str(shot))
                follow(op, "button:has-text('Check')")
                op.wait_for_url("**/checks/chk_*")
                op.wait_for_load_state("networkidle")
                _shot(op, out, "operator-check-image")
                words = (FIXTURES / "texts" / "persuasion-ch003.txt").read_text().split()
                op.goto(f"{base}/check")
                op.fill("textarea[name=text]", "The assistant continued the story: " + " ".join(words[300:420])
                        + " Then everyone went home.")
                follow(op, "button:has-text('Check')")
                op.wait_for_url("**/checks/chk_*")
                _shot(op, out, "operator-check-text")
                for text, purpose in [(" ".join(words[40:200]), "ai_training"),
                                      ("A limerick about a llama who learned to paint in oils.", "release")]:
                    op.goto(f"{base}/check")
                    op.fill("textarea[name=text]", text)
                    op.select_option("select[name=purpose]", purpose)
                    follow(op, "button:has-text('Check')")

                page.goto(f"{base}/works")
                follow(page, "text=chelsea.jpg")
                follow(page, "[data-testid=matches] >> text=Evidence")
                page.wait_for_load_state("networkidle")
                _shot(page, out, "creator-evidence-image")
                page.goto(f"{base}/works")
                follow(page, "text=persuasion-ch003.txt")
                follow(page, "[data-testid=matches] >> text=Evidence")
                _shot(page, out, "creator-evidence-text")

                audit = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
                sign_in(audit, base, keys["audrey"])
                _shot(audit, out, "auditor-history")

                phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                            has_touch=True, device_scale_factor=2).new_page()
                sign_in(phone, base, keys["oscar"])
                phone.goto(op.url)
                phone.wait_for_load_state("networkidle")
                _shot(phone, out, "phone-check-text", full=False)
                phone_audit = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                  has_touch=True, device_scale_factor=2).new_page()
                sign_in(phone_audit, base, keys["audrey"])
                phone_audit.goto(f"{base}/audit/log")
                _shot(phone_audit, out, "phone-audit-log", full=False)
                browser.close()
        finally:
            stop_server(proc)


if __name__ == "__main__":
    typer.run(main)

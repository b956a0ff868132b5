"""Driving Debian's Chromium with Playwright: launch options, sign-in, dropping files on a page.

Playwright's own browser downloads are not used (no network for them): Chromium comes from the system
(`/usr/bin/chromium`, installed by `.ci/run` when missing, or PROVENANCE_CHROMIUM).
"""

import base64
import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, JSHandle, Page, Playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    configured = os.environ.get("PROVENANCE_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Playwright, executable: str) -> Browser:
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


def follow(page: Page, selector: str) -> None:
    """Click a link or submit button and wait until the page it leads to has loaded (a bare click may
    return before the navigation, and the next step would then read the old page)."""
    with page.expect_navigation():
        page.click(selector)


def sign_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("input[name=key]", key)
    follow(page, "button[type=submit]")


def data_transfer(page: Page, files: list[tuple[str, bytes, str]]) -> JSHandle:
    """A DataTransfer holding `files` (name, bytes, type), as a drag from the desktop carries them."""
    payload = [{"name": n, "b64": base64.b64encode(d).decode(), "type": t} for n, d, t in files]
    return page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, { type: f.type }));
        }
        return dt;
    }""", payload)


def drop_files(page: Page, selector: str, files: list[tuple[str, bytes, str]]) -> None:
    """Drag `files` over the element and drop them, firing the events a real drop fires."""
    dt = data_transfer(page, files)
    page.dispatch_event(selector, "dragenter", {"dataTransfer": dt})
    page.dispatch_event(selector, "dragover", {"dataTransfer": dt})
    page.dispatch_event(selector, "drop", {"dataTransfer": dt})


def file_entry(path: Path, name: str | None = None) -> tuple[str, bytes, str]:
    kind = {".jpg": "image/jpeg", ".png": "image/png", ".txt": "text/plain"}.get(path.suffix, "")
    return (name or path.name, path.read_bytes(), kind)

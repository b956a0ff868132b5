"""The web interface in headless Chromium against a real `provenance serve`: each role's main path end to end
(sign in, enroll by drag and drop, edit terms, check, see the match and its evidence, read the audit view,
export), escaping, CSRF, security headers, who may see what, and the phone layout."""

import csv
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser import chromium_path, drop_files, file_entry, follow, launch, sign_in
from tests.conftest import FIXTURES
from tests.servers import EXE, create_key, start_server, stop_server

EVIL_TITLE = '<img src=x onerror="window.__xss=1">.txt'


class Site:
    def __init__(self, base: str, keys: dict[str, str], env: dict[str, str]) -> None:
        self.base, self.keys, self.env = base, keys, env
        self.state: dict[str, str] = {}


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("PROVENANCE_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here (PROVENANCE_REQUIRE_BROWSER) but was not found")
        pytest.skip("no Chromium: install Debian's chromium, or set PROVENANCE_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("web")
    env = {"PROVENANCE_DATA_DIR": str(data), "PROVENANCE_FOLLOW_INTERVAL": "0.5"}
    keys = {name: create_key(role, name, env) for name, role in
            [("alice", "creator"), ("bob", "creator"), ("oscar", "operator"), ("audrey", "auditor")]}
    proc, base = start_server(env)
    try:
        yield Site(base, keys, env)
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = launch(p, chromium)
        yield b
        b.close()


def new_page(browser: Browser, **options: object) -> Page:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    return page


def outcomes(page: Page) -> dict[str, str]:
    return {row.get_attribute("data-file") or "": row.get_attribute("data-outcome") or ""
            for row in page.query_selector_all("#upload-rows tr")}


def edited_image() -> bytes:
    """An output that reproduces chelsea.jpg: its centre 70%, scaled down and recompressed."""
    img = Image.open(FIXTURES / "images" / "chelsea.jpg").convert("RGB")
    w, h = img.size
    crop = img.crop((int(w * .15), int(h * .15), int(w * .85), int(h * .85))).resize((int(w * .5), int(h * .5)))
    out = io.BytesIO()
    crop.save(out, "JPEG", quality=70)
    return out.getvalue()


def excerpt_output() -> str:
    words = (FIXTURES / "texts" / "emma-ch001.txt").read_text().split()
    return "Here is a story the model wrote for you. " + " ".join(words[200:360]) + " And that is the end of it."


# -- creators -----------------------------------------------------------------------------------------------
def test_creator_enrolls_many_files_by_drag_and_drop(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    sign_in(page, site.base, site.keys["alice"])
    assert page.url.endswith("/works")
    page.goto(f"{site.base}/works/enroll")
    page.wait_for_selector("#enroll-form[data-ready=true]")
    page.select_option("select[name=release]", "attribution")
    page.fill("input[name=license_id]", "CC-BY-4.0")
    # these terms become alice's defaults: the page comes back with them filled in
    follow(page, "#save-defaults")
    assert "Saved as your default terms" in page.inner_text("main")
    assert page.input_value("select[name=release]") == "attribution"
    assert page.input_value("input[name=license_id]") == "CC-BY-4.0"
    page.wait_for_selector("#enroll-form[data-ready=true]")
    files = [file_entry(FIXTURES / "images" / "chelsea.jpg"), file_entry(FIXTURES / "images" / "coffee.jpg"),
             file_entry(FIXTURES / "texts" / "emma-ch001.txt"),
             ("empty.png", b"", "image/png"),
             ("truncated.jpg", (FIXTURES / "images" / "coffee.jpg").read_bytes()[:300], "image/jpeg"),
             (EVIL_TITLE, b"A short text whose title tries to run a script. " * 20, "text/plain")]
    drop_files(page, "#dropzone", files)
    page.wait_for_selector("#upload-summary[data-state=done]", timeout=60_000)
    got = outcomes(page)
    assert got == {"chelsea.jpg": "enrolled", "coffee.jpg": "enrolled", "emma-ch001.txt": "enrolled",
                   "empty.png": "rejected", "truncated.jpg": "rejected", EVIL_TITLE: "enrolled"}
    assert "empty" in page.inner_text("#upload-rows tr[data-file='empty.png']")
    assert "3 enrolled" not in page.inner_text("#upload-summary")  # 4 enrolled: the summary counts each file
    assert page.inner_text("#upload-summary").startswith("4 enrolled, 0 already enrolled, 2 rejected")

    # Enter on the focused drop zone opens the file chooser (the picker itself is not waited for: headless
    # Chromium does not always raise it for a synthetic key press, so the call is recorded instead)
    page.evaluate("document.getElementById('files').click = () => { window.__chooserOpened = true; }")
    page.focus("#dropzone")
    page.keyboard.press("Enter")
    assert page.evaluate("window.__chooserOpened === true")
    # the same file again, through the file chooser: already enrolled, with a link to the work
    page.set_input_files("#files", str(FIXTURES / "images" / "chelsea.jpg"))
    page.wait_for_function("document.querySelectorAll('#upload-rows tr').length === 7")
    page.wait_for_selector("#upload-summary[data-state=done]")
    row = page.query_selector_all("#upload-rows tr")[-1]
    assert row.get_attribute("data-outcome") == "already_enrolled"
    assert row.query_selector("a") is not None

    page.goto(f"{site.base}/works")
    cards = page.query_selector_all("[data-testid=works] li")
    assert len(cards) == 4
    thumbs = page.query_selector_all("[data-testid=works] img")
    assert len(thumbs) == 2
    page.wait_for_function("[...document.querySelectorAll('[data-testid=works] img')].every(i => i.naturalWidth > 0)")
    assert "Emma Woodhouse" in page.inner_text("[data-testid=works]")  # a text snippet
    # a title holding HTML shows as text and runs nothing
    assert EVIL_TITLE in page.inner_text("[data-testid=works]")
    assert page.evaluate("window.__xss === undefined")
    assert page.query_selector("img[src=x]") is None
    page.context.close()


def test_creator_edits_terms(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    sign_in(page, site.base, site.keys["alice"])
    follow(page, "text=coffee.jpg")
    site.state["coffee_url"] = page.url
    follow(page, "text=Edit terms")
    page.select_option("select[name=release]", "notAllowed")
    page.select_option("select[name=ai_training]", "constrained")
    page.fill("input[name=ai_training_info]", "https://example.org/training-terms")
    page.fill("input[name=offer_price]", "12.5")
    page.fill("input[name=offer_currency]", "EUR")
    follow(page, "button:has-text('Save terms')")
    assert "Terms saved" in page.inner_text("main")
    text = page.inner_text("main")
    assert "Not allowed (blocked)" in text and "12.50 EUR per output for release, on approval" in text
    assert "Allowed with constraints: https://example.org/training-terms" in text

    # a bad value is refused with a message, and nothing changes
    follow(page, "text=Edit terms")
    page.fill("input[name=offer_price]", "lots")
    follow(page, "button:has-text('Save terms')")
    assert "not a number" in page.inner_text("[data-testid=error]")
    page.goto(site.state["coffee_url"])
    assert "12.50 EUR per output" in page.inner_text("main")
    page.context.close()


# -- operators ----------------------------------------------------------------------------------------------
def test_operator_checks_an_image_and_a_text(site: Site, browser: Browser, tmp_path: Path) -> None:
    page = new_page(browser)
    sign_in(page, site.base, site.keys["oscar"])
    assert page.url.endswith("/check")
    output = tmp_path / "generated.jpg"
    output.write_bytes(edited_image())
    page.set_input_files("input[name=file]", str(output))
    follow(page, "button:has-text('Check')")
    page.wait_for_url("**/checks/chk_*")
    site.state["image_check"] = page.url.rsplit("/", 1)[1]
    assert page.inner_text("h1 [data-testid=verdict]") == "Attribution required"
    match = page.inner_text("[data-testid=match]")
    assert "chelsea.jpg" in match and "alice" in match and "CC-BY-4.0" in match
    assert "Matching local features" in match
    # the output with the matched region outlined; the enrolled original is not shown to the operator
    assert page.query_selector("[data-testid=output-image-region]") is not None
    assert page.query_selector("[data-testid=work-image]") is None
    page.wait_for_function("document.querySelector('[data-testid=output-image] image') !== null")

    page.goto(f"{site.base}/check")
    page.fill("textarea[name=text]", excerpt_output())
    page.select_option("select[name=purpose]", "ai_training")
    follow(page, "button:has-text('Check')")
    page.wait_for_url("**/checks/chk_*")
    site.state["text_check"] = page.url.rsplit("/", 1)[1]
    assert page.inner_text("h1 [data-testid=verdict]") == "Blocked"  # ai_training is reserved by default
    marked = " ".join(m.inner_text() for m in page.query_selector_all("[data-testid=output-text] mark"))
    assert len(marked.split()) >= 150
    assert page.query_selector("[data-testid=work-text]") is None

    page.goto(f"{site.base}/check")
    page.fill("textarea[name=text]", "An entirely new sentence that nobody enrolled, about llamas on a hill.")
    follow(page, "button:has-text('Check')")
    page.wait_for_url("**/checks/chk_*")
    assert page.inner_text("h1 [data-testid=verdict]") == "Clear"

    # an empty submission says what to do and records nothing
    page.goto(f"{site.base}/check")
    follow(page, "button:has-text('Check')")
    assert "choose an image or text file, or paste some text" in page.inner_text("[data-testid=error]")

    page.goto(f"{site.base}/checks")
    rows = page.query_selector_all("[data-testid=checks] tbody tr")
    assert len(rows) == 3
    page.select_option("select[name=verdict]", "blocked")
    follow(page, "button:has-text('Filter')")
    assert len(page.query_selector_all("[data-testid=checks] tbody tr")) == 1
    page.context.close()


# -- creators see the match ---------------------------------------------------------------------------------
def test_creator_sees_matches_side_by_side(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    sign_in(page, site.base, site.keys["alice"])
    assert page.inner_text("[data-testid=works] li:has-text('chelsea.jpg') [data-testid=match-count]") == "1 match"
    assert page.query_selector("[data-testid=works] li:has-text('coffee.jpg') [data-testid=match-count]") is None
    follow(page, "text=chelsea.jpg")
    assert len(page.query_selector_all("[data-testid=matches] tbody tr")) == 1
    follow(page, "[data-testid=matches] >> text=Evidence")
    for side in ("output-image", "work-image"):
        region = page.query_selector(f"[data-testid={side}-region]")
        assert region is not None
        assert float(region.get_attribute("width") or 0) > 0
    page.wait_for_function(
        "[...document.querySelectorAll('svg image')].length === 2")
    # the pictures themselves load (renditions served only to those allowed)
    for src in page.eval_on_selector_all("svg image", "els => els.map(e => e.getAttribute('href'))"):
        assert page.context.request.get(site.base + src).headers["content-type"] == "image/jpeg"

    page.goto(f"{site.base}/works")
    follow(page, "text=emma-ch001.txt")
    follow(page, "[data-testid=matches] >> text=Evidence")
    output_marks = " ".join(m.inner_text() for m in page.query_selector_all("[data-testid=output-text] mark"))
    work_marks = " ".join(m.inner_text() for m in page.query_selector_all("[data-testid=work-text] mark"))
    assert output_marks.split() == work_marks.split()
    assert "story the model wrote" not in output_marks
    page.context.close()


def test_other_creators_see_nothing_of_alices_works(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    sign_in(page, site.base, site.keys["bob"])
    assert page.query_selector("[data-testid=works]") is None  # bob has no works
    alice_work = site.state["coffee_url"].rsplit("/", 1)[1]
    for path in (f"/works/{alice_work}", f"/works/{alice_work}/terms", f"/media/works/{alice_work}/view",
                 f"/checks/{site.state['image_check']}", f"/media/checks/{site.state['image_check']}/view"):
        response = page.goto(site.base + path)
        assert response is not None and response.status == 404, path
    # roles: a creator may not use the operator or auditor pages
    response = page.goto(f"{site.base}/audit")
    assert response is not None and response.status == 403
    assert "only auditor accounts may read the audit log" in page.inner_text("[data-testid=error]")
    page.context.close()


# -- auditors -----------------------------------------------------------------------------------------------
def test_auditor_history_filters_chain_and_exports(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    sign_in(page, site.base, site.keys["audrey"])
    assert page.url.endswith("/audit")
    assert "Audit chain verified" in page.inner_text("[data-testid=chain]")
    assert len(page.query_selector_all("[data-testid=checks] tbody tr")) == 3
    page.fill("input[name=operator]", "oscar")
    page.select_option("select[name=verdict]", "attribution_required")
    follow(page, "button:has-text('Filter')")
    rows = page.query_selector_all("[data-testid=checks] tbody tr")
    assert len(rows) == 1 and "chelsea.jpg" in rows[0].inner_text()

    csv_url = page.get_attribute("[data-testid=export-csv]", "href") or ""
    assert "operator=oscar" in csv_url and "verdict=attribution_required" in csv_url
    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["check_id"] for r in exported] == [site.state["image_check"]]
    assert exported[0]["matched_titles"] == "chelsea.jpg" and exported[0]["operator"] == "oscar"

    # the unfiltered history as NDJSON: every check, each a JSON object
    page.goto(f"{site.base}/audit")
    ndjson = page.context.request.get(site.base + (page.get_attribute("[data-testid=export-ndjson]", "href") or ""))
    lines = [json.loads(line) for line in ndjson.text().splitlines()]
    assert {c["id"] for c in lines} >= {site.state["image_check"], site.state["text_check"]}
    assert len(lines) == 3

    # a matched work's title filters the history by that work
    page.goto(f"{site.base}/audit")
    follow(page, "[data-testid=checks] >> text=emma-ch001.txt")
    assert "work_id=wrk_" in page.url
    assert len(page.query_selector_all("[data-testid=checks] tbody tr")) == 1

    # time filter: nothing before 2000
    page.goto(f"{site.base}/audit?until=2000-01-01T00:00")
    assert page.query_selector("[data-testid=no-checks]") is not None
    # a bad filter value is a clear message, not an error page
    response = page.goto(f"{site.base}/audit?since=yesterday")
    assert response is not None and response.status == 400
    assert "ISO 8601" in page.inner_text("[data-testid=error]")

    # an auditor reads any check, sees the output and evidence, never the enrolled original
    page.goto(f"{site.base}/checks/{site.state['image_check']}")
    assert page.query_selector("[data-testid=output-image-region]") is not None
    assert page.query_selector("[data-testid=work-image]") is None

    page.goto(f"{site.base}/audit/log")
    log = page.inner_text("[data-testid=audit-log]")
    assert "work.enrolled" in log or "work.enroll" in log
    assert "Audit chain verified" in page.inner_text("[data-testid=chain]")
    follow(page, "[data-testid=recheck]")  # recompute the whole chain now
    assert "Audit chain verified" in page.inner_text("[data-testid=chain]")
    page.context.close()


# -- security -----------------------------------------------------------------------------------------------
def test_security_headers_csrf_and_sessions(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    response = page.goto(f"{site.base}/works")
    assert response is not None
    assert "/signin?next=%2Fworks" in page.url  # not signed in: to the sign-in form, and back after
    headers = response.headers
    sign_in_page = page.context.request.get(f"{site.base}/signin")
    for h in (headers, sign_in_page.headers):
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"

    page.fill("input[name=key]", "pvk_not-a-key")
    follow(page, "button[type=submit]")
    assert "unknown or revoked" in page.inner_text("main")
    page.fill("input[name=key]", site.keys["alice"])
    follow(page, "button[type=submit]")
    assert page.url.endswith("/works")  # back where the visitor was going
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["provenance_session"]["httpOnly"] and cookies["provenance_session"]["sameSite"] == "Lax"
    assert cookies["provenance_csrf"]["httpOnly"] and cookies["provenance_csrf"]["sameSite"] == "Strict"
    assert site.keys["alice"] not in json.dumps(page.context.cookies())  # the key itself is never in a cookie

    # a form posted without its CSRF token (as another site would) is refused, and changes nothing
    work_id = site.state["coffee_url"].rsplit("/", 1)[1]
    forged = page.context.request.post(f"{site.base}/works/{work_id}/withdraw", headers={"accept": "text/html"})
    assert forged.status == 403 and "CSRF" in forged.text()
    page.goto(site.state["coffee_url"])
    assert "status active" in page.inner_text("main")

    # signing out ends the session
    follow(page, "text=Sign out")
    page.goto(f"{site.base}/works")
    assert "/signin" in page.url
    page.context.close()


def test_revoking_a_key_ends_its_web_sessions(site: Site, browser: Browser) -> None:
    key = create_key("creator", "carol", site.env)
    page = new_page(browser)
    sign_in(page, site.base, key)
    assert page.url.endswith("/works")
    listed = subprocess.run([EXE, "keys", "list", "--json"], env={**os.environ, **site.env}, capture_output=True,
                            text=True, check=True).stdout
    key_id = next(k["id"] for k in json.loads(listed) if k["account"] == "carol")
    subprocess.run([EXE, "keys", "revoke", key_id], env={**os.environ, **site.env}, check=True, capture_output=True)
    page.goto(f"{site.base}/works")
    assert "/signin" in page.url and "revoked" in page.inner_text("main")
    page.context.close()


def test_pages_fit_a_phone(site: Site, browser: Browser) -> None:
    page = new_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    for name, paths in [("alice", ["/works", "/works/enroll", site.state["coffee_url"].replace(site.base, "")]),
                        ("oscar", ["/check", "/checks", f"/checks/{site.state['image_check']}"]),
                        ("audrey", ["/audit", "/audit/log"])]:
        sign_in(page, site.base, site.keys[name])
        for path in paths:
            page.goto(site.base + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
            for table in page.query_selector_all("table.stack-on-phone"):  # cards: nothing hides off screen
                assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), f"{path}: a table scrolls sideways"
        if name == "audrey":  # a log entry is a compact card, its details a tap away
            rows = page.query_selector_all("[data-testid=audit-log] tbody tr")
            heights = sorted(r.bounding_box()["height"] for r in rows[:20])  # type: ignore[index]
            assert rows and heights[len(heights) // 2] < 100, heights  # 50 entries: well under 5,000 px
            assert all(r.query_selector("td[data-label='Action']") for r in rows[:5])
        page.context.clear_cookies()
    page.context.close()


def test_api_keeps_working_beside_the_pages(site: Site, browser: Browser) -> None:
    """The bearer-key API is not affected by sessions or CSRF (no cookies), and pages need no bearer key.
    (It counts the works the browser tests above enrolled, so it runs, or skips, with them.)"""
    r = httpx.get(f"{site.base}/v1/works", headers={"Authorization": f"Bearer {site.keys['alice']}"})
    assert r.status_code == 200 and len(r.json()["items"]) == 4
    r = httpx.post(f"{site.base}/v1/checks", json={"text": excerpt_output()},
                   headers={"Authorization": f"Bearer {site.keys['oscar']}"})
    assert r.status_code == 200 and r.json()["verdict"] == "attribution_required"
    assert httpx.get(f"{site.base}/v1/works").status_code == 401


def test_the_api_docs_render_offline_under_the_security_headers(site: Site, browser: Browser) -> None:
    page = new_page(browser)
    outside: list[str] = []
    violations: list[str] = []

    def only_this_site(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(site.base):
            route.continue_()  # type: ignore[attr-defined]
        else:  # offline: nothing may come from elsewhere
            outside.append(url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", only_this_site)
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    for path in ("/schema", "/schema/swagger"):
        response = page.goto(f"{site.base}{path}")
        assert response is not None and response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
        assert "Provenance" in page.inner_text(".swagger-ui .info .title")
        assert page.query_selector(".opblock-tag-section") is not None  # the operations are listed
    assert outside == [] and violations == []


@pytest.mark.parametrize("size", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}])
def test_enrollment_progress_comes_into_view(site: Site, browser: Browser, size: dict[str, int]) -> None:
    page = new_page(browser, viewport=size)
    sign_in(page, site.base, site.keys["bob"])
    page.goto(f"{site.base}/works/enroll")
    page.wait_for_selector("#enroll-form[data-ready=true]")
    assert not page.is_visible("#enroll-submit")  # uploads start on their own: no button that does nothing
    chooser_top = page.evaluate("document.getElementById('files').getBoundingClientRect().top")
    if size["width"] < 640:  # the terms fold on a phone: the file chooser is on the first screen
        assert chooser_top < size["height"], chooser_top
    in_view = ("() => { const r = document.getElementById('{id}').getBoundingClientRect();"
               " return r.top >= 0 && r.top < window.innerHeight - 40; }")
    page.set_input_files("#files", [str(FIXTURES / "texts" / "persuasion-ch003.txt")])
    page.wait_for_function(in_view.replace("{id}", "upload-summary"), timeout=10_000)
    page.wait_for_selector("#upload-summary[data-state=done]", timeout=60_000)
    page.wait_for_function(in_view.replace("{id}", "upload-rows"), timeout=10_000)
    if size["width"] < 640:  # rows are stacked, labelled cells on a phone: nothing to scroll sideways
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        label = page.evaluate("getComputedStyle(document.querySelector('#upload-rows td.outcome'), '::before').content")
        assert "Outcome" in label
    page.context.close()

"""The dispute, conflict and inbox pages: an operator disputes from the check page, the owner answers, an admin
resolves a conflict; each party sees what concerns them and nobody else's."""

import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from service.clock import SettableClock
from tests.conftest import FIXTURES, Env
from tests.web_client import csrf_token, web_client

IMAGE = (FIXTURES / "images" / "chelsea.jpg").read_bytes()


@pytest.fixture
def browsers(env: Env) -> Iterator[dict[str, TestClient]]:  # type: ignore[type-arg]
    clients = {who: web_client(create_app(env.settings, env.registry), env.keys[who])  # one app per browser
               for who in ("alice", "bob", "op", "op2", "root", "audit")}
    yield clients
    for c in clients.values():
        c.__exit__(None, None, None)


def _post(client: TestClient, page: str, action: str, **fields: str) -> str:  # type: ignore[type-arg]
    r = client.post(action, data={**fields, "_csrf_token": csrf_token(client, page)}, follow_redirects=True)
    assert r.status_code == 200, r.text[:500]
    return r.text


def test_dispute_from_the_check_page_to_the_owners_answer(env: Env, browsers: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    env.registry.set_clock(SettableClock())
    work = env.enroll("alice", IMAGE, "cat.jpg", {"opt_outs": {"release": "notAllowed"}}).json()
    check = env.client.post("/v1/checks", files={"file": ("o.jpg", IMAGE)}, headers=env.h("op")).json()
    op, alice = browsers["op"], browsers["alice"]
    page = op.get(f"/checks/{check['id']}").text
    assert 'data-testid="dispute-form"' in page
    assert 'data-testid="dispute-form"' not in browsers["audit"].get(f"/checks/{check['id']}").text
    opened = _post(op, f"/checks/{check['id']}", f"/checks/{check['id']}/disputes", work_id=work["id"],
                   reason="licensed", note="licence 2024-17")
    assert "Dispute opened" in opened and 'data-testid="deadline"' in opened
    dispute_id = re.search(r"<code>(dsp_[0-9a-f]+)</code>", opened)
    assert dispute_id is not None
    url = f"/disputes/{dispute_id.group(1)}"
    assert "Disputed:" in op.get(f"/checks/{check['id']}").text

    assert browsers["op2"].get(url).status_code == 404
    assert browsers["bob"].get(url).status_code == 404
    assert 'data-testid="answer"' in alice.get(url).text
    assert "dispute.opened" in alice.get("/inbox").text
    released = _post(alice, url, f"{url}/release", note="yes, it is licensed")
    assert "released" in released.lower() and 'data-testid="answer"' not in released
    result = op.get(f"/checks/{check['id']}").text
    assert 'data-testid="released"' in result and 'data-testid="revisions"' in result
    assert "Clear" in result
    assert dispute_id.group(1) in browsers["audit"].get("/disputes").text


def test_an_admin_resolves_a_conflict_on_its_page(env: Env, browsers: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    first = env.enroll("alice", IMAGE, "cat.jpg").json()
    claim = env.enroll("bob", IMAGE, "cat.jpg").json()
    listing = browsers["bob"].get("/conflicts").text
    assert claim["id"] in listing and first["id"] not in listing  # the newcomer sees no names
    conflict_id = re.search(r'href="/conflicts/(cfl_[0-9a-f]+)"', listing)
    assert conflict_id is not None
    url = f"/conflicts/{conflict_id.group(1)}"
    assert 'data-testid="resolve"' not in browsers["bob"].get(url).text
    assert first["id"] not in browsers["bob"].get(url).text
    assert browsers["op"].get(url).status_code == 403
    admin_page = browsers["root"].get(url).text
    assert 'data-testid="resolve"' in admin_page and first["id"] in admin_page
    done = _post(browsers["root"], url, f"{url}/resolve", keep="earlier", note="alice published it first")
    assert "Conflict resolved" in done and "earlier" in done
    assert "conflict.resolved" in browsers["bob"].get("/inbox").text
    assert "rejected" in browsers["bob"].get(f"/works/{claim['id']}").text


def test_the_inbox_marks_read(env: Env, browsers: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    env.enroll("alice", IMAGE, "cat.jpg")
    env.client.post("/v1/checks", files={"file": ("o.jpg", IMAGE)}, headers=env.h("op"))
    assert "1 unread" in browsers["alice"].get("/inbox").text
    page = _post(browsers["alice"], "/inbox", "/inbox/read")
    assert "0 unread" in page and "work.matched" in page


def test_the_audit_log_shows_what_changed_and_links_the_subject(env: Env,
                                                               browsers: dict[str, TestClient]) -> None:  # type: ignore[type-arg]
    work = env.enroll("alice", IMAGE, "cat.jpg", {"opt_outs": {"release": "attribution"}}).json()
    env.client.patch(f"/v1/works/{work['id']}", json={"opt_outs": {"release": "notAllowed"}}, headers=env.h("alice"))
    page = browsers["audit"].get("/audit/log").text
    assert 'data-testid="changes"' in page
    assert "<code>opt_outs.release</code>: &#34;attribution&#34; → <strong>&#34;notAllowed&#34;</strong>" in page
    assert f'href="/works/{work["id"]}"' in page
    assert "all details" in page

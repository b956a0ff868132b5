"""Verified ownership: a token served at the host's well-known path; verified works are marked in checks,
lookups and the conflicts an admin resolves."""

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from service.domains import https_fetcher
from tests.conftest import FIXTURES, Env


class Site:
    """A local web server standing in for the creator's site (every host name resolves to it)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = site.pages.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"]


@pytest.fixture
def site(env: Env) -> Iterator[Site]:
    s = Site()
    fetch = https_fetcher(5.0, True, resolve=s.resolve, scheme="http")
    env.registry.domains.fetch = lambda url: fetch(url.replace("/.well-known", f":{s.port}/.well-known", 1))
    yield s
    s.server.shutdown()


WELL_KNOWN = "/.well-known/provenance-verification.txt"


def test_a_creator_verifies_a_domain_and_their_works_on_it_are_marked(env: Env, site: Site) -> None:
    claim = env.client.post("/v1/domains", json={"host": "Alice.Example"}, headers=env.h("alice"))
    assert claim.status_code == 201, claim.text
    d = claim.json()
    assert d["host"] == "alice.example" and not d["verified"]
    assert d["file_url"] == f"https://alice.example{WELL_KNOWN}"
    assert d["file_line"].startswith("provenance-verification=")

    missing = env.client.post("/v1/domains/alice.example/verify", headers=env.h("alice")).json()
    assert not missing["verified"] and "404" in missing["last_error"]
    site.pages[WELL_KNOWN] = (200, b"provenance-verification=someone-elses-token\n", {})
    wrong = env.client.post("/v1/domains/alice.example/verify", headers=env.h("alice")).json()
    assert not wrong["verified"] and "does not hold" in wrong["last_error"]
    site.pages[WELL_KNOWN] = (200, b"# provenance\n" + d["file_line"].encode() + b"\n", {})
    ok = env.client.post("/v1/domains/alice.example/verify", headers=env.h("alice")).json()
    assert ok["verified"] and ok["last_error"] is None
    # bob cannot ride on alice's verification: his own claim has its own token
    bob = env.client.post("/v1/domains", json={"host": "alice.example"}, headers=env.h("bob")).json()
    assert bob["file_line"] != d["file_line"]
    assert not env.client.post("/v1/domains/alice.example/verify", headers=env.h("bob")).json()["verified"]

    image = (FIXTURES / "images" / "chelsea.jpg").read_bytes()
    work = env.enroll("alice", image, "cat.jpg", {"locations": ["https://alice.example/cats/1.jpg"]}).json()
    check = env.client.post("/v1/checks", files={"file": ("o.jpg", image)}, headers=env.h("op")).json()
    assert check["matches"][0]["work_id"] == work["id"] and check["matches"][0]["verified_owner"] is True
    lookup = env.client.post("/v1/lookups", json={"purpose": "ai_training", "items": [
        {"id": "1", "url": "https://alice.example/cats/1.jpg"}]}, headers=env.h("op")).json()
    assert lookup["results"][0]["matches"][0]["verified_owner"] is True
    env.enroll("bob", image, "cat.jpg")
    conflict = env.client.get("/v1/conflicts", headers=env.h("root")).json()["items"][0]
    assert conflict["earlier_verified"] is True and conflict["work_verified"] is False
    log = env.client.get("/v1/audit/log", headers=env.h("audit")).json()["items"]
    assert "domain.verified" in [e["action"] for e in log]


def test_redirects_off_the_host_and_oversized_files_are_refused(env: Env, site: Site) -> None:
    d = env.client.post("/v1/domains", json={"host": "alice.example"}, headers=env.h("alice")).json()
    site.pages[WELL_KNOWN] = (302, b"", {"Location": "http://evil.example/token.txt"})
    r = env.client.post("/v1/domains/alice.example/verify", headers=env.h("alice")).json()
    assert not r["verified"] and "redirects to" in r["last_error"]
    site.pages[WELL_KNOWN] = (302, b"", {"Location": "/elsewhere.txt"})
    site.pages["/elsewhere.txt"] = (200, d["file_line"].encode(), {})
    assert env.client.post("/v1/domains/alice.example/verify", headers=env.h("alice")).json()["verified"]
    site.pages[WELL_KNOWN] = (200, d["file_line"].encode() + b"\n" + b"x" * 5000, {})
    env.client.post("/v1/domains", json={"host": "big.example"}, headers=env.h("alice"))
    big = env.client.post("/v1/domains/big.example/verify", headers=env.h("alice")).json()
    assert not big["verified"] and "4096 bytes" in big["last_error"]


@pytest.mark.parametrize("host", ["https://alice.example", "127.0.0.1", "alice.example:8080", "alice.example/x",
                                  "localhost", "a" * 300 + ".com", ""])
def test_bad_hosts_are_refused(env: Env, host: str) -> None:
    r = env.client.post("/v1/domains", json={"host": host}, headers=env.h("alice"))
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert env.client.get("/v1/domains", headers=env.h("alice")).json()["items"] == []


def test_the_default_fetcher_does_not_reach_private_addresses() -> None:
    from registry.errors import InvalidInput

    fetch = https_fetcher(2.0, False, resolve=lambda host, port: ["127.0.0.1"])
    with pytest.raises(InvalidInput, match="public addresses"):
        fetch(f"https://alice.example{WELL_KNOWN}")


def test_only_creators_verify_domains_and_unclaimed_hosts_are_404(env: Env) -> None:
    assert env.client.post("/v1/domains", json={"host": "op.example"}, headers=env.h("op")).status_code == 403
    assert env.client.post("/v1/domains/never.example/verify", headers=env.h("alice")).status_code == 404

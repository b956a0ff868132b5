"""Notifications and webhooks: a receiver gets each event once, signed; failures are retried with backoff and
logged; private addresses are refused unless allowed."""

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from matcher.image.embed import Embedder
from registry.ids import utcnow
from service.clock import SettableClock
from service.webhooks import check_url, deliver_due, retry_at, verify_signature
from tests.conftest import FIXTURES, Env, open_env

SECRET = "s3cret-for-the-test-receiver"


class Receiver:
    """A local HTTP server that records what it receives; `fail` answers 500 to the next N requests."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                else:
                    receiver.received.append(({k: v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/provenance"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def open_env_private(tmp_path: Path, embedder: Embedder) -> Iterator[Env]:
    with open_env(tmp_path, embedder, allow_private_addresses=True, webhook_interval=0, dispute_interval=0) as e:
        yield e


def _image() -> bytes:
    return (FIXTURES / "images" / "chelsea.jpg").read_bytes()


def test_a_receiver_gets_each_event_once_signed(open_env_private: Env, receiver: Receiver) -> None:
    env = open_env_private
    clock = SettableClock()
    env.registry.set_clock(clock)
    made = env.client.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"], "secret": SECRET},
                           headers=env.h("alice"))
    assert made.status_code == 201 and made.json()["secret"] == SECRET
    op_hook = env.client.post("/v1/webhooks", json={"url": receiver.url, "events": ["dispute.answered",
                                                                                    "dispute.expired"]},
                              headers=env.h("op")).json()
    assert len(op_hook["secret"]) >= 32  # made by the registry, shown once
    assert "secret" not in json.dumps([h for h in env.client.get("/v1/webhooks", headers=env.h("op")).json()["items"]
                                       if h.get("secret")])

    work = env.enroll("alice", _image(), "cat.jpg").json()
    env.enroll("bob", _image(), "cat.jpg")  # work.contested for alice
    check = env.client.post("/v1/checks", files={"file": ("o.jpg", _image())}, headers=env.h("op")).json()
    d = env.client.post(f"/v1/checks/{check['id']}/disputes", json={"work_id": work["id"], "reason": "other"},
                        headers=env.h("op")).json()
    clock.advance(days=31)
    env.registry.disputes.expire_due()

    assert env.registry.deliver_webhooks() == 5
    assert env.registry.deliver_webhooks() == 0  # each once
    assert sorted(receiver.events()) == sorted(["work.contested", "work.matched", "dispute.opened",
                                                "dispute.expired", "dispute.expired"])
    assert all(json.loads(b)["subject"] == d["id"] for _, b in receiver.received
               if json.loads(b)["event"] == "dispute.expired")
    for headers, body in receiver.received:
        secret = SECRET if verify_signature(SECRET, headers["Provenance-Signature"], body) else op_hook["secret"]
        assert verify_signature(secret, headers["Provenance-Signature"], body)
        assert not verify_signature("wrong-secret-0123456789", headers["Provenance-Signature"], body)
        assert not verify_signature(secret, headers["Provenance-Signature"], body + b" ")
        assert headers["Provenance-Event"] == json.loads(body)["event"]
    inbox = env.client.get("/v1/notifications?unread=true", headers=env.h("alice")).json()
    assert inbox["unread"] == 4 and {n["event"] for n in inbox["items"]} == {"work.contested", "work.matched",
                                                                              "dispute.opened", "dispute.expired"}
    env.client.post("/v1/notifications/read", json={}, headers=env.h("alice"))
    assert env.client.get("/v1/notifications", headers=env.h("alice")).json()["unread"] == 0
    log = env.client.get(f"/v1/webhooks/{made.json()['id']}/deliveries", headers=env.h("alice")).json()["items"]
    assert len(log) == 4 and {x["status"] for x in log} == {"delivered"} and all(x["attempts"] == 1 for x in log)


def test_failed_deliveries_are_retried_with_backoff_then_given_up(open_env_private: Env, receiver: Receiver) -> None:
    env = open_env_private
    hook = env.client.post("/v1/webhooks", json={"url": receiver.url, "events": ["work.matched"]},
                           headers=env.h("alice")).json()
    env.enroll("alice", _image(), "cat.jpg")
    env.client.post("/v1/checks", files={"file": ("o.jpg", _image())}, headers=env.h("op"))
    receiver.fail = 2
    store = env.registry.store
    now = utcnow()
    kwargs: dict[str, Any] = {"timeout": 5.0, "allow_private": True, "max_attempts": 3}
    assert deliver_due(store, now, **kwargs) == 0
    assert deliver_due(store, now + timedelta(seconds=10), **kwargs) == 0  # not due yet (30 s backoff)
    assert deliver_due(store, now + timedelta(seconds=31), **kwargs) == 0  # second failure
    assert deliver_due(store, now + timedelta(seconds=92), **kwargs) == 1  # 60 s later: delivered
    log = env.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=env.h("alice")).json()["items"]
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 3 and log[0]["last_status"] == 204
    assert receiver.events() == ["work.matched"]
    assert retry_at(2, now, 3) is None  # the third failure is the last
    assert retry_at(3, now, 8) == now + timedelta(minutes=4)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/x",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "ftp://example.com/x",
                                 "http://user:pw@example.com/x", "not a url"])
def test_webhooks_to_private_addresses_or_odd_urls_are_refused(env: Env, url: str) -> None:
    r = env.client.post("/v1/webhooks", json={"url": url, "events": ["*"]}, headers=env.h("alice"))
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert env.client.get("/v1/webhooks", headers=env.h("alice")).json()["items"] == []


def test_a_name_that_resolves_to_a_private_address_is_refused_when_sent_too() -> None:
    from registry.errors import InvalidInput

    with pytest.raises(InvalidInput, match="private"):
        check_url("https://hooks.example.com/x", False, resolve=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    assert check_url("https://hooks.example.com/x", False, resolve=lambda h, p: ["93.184.216.34"])[3] == "93.184.216.34"


def test_bad_webhook_requests(env: Env) -> None:
    for body in [{"url": "https://example.com/x", "events": ["work.exploded"]},
                 {"url": "https://example.com/x", "events": []},
                 {"url": "https://example.com/x", "events": ["*"], "secret": "short"}]:
        r = env.client.post("/v1/webhooks", json=body, headers=env.h("alice"))
        assert r.status_code == 400 and r.json()["error"]["message"], body
    assert env.client.delete("/v1/webhooks/whk_nope", headers=env.h("alice")).status_code == 404
    assert env.client.get("/v1/notifications?cursor=ntf_nope", headers=env.h("alice")).status_code == 404

"""One paging convention for every list: `limit` and `cursor`, answered as `{"items", "next"}`, newest first;
following `next` visits every item exactly once, and items added meanwhile do not shift the pages."""

from typing import Any

import pytest

from tests.conftest import Env


def _all_pages(env: Env, path: str, who: str, limit: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = env.client.get(path, params=params, headers=env.h(who))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next"}
        pages.append(body["items"])
        cursor = body["next"]
        if cursor is None:
            return pages


def _texts(n: int) -> list[bytes]:
    return [f"Paging sample number {i}: ".encode() + " ".join(f"word{i}x{j}" for j in range(60)).encode()
            for i in range(n)]


def test_works_checks_and_disputes_page_newest_first_each_item_once(env: Env) -> None:
    ids = [env.enroll("alice", t, f"t{i}.txt").json()["id"] for i, t in enumerate(_texts(7))]
    pages = _all_pages(env, "/v1/works", "alice", 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [w["id"] for p in pages for w in p] == list(reversed(ids))
    for t in _texts(5):
        env.client.post("/v1/checks", files={"file": ("o.txt", t)}, headers=env.h("op"))
    first = env.client.get("/v1/checks", params={"limit": 2}, headers=env.h("op")).json()
    env.client.post("/v1/checks", files={"file": ("o.txt", _texts(1)[0])}, headers=env.h("op"))  # meanwhile
    seen = [c["id"] for c in first["items"]]
    cursor = first["next"]
    while cursor:
        body = env.client.get("/v1/checks", params={"limit": 2, "cursor": cursor}, headers=env.h("op")).json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next"]
    assert len(seen) == 5 == len(set(seen))  # the check made meanwhile is newer: the pages do not shift
    matches = _all_pages(env, f"/v1/works/{ids[0]}/matches", "alice", 1)
    assert sum(len(p) for p in matches) >= 1
    assert len([a for p in _all_pages(env, "/v1/audit/log", "audit", 7) for a in p]) == \
        env.registry.audit_size(env.registry.store.find_account("audit"))  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/v1/works", "/v1/checks", "/v1/disputes", "/v1/training-runs", "/v1/audit/log"])
def test_a_cursor_that_was_not_given_is_a_400(env: Env, path: str) -> None:
    who = {"/v1/works": "alice", "/v1/checks": "op", "/v1/disputes": "op", "/v1/training-runs": "op",
           "/v1/audit/log": "audit"}[path]
    r = env.client.get(path, params={"cursor": "not-a-cursor!"}, headers=env.h(who))
    assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]

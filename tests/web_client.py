"""A browser-like test client for the web pages: keeps cookies, asks for HTML, signs in through the form."""

import re

from litestar import Litestar
from litestar.testing import TestClient

TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str) -> str:  # type: ignore[type-arg]
    """The CSRF token the page at `path` puts in its forms."""
    found = TOKEN.search(client.get(path).text)
    assert found is not None, f"no CSRF token on {path}"
    return found.group(1)


def web_client(app: Litestar, key: str | None = None) -> TestClient:  # type: ignore[type-arg]
    """An entered client (the caller exits it), signed in with `key` when given."""
    client: TestClient = TestClient(app)  # type: ignore[type-arg]
    client.__enter__()
    client.headers["accept"] = "text/html"
    if key is not None:
        r = client.post("/signin", data={"key": key, "_csrf_token": csrf_token(client, "/signin")},
                        follow_redirects=False)
        assert r.status_code in (301, 302, 303), r.text
    return client

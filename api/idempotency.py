"""`Idempotency-Key` on the creating endpoints: a retried request gets the first answer, not a second work
or check. The answer is kept in the store for 24 hours, so every replica replays it; the same key with
another body is refused with 422, and a retry while the first request is still running gets 409.

Routes opt in with `opt={"idempotent": True}`; the middleware runs after authentication (answers are kept
per account) and after the body limit (the body it reads is bounded).
"""

import hashlib
import re

import anyio
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from api.deps import loaded_registry
from registry.errors import Conflict, IdempotencyKeyReused, InvalidInput
from registry.models import Account

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


def _request_hash(method: str, path: str, content_type: str, body: bytes) -> str:
    """What makes two requests the same one: method, path and content, with a multipart body's boundary left
    out (a client that rebuilds a retried upload picks a new random boundary)."""
    media, _, params = content_type.partition(";")
    boundary = next((p.strip().partition("=")[2].strip('"') for p in params.split(";")
                     if p.strip().lower().startswith("boundary=")), "")
    if boundary:
        body = body.replace(boundary.encode("latin-1"), b"")
    digest = hashlib.sha256(f"{method}\0{path}\0{media.strip().lower()}\0".encode())
    digest.update(body)
    return digest.hexdigest()


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        key = _header(scope, b"idempotency-key") if scope["type"] == ScopeType.HTTP else None
        account = scope.get("user")
        if key is None or handler is None or not handler.opt.get("idempotent") or not isinstance(account, Account):
            await self.app(scope, receive, send)
            return
        if not _KEY.match(key):
            raise InvalidInput("Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID, say)")
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        request_hash = _request_hash(str(scope.get("method", "")), scope["path"],
                                     _header(scope, b"content-type") or "", body)
        registry = loaded_registry(scope["app"].state)
        kept = await anyio.to_thread.run_sync(registry.claim_request, account, key, request_hash)
        if kept is not None:
            if kept.request_hash != request_hash:
                raise IdempotencyKeyReused("this Idempotency-Key was used for another request in the last 24 hours; "
                                           "use a new key for a new request")
            if kept.status is None:
                raise Conflict("a request with this Idempotency-Key is still being answered; retry in a moment")
            start: HTTPResponseStartEvent = {
                "type": "http.response.start", "status": kept.status,
                "headers": [(b"content-type", (kept.media_type or "application/json").encode()),
                            (b"idempotent-replayed", b"true")]}
            await send(start)
            done: HTTPResponseBodyEvent = {"type": "http.response.body", "body": (kept.body or "").encode(),
                                           "more_body": False}
            await send(done)
            return

        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status, media_type, out = 500, "application/json", bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, media_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                media_type = next((v.decode() for k, v in message.get("headers", []) if k.lower() == b"content-type"),
                                  media_type)
            elif message["type"] == "http.response.body":
                out.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay, capture)
        except BaseException:
            await anyio.to_thread.run_sync(registry.release_request, account, key)
            raise
        if status >= 500:
            await anyio.to_thread.run_sync(registry.release_request, account, key)
        else:
            text = bytes(out).decode("utf-8", errors="replace")
            await anyio.to_thread.run_sync(registry.finish_request, account, key, status, media_type, text)

"""Request bodies are bounded before they are buffered: a `Content-Length` over the limit is refused at
once, and a body streamed without one is cut as soon as it passes the limit.

Two limits: one file (`max_upload_bytes` and room for the form's other parts) for every route, and a batch
(`max_batch_bytes`) for the routes marked `opt={"batch_upload": True}` that take many files at once.
"""

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from registry.errors import ContentTooLarge

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields beside a file


class BodyLimit:
    def __init__(self, app: ASGIApp, single: int, batch: int) -> None:
        self.app, self.single, self.batch = app, single, batch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        batch = bool(handler is not None and handler.opt.get("batch_upload"))
        limit = self.batch if batch else self.single
        what = "a batch upload" if batch else "one upload"
        announced = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if announced is not None and announced.isdigit() and int(announced) > limit:
            raise ContentTooLarge(f"the request body is {int(announced)} bytes, over the limit of {limit} for "
                                  f"{what}; send a smaller file" + ("" if batch else " or use /v1/works/bulk"))
        received = 0

        async def limited() -> ReceiveMessage:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ContentTooLarge(f"the request body passed the limit of {limit} bytes for {what}; "
                                          "send a smaller file")
            return message

        await self.app(scope, limited, send)

"""Checks: submit an output (multipart upload or JSON text) and read the history of checks."""

from dataclasses import dataclass

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery

from api.auth import may
from api.deps import Timestamp, caller, decode_json, parse_time, read_form
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page, PageLimit, decode_cursor, next_cursor
from api.schemas import CheckOut, TextCheck
from registry.errors import InvalidInput, NotFound
from registry.models import Verdict, WorkKind
from registry.terms import PURPOSES
from service.access import UseCase
from service.registry import Registry

CHECK_DESCRIPTION = """Check a generated output against the registry.

Send either `multipart/form-data` with a `file` part (an image or UTF-8 text) and an optional `purpose` field,
or `application/json` `{"text": "...", "purpose": "..."}`, or `{"iscc": "ISCC:...", "purpose": "..."}` when
only the output's ISCC code is known (matched on its Content-Code within a calibrated distance). `purpose` is
`release` (default), `ai_training`, `ai_generative_training`, `ai_inference` or `data_mining`. The answer
holds the verdict and only the works above the decision threshold, best first, with their terms and the
evidence."""

_PURPOSE = Schema(type=OpenAPIType.STRING, enum=list(PURPOSES), default="release")


@dataclass
class CheckOperation(Operation):
    """The OpenAPI operation of `POST /v1/checks`, whose body the handler reads itself (two media types)."""

    def __post_init__(self) -> None:
        multipart = Schema(type=OpenAPIType.OBJECT, required=["file"], properties={
            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY,
                           description="The output to check: an image or UTF-8 text."),
            "purpose": _PURPOSE})
        text = Schema(type=OpenAPIType.OBJECT, additional_properties=False, properties={
            "text": Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL], min_length=1),
            "iscc": Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL], min_length=1, max_length=200),
            "purpose": _PURPOSE})
        self.request_body = RequestBody(required=True, content={
            "multipart/form-data": OpenAPIMediaType(schema=multipart),
            "application/json": OpenAPIMediaType(schema=text)})


class ChecksController(Controller):
    path = "/v1/checks"
    tags = ["checks"]

    @post("/", guards=[may(UseCase.CHECK)], operation_id="CreateCheck", status_code=200, opt={"idempotent": True},
          description=CHECK_DESCRIPTION, summary="Check an output: verdict, matched works, their terms.",
          operation_class=CheckOperation,
          responses=ERROR_RESPONSES)
    async def create(self, request: Request, registry: NamedDependency[Registry]) -> CheckOut:  # type: ignore[type-arg]
        account = caller(request)
        purpose: str
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = decode_json(await request.body(), TextCheck, "JSON body")
            if (body.text is None) == (body.iscc is None):
                raise InvalidInput('send one of "text" (the output) or "iscc" (its ISCC code), not both or neither')
            if body.iscc is not None:
                code = body.iscc
                check = await anyio.to_thread.run_sync(lambda: registry.check_code(account, code, str(body.purpose)))
                return CheckOut.of(check, registry.account_names())
            assert body.text is not None
            data, purpose, filename = body.text.encode("utf-8"), str(body.purpose), None
        elif content_type.startswith("multipart/form-data"):
            uploads, fields = await read_form(request, {"file": False}, {"purpose"})
            upload = uploads["file"][0]
            data, filename = await upload.read(), upload.filename
            purpose = fields.get("purpose", "release")
        else:
            raise InvalidInput("send multipart/form-data with a 'file' part, or JSON {\"text\": ...}")
        check = await anyio.to_thread.run_sync(registry.check, account, data, purpose, filename)
        return CheckOut.of(check, registry.account_names())

    @get("/", guards=[may(UseCase.LIST_CHECKS)], operation_id="ListChecks", sync_to_thread=True,
         summary="Checks, newest first: auditors see all, operators their own.",
         responses=ERROR_RESPONSES)
    def list_checks(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                    since: Timestamp = None, until: Timestamp = None,
                    work_id: FromQuery[str | None] = None, operator: FromQuery[str | None] = None,
                    verdict: FromQuery[Verdict | None] = None,
                    limit: PageLimit = 100, cursor: CursorParam = None) -> Page[CheckOut]:
        account = caller(request)
        flt = registry.check_filter(account, operator=operator, work_id=work_id, verdict=verdict,
                                    since=parse_time(since, "since"), until=parse_time(until, "until"),
                                    limit=limit + 1, before=decode_cursor(cursor))
        names = registry.account_names()
        checks = registry.list_checks(account, flt)
        return Page(items=[CheckOut.of(c, names) for c in checks[:limit]],
                    next=next_cursor(checks, limit, lambda c: (c.created_at, c.id)))

    @get("/{check_id:str}", guards=[may(UseCase.READ_CHECK)], operation_id="GetCheck", sync_to_thread=True,
         summary="A check: its operator, auditors, and creators whose works it matched (their matches only).",
         responses=ERROR_RESPONSES)
    def get_check(self, request: Request, registry: NamedDependency[Registry], check_id: FromPath[str]) -> CheckOut:  # type: ignore[type-arg]
        check = registry.get_check(caller(request), check_id)
        return CheckOut.of(check, registry.account_names())

    @get("/{check_id:str}/output", guards=[may(UseCase.READ_CHECK)], operation_id="GetCheckOutput",
         sync_to_thread=True, summary="The output a check was made on, when it was kept (outputs that matched).",
         responses=ERROR_RESPONSES)
    def output(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               check_id: FromPath[str]) -> Response[bytes]:
        check, data = registry.kept_output(caller(request), check_id)
        if data is None:
            raise NotFound(f"the output of check {check_id} was not kept (only outputs that matched a work are)")
        media = "text/plain; charset=utf-8" if check.kind == WorkKind.TEXT else "application/octet-stream"
        return Response(data, media_type=media, headers={
            "Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})

"""Checks: submit an output (multipart upload or JSON text) and read the history of checks."""

from dataclasses import dataclass

import anyio
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery

from api.auth import roles
from api.deps import Limit, Offset, Timestamp, caller, decode_json, owner_names, parse_time, read_form
from api.errors import ERROR_RESPONSES
from api.schemas import CheckOut, TextCheck
from registry.errors import InvalidInput, NotFound
from registry.models import CheckFilter, Role, Verdict
from registry.service import Registry
from registry.terms import PURPOSES

CHECK_DESCRIPTION = """Check a generated output against the registry.

Send either `multipart/form-data` with a `file` part (an image or UTF-8 text) and an optional `purpose`
field, or `application/json` `{"text": "...", "purpose": "..."}`. `purpose` is `release` (default),
`ai_training`, `ai_generative_training`, `ai_inference` or `data_mining`. The answer holds the verdict and
only the works above the decision threshold, best first, with their terms and the evidence."""

_PURPOSE = Schema(type=OpenAPIType.STRING, enum=list(PURPOSES), default="release")


@dataclass
class CheckOperation(Operation):
    """The OpenAPI operation of `POST /v1/checks`, whose body the handler reads itself (two media types)."""

    def __post_init__(self) -> None:
        multipart = Schema(type=OpenAPIType.OBJECT, required=["file"], properties={
            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY,
                           description="The output to check: an image or UTF-8 text."),
            "purpose": _PURPOSE})
        text = Schema(type=OpenAPIType.OBJECT, required=["text"], additional_properties=False, properties={
            "text": Schema(type=OpenAPIType.STRING, min_length=1), "purpose": _PURPOSE})
        self.request_body = RequestBody(required=True, content={
            "multipart/form-data": OpenAPIMediaType(schema=multipart),
            "application/json": OpenAPIMediaType(schema=text)})


class ChecksController(Controller):
    path = "/v1/checks"
    tags = ["checks"]

    @post("/", guards=[roles(Role.OPERATOR)], operation_id="CreateCheck", status_code=200,
          description=CHECK_DESCRIPTION, summary="Check an output: verdict, matched works, their terms.",
          operation_class=CheckOperation,
          responses=ERROR_RESPONSES)
    async def create(self, request: Request, registry: NamedDependency[Registry]) -> CheckOut:  # type: ignore[type-arg]
        account = caller(request)
        purpose: str
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = decode_json(await request.body(), TextCheck, "JSON body")
            data, purpose, filename = body.text.encode("utf-8"), str(body.purpose), None
        elif content_type.startswith("multipart/form-data"):
            uploads, fields = await read_form(request, {"file": False}, {"purpose"})
            upload = uploads["file"][0]
            data, filename = await upload.read(), upload.filename
            purpose = fields.get("purpose", "release")
        else:
            raise InvalidInput("send multipart/form-data with a 'file' part, or JSON {\"text\": ...}")
        check = await anyio.to_thread.run_sync(registry.check, account, data, purpose, filename)
        return CheckOut.of(check, owner_names(registry))

    @get("/", guards=[roles(Role.OPERATOR, Role.AUDITOR)], operation_id="ListChecks", sync_to_thread=True,
         summary="Checks, newest first: auditors see all, operators their own.",
         responses=ERROR_RESPONSES)
    def list_checks(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                    since: Timestamp = None, until: Timestamp = None,
                    work_id: FromQuery[str | None] = None, operator: FromQuery[str | None] = None,
                    verdict: FromQuery[Verdict | None] = None,
                    limit: Limit = 100, offset: Offset = 0) -> list[CheckOut]:
        account = caller(request)
        since_at, until_at = parse_time(since, "since"), parse_time(until, "until")
        account_id = None
        if account.role == Role.OPERATOR:
            account_id = account.id
        elif operator:
            found = registry.store.find_account(operator)
            if found is None:
                return []
            account_id = found.id
        checks = registry.store.list_checks(CheckFilter(
            account_id=account_id, work_id=work_id, verdict=verdict,
            since=since_at, until=until_at,
            limit=limit, offset=offset))
        names = owner_names(registry)
        return [CheckOut.of(c, names) for c in checks]

    @get("/{check_id:str}", guards=[roles(Role.OPERATOR, Role.AUDITOR)], operation_id="GetCheck",
         sync_to_thread=True,
         responses=ERROR_RESPONSES)
    def get_check(self, request: Request, registry: NamedDependency[Registry], check_id: FromPath[str]) -> CheckOut:  # type: ignore[type-arg]
        account = caller(request)
        check = registry.store.get_check(check_id)
        if account.role == Role.OPERATOR and check.account_id != account.id:
            raise NotFound(f"no check {check_id}")
        return CheckOut.of(check, owner_names(registry))

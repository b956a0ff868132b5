"""Bulk lookups for training: may these items be used for this purpose? (JSON, NDJSON or files)."""

from dataclasses import dataclass

import anyio
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery

from api.auth import may
from api.deps import caller, decode_json, read_form
from api.errors import ERROR_RESPONSES
from api.schemas import LookupOut, LookupRequest
from registry.errors import InvalidInput
from registry.terms import TDM_KEYS
from service.access import UseCase
from service.lookups import MAX_FILES, MAX_ITEMS, FileItem, LookupItem
from service.registry import Registry

LOOKUP_DESCRIPTION = f"""May each item be used for `purpose` (`ai_training` by default; also
`ai_generative_training`, `ai_inference`, `data_mining`)? Send up to {MAX_ITEMS:,} items:

* `application/json`: `{{"purpose": "ai_training", "items": [{{"id": "...", "sha256": "...", "pdq": "...",
  "url": "...", "text": "..."}}]}}`; each item has its `id` and at least one of the other fields;
* `application/x-ndjson`: one item per line, the purpose as the `purpose` query parameter;
* `multipart/form-data`: up to {MAX_FILES} `files` parts (matched fully, as checks are) and a `purpose` field.

SHA-256 and URLs (normalised) are looked up exactly, PDQ hashes within the calibrated distance, texts and
files are matched as checks are. One result per item, in order: `allowed`, and `reason` `no_match`,
`allowed`, `reserved` (a matched work says notAllowed) or `constrained` (allowed only on conditions: not
allowed without a licence, as CAWG reads it), with the matched works. The lookup is kept (read it again at
`GET /v1/lookups/{{id}}`) and audited with the item count and a digest of the items."""

_PURPOSE = Schema(type=OpenAPIType.STRING, enum=list(TDM_KEYS), default="ai_training")
_OPTIONAL = [OpenAPIType.STRING, OpenAPIType.NULL]  # null is the same as leaving the field out
_ITEM = Schema(type=OpenAPIType.OBJECT, required=["id"], additional_properties=False, properties={
    "id": Schema(type=OpenAPIType.STRING, min_length=1, max_length=200),
    "sha256": Schema(type=_OPTIONAL, pattern="^[0-9a-fA-F]{64}$"),
    "pdq": Schema(type=_OPTIONAL, pattern="^[0-9a-fA-F]{64}$"),
    "url": Schema(type=_OPTIONAL, format=OpenAPIFormat.URI, max_length=2000),
    "text": Schema(type=_OPTIONAL, min_length=1)})


@dataclass
class LookupOperation(Operation):
    """The OpenAPI operation of `POST /v1/lookups`, whose body the handler reads itself (three media types)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={
            "application/json": OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.OBJECT, required=["items"], additional_properties=False,
                properties={"purpose": _PURPOSE,
                            "items": Schema(type=OpenAPIType.ARRAY, items=_ITEM, max_items=MAX_ITEMS)})),
            "application/x-ndjson": OpenAPIMediaType(schema=_ITEM),
            "multipart/form-data": OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.OBJECT, required=["files"], properties={
                    "files": Schema(type=OpenAPIType.ARRAY, max_items=MAX_FILES,
                                    items=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)),
                    "purpose": _PURPOSE}))})


_item_decoder = msgspec.json.Decoder(LookupItem)


def ndjson_items(body: bytes) -> list[LookupItem]:
    """One item per non-blank line; a bad line is refused by its number."""
    items: list[LookupItem] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        if len(items) >= MAX_ITEMS:
            raise InvalidInput(f"a lookup holds at most {MAX_ITEMS} items; line {number} is one too many: "
                               "split the batch")
        try:
            items.append(_item_decoder.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise InvalidInput(f"line {number} (item {len(items)}) is invalid: {exc}", item=len(items)) from None
    return items


async def read_items(request: Request) -> tuple[str | None, list[LookupItem], list[FileItem]]:  # type: ignore[type-arg]
    """The purpose named in the body (None when it names none) and the items or files of a lookup body:
    JSON `{"purpose", "items"}`, NDJSON (one item a line) or multipart `files` (and a `purpose` field)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = decode_json(await request.body(), LookupRequest, "JSON body")
        return body.purpose, body.items, []
    if content_type == "application/x-ndjson":
        return None, ndjson_items(await request.body()), []
    if content_type == "multipart/form-data":
        uploads, fields = await read_form(request, {"files": True}, {"purpose"})
        files = [FileItem(id=u.filename or str(n), filename=u.filename, data=await u.read())
                 for n, u in enumerate(uploads["files"])]
        return fields.get("purpose"), [], files
    raise InvalidInput("send application/json {\"purpose\", \"items\"}, application/x-ndjson (one item a line) "
                       "or multipart/form-data with 'files' parts")


class LookupsController(Controller):
    path = "/v1/lookups"
    tags = ["lookups"]

    @post("/", guards=[may(UseCase.LOOKUP)], operation_id="CreateLookup", status_code=200,
          description=LOOKUP_DESCRIPTION, operation_class=LookupOperation, opt={"batch_upload": True},
          summary="Bulk lookup for training: allowed or not, per item, with the matched works.",
          responses=ERROR_RESPONSES)
    async def create(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                     purpose: FromQuery[str | None] = None) -> LookupOut:
        account = caller(request)
        given, items, files = await read_items(request)
        if purpose is not None and given is not None and purpose != given:
            raise InvalidInput("give the purpose once: in the body or as the query parameter")
        chosen = given if given is not None else purpose if purpose is not None else "ai_training"
        lookup = await anyio.to_thread.run_sync(registry.lookup, account, chosen, items, files)
        return LookupOut.of(lookup, registry.account_names())

    @get("/{lookup_id:str}", guards=[may(UseCase.READ_LOOKUP)], operation_id="GetLookup", sync_to_thread=True,
         summary="A lookup and its per-item results: its operator and auditors.", responses=ERROR_RESPONSES)
    def get_lookup(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   lookup_id: FromPath[str]) -> LookupOut:
        return LookupOut.of(registry.get_lookup(caller(request), lookup_id), registry.account_names())

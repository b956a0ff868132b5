"""Works: enroll, list, read, change terms, withdraw, and the checks that matched a work."""

from dataclasses import dataclass
from typing import Annotated

import anyio
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from api.auth import may
from api.controllers.training import included_out
from api.deps import caller, decode_json, read_form
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page, PageLimit, decode_cursor, next_cursor
from api.schemas import CheckOut, EnrolledOut, WorkMetadata, WorkOut, WorkRunOut, WorkUpdate
from registry.errors import InvalidInput
from registry.models import WorkStatus
from service.access import UseCase
from service.jobs import Job
from service.registry import Registry

BULK_DESCRIPTION = """Enroll many files at once: `multipart/form-data` with one or more `files` parts and an
optional JSON `metadata` part (`license`, `opt_outs`) applied to every file; each file's title is its
name. Answers 202 with a job; poll `GET /v1/jobs/{id}` for each file's outcome (enrolled, skipped as
already enrolled, or rejected with the reason)."""


_METADATA = Schema(type=OpenAPIType.STRING, content_media_type="application/json",
                   description="JSON object: title, license, opt_outs (all optional)")


@dataclass
class EnrollOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["file"], additional_properties=False, properties={
                "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY), "metadata": _METADATA}))})


@dataclass
class BulkOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["files"], additional_properties=False, properties={
                "files": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING,
                                                                     format=OpenAPIFormat.BINARY)),
                "metadata": _METADATA}))})


class WorksController(Controller):
    path = "/v1/works"
    tags = ["works"]

    @post("/", guards=[may(UseCase.ENROLL)], operation_id="EnrollWork", status_code=201, opt={"idempotent": True},
          operation_class=EnrollOperation,
          summary="Enroll a work (multipart: `file`, optional JSON `metadata`).",
          responses=ERROR_RESPONSES)
    async def enroll(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                     if_unique: FromQuery[bool] = False) -> EnrolledOut:
        account = caller(request)
        uploads, fields = await read_form(request, {"file": False}, {"metadata"})
        meta = decode_json(fields["metadata"], WorkMetadata, "metadata") if "metadata" in fields else WorkMetadata()
        upload = uploads["file"][0]
        content = await upload.read()
        enrolled = await anyio.to_thread.run_sync(lambda: registry.enroll_work(
            account, content, title=meta.title or upload.filename or None, license=meta.license,
            opt_outs=meta.opt_outs, filename=upload.filename, locations=meta.locations, if_unique=if_unique,
            publish=meta.publish, offers=meta.offers))
        return EnrolledOut.of_enrollment(enrolled, account.name)

    @post("/bulk", guards=[may(UseCase.ENROLL)], operation_id="EnrollBulk", status_code=202,
          description=BULK_DESCRIPTION, summary="Enroll many files in a background job.",
          operation_class=BulkOperation, opt={"batch_upload": True, "idempotent": True},
          responses=ERROR_RESPONSES)
    async def enroll_bulk(self, request: Request, registry: NamedDependency[Registry]) -> Job:  # type: ignore[type-arg]
        account = caller(request)
        uploads, fields = await read_form(request, {"files": True}, {"metadata"})
        meta = decode_json(fields["metadata"], WorkMetadata, "metadata") if "metadata" in fields else WorkMetadata()
        if meta.locations:
            raise InvalidInput("locations name the places of one work: enroll it alone with them, or set each "
                               "work's locations with PATCH /v1/works/{id} after the job")
        if meta.offers is not None or meta.publish is not None:
            raise InvalidInput("a bulk job takes license and opt_outs only: set offers and publish as your account's "
                               "defaults first (PUT /v1/me/defaults), or per work with PATCH /v1/works/{id}")
        files = [(u.filename or f"file-{i}", await u.read()) for i, u in enumerate(uploads["files"])]
        return registry.submit_job(account, files, meta.license, meta.opt_outs)

    @get("/", guards=[may(UseCase.LIST_WORKS)], operation_id="ListWorks", sync_to_thread=True,
         summary="A creator's own works, newest first; auditors see all.",
         responses=ERROR_RESPONSES)
    def list_works(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   status: FromQuery[WorkStatus | None] = None, limit: PageLimit = 100,
                   cursor: CursorParam = None) -> Page[WorkOut]:
        works = registry.list_works(caller(request), status=status, limit=limit + 1, newest_first=True,
                                    before=decode_cursor(cursor))
        names = registry.account_names()
        return Page(items=[WorkOut.of(w, names.get(w.owner_id, w.owner_id)) for w in works[:limit]],
                    next=next_cursor(works, limit, lambda w: (w.created_at, w.id)))

    @get("/{work_id:str}", guards=[may(UseCase.READ_WORK)], operation_id="GetWork", sync_to_thread=True,
         summary="A work: its owner, auditors and admins.", responses=ERROR_RESPONSES)
    def get_work(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                 work_id: FromPath[str]) -> Response[WorkOut]:
        work = registry.get_work(caller(request), work_id)
        out = WorkOut.of(work, registry.account_names().get(work.owner_id, work.owner_id))
        return Response(out, headers={"ETag": out.etag})

    @get("/{work_id:str}/original", guards=[may(UseCase.READ_WORK)], operation_id="GetWorkOriginal",
         sync_to_thread=True, summary="The enrolled file of a work, as enrolled (its owner only).",
         responses=ERROR_RESPONSES)
    def original(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                 work_id: FromPath[str]) -> Response[bytes]:
        work, data = registry.original(caller(request), work_id)
        return Response(data, media_type=work.media_type, headers={
            "Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})

    @patch("/{work_id:str}", guards=[may(UseCase.CHANGE_WORK)], operation_id="UpdateWorkTerms",
           sync_to_thread=True, summary="Change the license, opt-out fields and locations named (owner only); audited.",
           description="Fields not named keep their values; a use named in `opt_outs` is replaced whole. "
                       "With `If-Match: <ETag>`, a work changed since is refused with 412.",
           responses=ERROR_RESPONSES)
    def update(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str],  # type: ignore[type-arg]
               data: JSONBody[WorkUpdate],
               if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None) -> Response[WorkOut]:
        work = registry.update_terms(caller(request), work_id, data.license, data.opt_outs, if_match=if_match,
                                     locations=data.locations, publish=data.publish, offers=data.offers)
        out = WorkOut.of(work, registry.account_names().get(work.owner_id, work.owner_id))
        return Response(out, headers={"ETag": out.etag})

    @get("/{work_id:str}/training-runs", guards=[may(UseCase.READ_WORK)], operation_id="ListWorkTrainingRuns",
         sync_to_thread=True, summary="The training runs that included a work (its owner, auditors).",
         responses=ERROR_RESPONSES)
    def training_runs(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                      work_id: FromPath[str]) -> Page[WorkRunOut]:
        names = registry.account_names()
        return Page(items=[WorkRunOut(run_id=run.id, name=run.name, model=run.model, purpose=run.purpose,
                                      status=run.status, operator=names.get(run.account_id, run.account_id),
                                      included=included_out(included))
                           for run, included in registry.work_training_runs(caller(request), work_id)])

    @delete("/{work_id:str}", guards=[may(UseCase.CHANGE_WORK)], operation_id="WithdrawWork", status_code=200,
            sync_to_thread=True, summary="Withdraw a work: no longer matched, kept in the record.",
            responses=ERROR_RESPONSES)
    def withdraw(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str]) -> WorkOut:  # type: ignore[type-arg]
        work = registry.withdraw(caller(request), work_id)
        return WorkOut.of(work, registry.account_names().get(work.owner_id, work.owner_id))

    @post("/{work_id:str}/restore", guards=[may(UseCase.CHANGE_WORK)], operation_id="RestoreWork", status_code=200,
          sync_to_thread=True, summary="Restore a withdrawn work: matched again (contested if another owner's "
                                       "active work has its content now).", responses=ERROR_RESPONSES)
    def restore(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str]) -> WorkOut:  # type: ignore[type-arg]
        work = registry.restore(caller(request), work_id)
        return WorkOut.of(work, registry.account_names().get(work.owner_id, work.owner_id))

    @get("/{work_id:str}/matches", guards=[may(UseCase.READ_WORK)], operation_id="WorkMatches",
         sync_to_thread=True, summary="The checks that matched this work (its owner, or auditors); a creator "
                                      "sees only the matches on their own works.",
         responses=ERROR_RESPONSES)
    def matches(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str],  # type: ignore[type-arg]
                limit: PageLimit = 100, cursor: CursorParam = None) -> Page[CheckOut]:
        checks = registry.work_matches(caller(request), work_id, limit + 1, before=decode_cursor(cursor))
        names = registry.account_names()
        return Page(items=[CheckOut.of(c, names) for c in checks[:limit]],
                    next=next_cursor(checks, limit, lambda c: (c.created_at, c.id)))

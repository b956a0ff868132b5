"""Disputes of matches and appeals, ownership conflicts: the operator disputes, the owner answers within 30
days, the operator appeals once within 7, an admin decides; an admin resolves ownership conflicts."""

from dataclasses import dataclass

import anyio
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import may
from api.deps import caller, read_form
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page, PageLimit, decode_cursor, next_cursor
from api.schemas import AppealDecision, ConflictResolve, DisputeCreate, NoteIn
from registry.claims import ConflictStatus, Dispute, DisputeStatus, Exclusion, OwnershipConflict
from service.access import UseCase
from service.ownership import for_review
from service.registry import Registry

DISPUTE_DESCRIPTION = """Dispute one match of your check (`work_id`, `reason`: misidentified, licensed,
public_domain, exception or other, and a `note`). The work's owner upholds or releases it within 30 days,
else it expires as released; an upheld dispute can be appealed once within 7 days, and an admin decides. A
released match leaves the check's verdict (the check keeps its history in `revisions`), and the same output
no longer matches that work for you."""

EXCLUSION_DESCRIPTION = """Content that must never match, such as a public-domain source a work builds on:
an output that matches it at least as closely as it matches a work in its scope does not match that work.
Creators exclude content for one of their works (`work_id`); admins for one work or every work."""


class CheckDisputesController(Controller):
    path = "/v1/checks/{check_id:str}/disputes"
    tags = ["disputes"]

    @post("/", guards=[may(UseCase.DISPUTE)], operation_id="DisputeMatch", status_code=201, sync_to_thread=True,
          summary="Dispute a match of your check.", description=DISPUTE_DESCRIPTION, responses=ERROR_RESPONSES)
    def create(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               check_id: FromPath[str], data: JSONBody[DisputeCreate]) -> Dispute:
        return registry.disputes.open(caller(request), check_id, data.work_id, data.reason, data.note)


class DisputesController(Controller):
    path = "/v1/disputes"
    tags = ["disputes"]

    @get("/", guards=[may(UseCase.READ_DISPUTES)], operation_id="ListDisputes", sync_to_thread=True,
         summary="Disputes, newest first: an operator's own, a creator's (of their works), auditors all.",
         responses=ERROR_RESPONSES)
    def list_disputes(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                      status: FromQuery[DisputeStatus | None] = None, check_id: FromQuery[str | None] = None,
                      limit: PageLimit = 100, cursor: CursorParam = None) -> Page[Dispute]:
        found = registry.disputes.list(caller(request), status, check_id, limit + 1, before=decode_cursor(cursor))
        return Page(items=found[:limit], next=next_cursor(found, limit, lambda d: (d.opened_at, d.id)))

    @get("/{dispute_id:str}", guards=[may(UseCase.READ_DISPUTES)], operation_id="GetDispute", sync_to_thread=True,
         summary="A dispute and its history: its operator, the work's owner, auditors.", responses=ERROR_RESPONSES)
    def get_dispute(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                    dispute_id: FromPath[str]) -> Dispute:
        return registry.disputes.get(caller(request), dispute_id)

    @post("/{dispute_id:str}/uphold", guards=[may(UseCase.ANSWER_DISPUTE)], operation_id="UpholdDispute",
          status_code=200, sync_to_thread=True, summary="The owner upholds the match (the operator may appeal).",
          responses=ERROR_RESPONSES)
    def uphold(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               dispute_id: FromPath[str], data: JSONBody[NoteIn]) -> Dispute:
        return registry.disputes.act(caller(request), dispute_id, "uphold", data.note)

    @post("/{dispute_id:str}/release", guards=[may(UseCase.ANSWER_DISPUTE)], operation_id="ReleaseDispute",
          status_code=200, sync_to_thread=True, summary="The owner releases the match: it leaves the verdict.",
          responses=ERROR_RESPONSES)
    def release(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                dispute_id: FromPath[str], data: JSONBody[NoteIn]) -> Dispute:
        return registry.disputes.act(caller(request), dispute_id, "release", data.note)

    @post("/{dispute_id:str}/appeal", guards=[may(UseCase.DISPUTE)], operation_id="AppealDispute",
          status_code=200, sync_to_thread=True, summary="The operator appeals an upheld dispute (once, in 7 days).",
          responses=ERROR_RESPONSES)
    def appeal(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               dispute_id: FromPath[str], data: JSONBody[NoteIn]) -> Dispute:
        return registry.disputes.act(caller(request), dispute_id, "appeal", data.note)

    @post("/{dispute_id:str}/decide", guards=[may(UseCase.DECIDE_APPEAL)], operation_id="DecideAppeal",
          status_code=200, sync_to_thread=True, summary="An admin decides an appeal: uphold or release.",
          responses=ERROR_RESPONSES)
    def decide(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               dispute_id: FromPath[str], data: JSONBody[AppealDecision]) -> Dispute:
        action = "appeal_upheld" if data.outcome == "uphold" else "appeal_released"
        return registry.disputes.act(caller(request), dispute_id, action, data.note)


class ConflictsController(Controller):
    path = "/v1/conflicts"
    tags = ["conflicts"]

    @get("/", guards=[may(UseCase.READ_CONFLICTS)], operation_id="ListConflicts", sync_to_thread=True,
         summary="Ownership conflicts, newest first: a creator's own (without the other account), auditors all.",
         responses=ERROR_RESPONSES)
    def list_conflicts(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                       status: FromQuery[ConflictStatus | None] = None, limit: PageLimit = 100,
                       cursor: CursorParam = None) -> Page[OwnershipConflict]:
        found = registry.conflicts.list(caller(request), status, limit + 1, before=decode_cursor(cursor))
        return Page(items=for_review(found[:limit]), next=next_cursor(found, limit, lambda c: (c.created_at, c.id)))

    @get("/{conflict_id:str}", guards=[may(UseCase.READ_CONFLICTS)], operation_id="GetConflict",
         sync_to_thread=True, summary="An ownership conflict.", responses=ERROR_RESPONSES)
    def get_conflict(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                     conflict_id: FromPath[str]) -> OwnershipConflict:
        return registry.conflicts.get(caller(request), conflict_id)

    @post("/{conflict_id:str}/resolve", guards=[may(UseCase.RESOLVE_CONFLICT)], operation_id="ResolveConflict",
          status_code=200, sync_to_thread=True,
          summary="An admin resolves a conflict: `keep` earlier, newer or both, with a note.",
          responses=ERROR_RESPONSES)
    def resolve(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                conflict_id: FromPath[str], data: JSONBody[ConflictResolve]) -> OwnershipConflict:
        return registry.conflicts.resolve(caller(request), conflict_id, data.keep, data.note)


@dataclass
class ExclusionOperation(Operation):
    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING)
        self.request_body = RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["file"], additional_properties=False, properties={
                "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                "work_id": text, "note": text}))})


class ExclusionsController(Controller):
    path = "/v1/exclusions"
    tags = ["exclusions"]

    @post("/", guards=[may(UseCase.EXCLUDE)], operation_id="AddExclusion", status_code=201,
          operation_class=ExclusionOperation, summary="Exclude content from matching (multipart: `file`, "
          "`work_id`, `note`).", description=EXCLUSION_DESCRIPTION, responses=ERROR_RESPONSES)
    async def create(self, request: Request, registry: NamedDependency[Registry]) -> Exclusion:  # type: ignore[type-arg]
        uploads, fields = await read_form(request, {"file": False}, {"work_id", "note"})
        upload = uploads["file"][0]
        data = await upload.read()
        return await anyio.to_thread.run_sync(lambda: registry.exclusions.add(
            caller(request), data, upload.filename, fields.get("work_id") or None, fields.get("note", "")))

    @get("/", guards=[may(UseCase.READ_EXCLUSIONS)], operation_id="ListExclusions", sync_to_thread=True,
         summary="Exclusions in force, newest first: a creator's own, auditors all.", responses=ERROR_RESPONSES)
    def list_exclusions(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                        limit: PageLimit = 100, cursor: CursorParam = None) -> Page[Exclusion]:
        found = registry.exclusions.list(caller(request), limit + 1, before=decode_cursor(cursor))
        return Page(items=found[:limit], next=next_cursor(found, limit, lambda e: (e.created_at, e.id)))

    @get("/{exclusion_id:str}", guards=[may(UseCase.READ_EXCLUSIONS)], operation_id="GetExclusion",
         sync_to_thread=True, summary="An exclusion.", responses=ERROR_RESPONSES)
    def get_exclusion(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                      exclusion_id: FromPath[str]) -> Exclusion:
        return registry.exclusions.get(caller(request), exclusion_id)

    @delete("/{exclusion_id:str}", guards=[may(UseCase.EXCLUDE)], operation_id="RemoveExclusion", status_code=200,
            sync_to_thread=True, summary="Remove an exclusion (its creator, or an admin).", responses=ERROR_RESPONSES)
    def remove(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               exclusion_id: FromPath[str]) -> Exclusion:
        return registry.exclusions.remove(caller(request), exclusion_id)

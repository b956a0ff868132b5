"""Disputes of matches and appeals, ownership conflicts: the operator disputes, the owner answers within 30
days, the operator appeals once within 7, an admin decides; an admin resolves ownership conflicts."""

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import may
from api.deps import Limit, Offset, caller
from api.errors import ERROR_RESPONSES
from api.schemas import AppealDecision, ConflictResolve, DisputeCreate, NoteIn
from registry.claims import ConflictStatus, Dispute, DisputeStatus, OwnershipConflict
from service.access import UseCase
from service.registry import Registry

DISPUTE_DESCRIPTION = """Dispute one match of your check (`work_id`, `reason`: misidentified, licensed,
public_domain, exception or other, and a `note`). The work's owner upholds or releases it within 30 days,
else it expires as released; an upheld dispute can be appealed once within 7 days, and an admin decides. A
released match leaves the check's verdict (the check keeps its history in `revisions`), and the same output
no longer matches that work for you."""


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
                      limit: Limit = 100, offset: Offset = 0) -> list[Dispute]:
        return registry.disputes.list(caller(request), status, check_id, limit, offset)

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
                       status: FromQuery[ConflictStatus | None] = None, limit: Limit = 100,
                       offset: Offset = 0) -> list[OwnershipConflict]:
        return registry.conflicts.list(caller(request), status, limit, offset)

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

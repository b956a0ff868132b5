"""Training runs: an operator records which items went into a model; the registry keeps which enrolled works
they matched, on what terms, and which went against a reservation."""

import anyio
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import may
from api.controllers.lookups import LookupOperation, read_items
from api.deps import Limit, caller
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page, PageLimit, decode_cursor, next_cursor
from api.schemas import IncludedWorkOut, IncludedWorksPage, TrainingRunOut
from registry.errors import InvalidInput
from registry.models import IncludedWork
from service.access import UseCase
from service.registry import Registry
from service.training import NewTrainingRun

ITEMS_DESCRIPTION = """Add a batch of the run's items, in the lookup item shape (`{"items": [...]}` as JSON,
one item a line as `application/x-ndjson`, or multipart `files`); at most 10,000 items or 100 files a
batch. Every enrolled work they match is included in the run with its terms and opt-outs as they are now,
and flagged as a violation when its use for the run's purpose is not `allowed`. A closed run is 409."""


def included_out(w: IncludedWork) -> IncludedWorkOut:
    return IncludedWorkOut(work_id=w.work_id, use=w.use, violation=w.violation, items=w.items, license=w.license,
                           opt_outs=w.opt_outs, first_at=w.first_at)


class TrainingRunsController(Controller):
    path = "/v1/training-runs"
    tags = ["training runs"]

    @post("/", guards=[may(UseCase.RECORD_TRAINING)], operation_id="CreateTrainingRun", status_code=201,
          sync_to_thread=True, summary="Start recording a training run (`name`, `model`, `purpose`).",
          responses=ERROR_RESPONSES)
    def create(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               data: JSONBody[NewTrainingRun]) -> TrainingRunOut:
        run = registry.start_training_run(caller(request), data)
        return TrainingRunOut.of(run, registry.account_names())

    @post("/{run_id:str}/items", guards=[may(UseCase.RECORD_TRAINING)], operation_id="AddTrainingItems",
          status_code=200, description=ITEMS_DESCRIPTION, operation_class=LookupOperation,
          opt={"batch_upload": True}, summary="Add a batch of items to an open run.", responses=ERROR_RESPONSES)
    async def add_items(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                        run_id: FromPath[str]) -> TrainingRunOut:
        account = caller(request)
        purpose, items, files = await read_items(request)
        if purpose is not None:
            raise InvalidInput("a run's items take the run's purpose: leave 'purpose' out")
        run = await anyio.to_thread.run_sync(registry.add_training_items, account, run_id, items, files)
        return TrainingRunOut.of(run, registry.account_names())

    @post("/{run_id:str}/close", guards=[may(UseCase.RECORD_TRAINING)], operation_id="CloseTrainingRun",
          status_code=200, sync_to_thread=True, summary="Close a run: its record is frozen.",
          responses=ERROR_RESPONSES)
    def close(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
              run_id: FromPath[str]) -> TrainingRunOut:
        return TrainingRunOut.of(registry.close_training_run(caller(request), run_id), registry.account_names())

    @get("/", guards=[may(UseCase.READ_TRAINING_RUN)], operation_id="ListTrainingRuns", sync_to_thread=True,
         summary="Training runs, newest first: operators their own, auditors all.", responses=ERROR_RESPONSES)
    def list_runs(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                  limit: PageLimit = 100, cursor: CursorParam = None) -> Page[TrainingRunOut]:
        names = registry.account_names()
        runs = registry.list_training_runs(caller(request), limit + 1, before=decode_cursor(cursor))
        return Page(items=[TrainingRunOut.of(r, names) for r in runs[:limit]],
                    next=next_cursor(runs, limit, lambda r: (r.created_at, r.id)))

    @get("/{run_id:str}", guards=[may(UseCase.READ_TRAINING_RUN)], operation_id="GetTrainingRun",
         sync_to_thread=True, summary="A run: its items, its works by use, its violations (operator, auditors).",
         responses=ERROR_RESPONSES)
    def get_run(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                run_id: FromPath[str]) -> TrainingRunOut:
        return TrainingRunOut.of(registry.get_training_run(caller(request), run_id), registry.account_names())

    @get("/{run_id:str}/works", guards=[may(UseCase.READ_TRAINING_RUN)], operation_id="ListTrainingRunWorks",
         sync_to_thread=True, summary="The works a run included, page by page (`cursor` from `next`).",
         responses=ERROR_RESPONSES)
    def works(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
              run_id: FromPath[str], cursor: FromQuery[str] = "", limit: Limit = 100) -> IncludedWorksPage:
        page = registry.training_run_works(caller(request), run_id, cursor, limit + 1)
        more = len(page) > limit
        page = page[:limit]
        return IncludedWorksPage(works=[included_out(w) for w in page],
                                 next=page[-1].work_id if more and page else None)


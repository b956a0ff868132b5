"""Works: enroll, list, read, change terms, withdraw, and the checks that matched a work."""

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody

from api.auth import roles
from api.deps import Limit, Offset, caller, decode_json
from api.schemas import CheckOut, WorkMetadata, WorkOut, WorkUpdate
from registry.errors import NotFound
from registry.models import Account, CheckFilter, Role, Work, WorkStatus
from registry.service import Registry


@dataclass
class WorkUpload:
    file: UploadFile
    metadata: str | None = None


def owned_work(registry: Registry, account: Account, work_id: str, *, read_only: bool = False) -> Work:
    """The work if `account` may see it (its owner; auditors and admins for reading), else 404."""
    try:
        work = registry.store.get_work(work_id)
    except NotFound:
        raise NotFound(f"no work {work_id}") from None
    if work.owner_id == account.id or account.role == Role.ADMIN:
        return work
    if read_only and account.role == Role.AUDITOR:
        return work
    raise NotFound(f"no work {work_id}")


def owner_names(registry: Registry) -> dict[str, str]:
    return {a.id: a.name for a in registry.store.list_accounts()}


class WorksController(Controller):
    path = "/v1/works"
    tags = ["works"]

    @post("/", guards=[roles(Role.CREATOR)], operation_id="EnrollWork", status_code=201, sync_to_thread=True,
          summary="Enroll a work (multipart: `file`, optional JSON `metadata`).")
    def enroll(self, request: Request,  # type: ignore[type-arg]
               data: Annotated[WorkUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
               registry: NamedDependency[Registry]) -> WorkOut:
        account = caller(request)
        meta = decode_json(data.metadata, WorkMetadata, "metadata") if data.metadata else WorkMetadata()
        content = data.file.file.read()
        work = registry.enroll(account, content, title=meta.title or data.file.filename or None,
                               license=meta.license, opt_outs=meta.opt_outs, filename=data.file.filename)
        return WorkOut.of(work, account.name)

    @get("/", guards=[roles(Role.CREATOR, Role.AUDITOR)], operation_id="ListWorks", sync_to_thread=True,
         summary="A creator's own works; auditors see all.")
    def list_works(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   status: FromQuery[WorkStatus | None] = None, limit: Limit = 100,
                   offset: Offset = 0) -> list[WorkOut]:
        account = caller(request)
        owner = None if account.role in (Role.AUDITOR, Role.ADMIN) else account.id
        works = registry.store.list_works(owner_id=owner, status=status, limit=limit, offset=offset)
        names = owner_names(registry)
        return [WorkOut.of(w, names.get(w.owner_id, w.owner_id)) for w in works]

    @get("/{work_id:str}", guards=[roles(Role.CREATOR, Role.AUDITOR)], operation_id="GetWork",
         sync_to_thread=True)
    def get_work(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str]) -> WorkOut:  # type: ignore[type-arg]
        work = owned_work(registry, caller(request), work_id, read_only=True)
        return WorkOut.of(work, owner_names(registry).get(work.owner_id, work.owner_id))

    @patch("/{work_id:str}", guards=[roles(Role.CREATOR)], operation_id="UpdateWorkTerms", sync_to_thread=True,
           summary="Change a work's license and opt-outs (owner only); each change is audited.")
    def update(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str],  # type: ignore[type-arg]
               data: JSONBody[WorkUpdate]) -> WorkOut:
        account = caller(request)
        owned_work(registry, account, work_id)
        work = registry.store.update_terms(work_id, data.license, data.opt_outs, account.id)
        return WorkOut.of(work, owner_names(registry).get(work.owner_id, work.owner_id))

    @delete("/{work_id:str}", guards=[roles(Role.CREATOR)], operation_id="WithdrawWork", status_code=200,
            sync_to_thread=True, summary="Withdraw a work: no longer matched, kept in the record.")
    def withdraw(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str]) -> WorkOut:  # type: ignore[type-arg]
        account = caller(request)
        owned_work(registry, account, work_id)
        work = registry.withdraw(work_id, account.id)
        return WorkOut.of(work, owner_names(registry).get(work.owner_id, work.owner_id))

    @get("/{work_id:str}/matches", guards=[roles(Role.CREATOR, Role.AUDITOR)], operation_id="WorkMatches",
         sync_to_thread=True, summary="The checks that matched this work (its owner, or auditors).")
    def matches(self, request: Request, registry: NamedDependency[Registry], work_id: FromPath[str],  # type: ignore[type-arg]
                limit: Limit = 100, offset: Offset = 0) -> list[CheckOut]:
        owned_work(registry, caller(request), work_id, read_only=True)
        checks = registry.store.list_checks(CheckFilter(work_id=work_id, limit=limit, offset=offset))
        names = owner_names(registry)
        return [CheckOut.of(c, names) for c in checks]



"""Keys (admin), the audit log (auditor) and health (public)."""

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import roles
from api.deps import Limit, caller
from api.errors import ERROR_RESPONSES
from api.schemas import AccountOut, KeyCreate, KeyOut
from registry.jobs import Job
from registry.models import Role
from registry.service import Registry


class KeysController(Controller):
    path = "/v1/keys"
    tags = ["keys"]
    guards = [roles(Role.ADMIN)]

    @post("/", operation_id="CreateKey", status_code=201, sync_to_thread=True,
          summary="Create an account (if new) and an API key for it; the key is shown once.",
          responses=ERROR_RESPONSES)
    def create(self, request: Request, registry: NamedDependency[Registry], data: JSONBody[KeyCreate]) -> KeyOut:  # type: ignore[type-arg]
        key, secret = registry.create_key(data.name, Role(data.role), caller(request).id)
        return KeyOut(id=key.id, prefix=key.prefix, account=data.name, role=data.role,
                      created_at=key.created_at, key=secret)

    @get("/", operation_id="ListKeys", sync_to_thread=True,
         responses=ERROR_RESPONSES)
    def list_keys(self, registry: NamedDependency[Registry]) -> list[KeyOut]:
        accounts = {a.id: a for a in registry.store.list_accounts()}
        return [KeyOut(id=k.id, prefix=k.prefix, account=accounts[k.account_id].name,
                       role=accounts[k.account_id].role.value, created_at=k.created_at, revoked_at=k.revoked_at)
                for k in registry.store.list_keys()]

    @delete("/{key_id:str}", operation_id="RevokeKey", status_code=200, sync_to_thread=True,
            summary="Revoke a key; it is refused from the next request on.",
            responses=ERROR_RESPONSES)
    def revoke(self, request: Request, registry: NamedDependency[Registry], key_id: FromPath[str]) -> KeyOut:  # type: ignore[type-arg]
        key = registry.store.revoke_key(key_id, caller(request).id)
        account = registry.store.get_account(key.account_id)
        return KeyOut(id=key.id, prefix=key.prefix, account=account.name, role=account.role.value,
                      created_at=key.created_at, revoked_at=key.revoked_at)


class JobsController(Controller):
    path = "/v1/jobs"
    tags = ["works"]
    guards = [roles(Role.CREATOR)]

    @get("/{job_id:str}", operation_id="GetJob", sync_to_thread=False, summary="A bulk enrollment job's progress.",
         responses=ERROR_RESPONSES)
    def get_job(self, request: Request, registry: NamedDependency[Registry], job_id: FromPath[str]) -> Job:  # type: ignore[type-arg]
        account = caller(request)
        return registry.jobs.get(job_id, None if account.role == Role.ADMIN else account.id)


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    guards = [roles(Role.AUDITOR)]

    @get("/log", operation_id="AuditLog", sync_to_thread=True, summary="Audit entries after `after`, in order.",
         responses=ERROR_RESPONSES)
    def log(self, registry: NamedDependency[Registry], after: FromQuery[int] = 0,
            limit: Limit = 100) -> list[dict[str, Any]]:
        import msgspec

        return [msgspec.to_builtins(e) for e in registry.store.audit_entries(after, limit)]

    @get("/verify", operation_id="AuditVerify", sync_to_thread=True, summary="Recompute the hash chain.",
         responses=ERROR_RESPONSES)
    def verify(self, registry: NamedDependency[Registry]) -> dict[str, Any]:
        import msgspec

        report: dict[str, Any] = msgspec.to_builtins(registry.store.verify_audit())
        return report


class MeController(Controller):
    path = "/v1/me"
    tags = ["keys"]

    @get("/", operation_id="WhoAmI", summary="The account behind the key in use.",
         responses=ERROR_RESPONSES)
    async def me(self, request: Request) -> AccountOut:  # type: ignore[type-arg]
        return AccountOut.of(caller(request))


@get("/v1/health", operation_id="Health", tags=["health"], exclude_from_auth=True, security=[{}],
     summary="200 once models and indexes are loaded, 503 before.")
async def health(request: Request) -> Response[dict[str, Any]]:  # type: ignore[type-arg]
    registry: NamedDependency[Registry] | None = getattr(request.app.state, "registry", None)
    if registry is None:
        return Response({"status": "starting"}, status_code=503)
    return Response({"status": "ok", "matchers": {k.value: m.version for k, m in registry.matchers.items()},
                     "works_indexed": {k.value: len(m.work_ids()) for k, m in registry.matchers.items()}})

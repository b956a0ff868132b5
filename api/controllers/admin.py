"""Keys (admin), the audit log (auditor) and health (public)."""

from typing import Any

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.auth import may
from api.deps import AfterSeq, SeqParam, caller, decode_json
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page, PageLimit
from api.schemas import AccountOut, KeyCreate, KeyOut
from registry.audit import ChainReport
from registry.errors import InvalidInput
from registry.models import Account, AuditEntry, Role, SignedTreeHead
from registry.terms import LicenseTerms, Offer, OptOuts, Publication
from service.access import UseCase
from service.jobs import Job
from service.registry import KeyInfo, Registry


class KeysController(Controller):
    path = "/v1/keys"
    tags = ["keys"]
    guards = [may(UseCase.MANAGE_KEYS)]

    @post("/", operation_id="CreateKey", status_code=201, opt={"idempotent": True}, sync_to_thread=True,
          summary="Create an account (if new) and an API key for it; the key is shown once.",
          responses=ERROR_RESPONSES)
    def create(self, request: Request, registry: NamedDependency[Registry], data: JSONBody[KeyCreate]) -> KeyOut:  # type: ignore[type-arg]
        key, secret = registry.issue_key(caller(request), data.name, Role(data.role))
        return KeyOut(id=key.id, prefix=key.prefix, account=data.name, role=data.role,
                      created_at=key.created_at, key=secret)

    @get("/", operation_id="ListKeys", sync_to_thread=True,
         responses=ERROR_RESPONSES)
    def list_keys(self, request: Request, registry: NamedDependency[Registry]) -> Page[KeyOut]:  # type: ignore[type-arg]
        return Page(items=[_key_out(k) for k in registry.list_keys(caller(request))])

    @delete("/{key_id:str}", operation_id="RevokeKey", status_code=200, sync_to_thread=True,
            summary="Revoke a key; it is refused from the next request on.",
            responses=ERROR_RESPONSES)
    def revoke(self, request: Request, registry: NamedDependency[Registry], key_id: FromPath[str]) -> KeyOut:  # type: ignore[type-arg]
        return _key_out(registry.revoke_key(caller(request), key_id))


def _key_out(info: KeyInfo) -> KeyOut:
    k = info.key
    return KeyOut(id=k.id, prefix=k.prefix, account=info.account.name, role=info.account.role.value,
                  created_at=k.created_at, revoked_at=k.revoked_at)


class JobsController(Controller):
    path = "/v1/jobs"
    tags = ["works"]
    guards = [may(UseCase.ENROLL)]

    @get("/{job_id:str}", operation_id="GetJob", sync_to_thread=False, summary="A bulk enrollment job's progress.",
         responses=ERROR_RESPONSES)
    def get_job(self, request: Request, registry: NamedDependency[Registry], job_id: FromPath[str]) -> Job:  # type: ignore[type-arg]
        return registry.get_job(caller(request), job_id)


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    guards = [may(UseCase.READ_AUDIT)]

    @get("/log", operation_id="AuditLog", sync_to_thread=True,
         summary="Audit entries in chain order (oldest first), from `cursor` (or after entry `after`).",
         responses=ERROR_RESPONSES)
    def log(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
            after: AfterSeq = 0, limit: PageLimit = 100, cursor: CursorParam = None) -> Page[AuditEntry]:
        start = after
        if cursor:
            if not cursor.isdigit() or len(cursor) > 18:
                raise InvalidInput(f"cursor {cursor[:40]!r} is not one this API gave: pass the `next` of a page")
            start = int(cursor)
        entries = registry.audit_entries(caller(request), start, limit + 1)
        return Page(items=entries[:limit], next=str(entries[limit - 1].seq) if len(entries) > limit else None)

    @get("/verify", operation_id="AuditVerify", sync_to_thread=True, summary="Recompute the hash chain.",
         responses=ERROR_RESPONSES)
    def verify(self, request: Request, registry: NamedDependency[Registry]) -> ChainReport:  # type: ignore[type-arg]
        return registry.verify_audit(caller(request))


class Defaults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a creator's new works get unless the enrollment says otherwise."""

    license: LicenseTerms | None = None
    opt_outs: OptOuts | None = None
    publish: Publication | None = None
    offers: list[Offer] = []

    @classmethod
    def of(cls, account: Account) -> "Defaults":
        return cls(license=account.default_license, opt_outs=account.default_opt_outs,
                   publish=account.default_publish, offers=list(account.default_offers))


class LogKey(msgspec.Struct, kw_only=True):
    key_id: str
    public_key_pem: str
    algorithm: str = "Ed25519"


class InclusionProof(msgspec.Struct, kw_only=True):
    seq: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


class ConsistencyProof(msgspec.Struct, kw_only=True):
    first: int
    second: int
    consistency: list[str]


PUBLIC = {"exclude_from_auth": True}


class TransparencyController(Controller):
    """The audit log as a transparency log: anyone (no key) may fetch heads and proofs and verify them."""

    path = "/v1/audit"
    tags = ["audit"]
    opt = PUBLIC
    security = [{}]

    @get("/head", operation_id="AuditHead", sync_to_thread=True,
         summary="The log's signed tree head: size, Merkle root, time, Ed25519 signature (no key needed).",
         responses=ERROR_RESPONSES)
    def head(self, registry: NamedDependency[Registry]) -> SignedTreeHead:
        return registry.tree_head()

    @get("/key", operation_id="AuditKey", sync_to_thread=True, summary="The public key that signs the heads.")
    def key(self, registry: NamedDependency[Registry]) -> LogKey:
        pem, key_id = registry.log_key()
        return LogKey(key_id=key_id, public_key_pem=pem)

    @get("/proof/inclusion", operation_id="AuditInclusionProof", sync_to_thread=True,
         summary="The audit path of entry `seq` in the tree of `tree_size` entries (RFC 9162).",
         responses=ERROR_RESPONSES)
    def inclusion(self, registry: NamedDependency[Registry], seq: SeqParam, tree_size: SeqParam) -> InclusionProof:
        leaf, path = registry.inclusion_proof(seq, tree_size)
        return InclusionProof(seq=seq, tree_size=tree_size, leaf_hash=leaf, audit_path=path)

    @get("/proof/consistency", operation_id="AuditConsistencyProof", sync_to_thread=True,
         summary="Proof that the tree of `second` entries extends the tree of `first` entries (RFC 9162).",
         responses=ERROR_RESPONSES)
    def consistency(self, registry: NamedDependency[Registry], first: SeqParam, second: SeqParam) -> ConsistencyProof:
        return ConsistencyProof(first=first, second=second, consistency=registry.consistency_proof(first, second))


class MeController(Controller):
    path = "/v1/me"
    tags = ["keys"]

    @get("/", operation_id="WhoAmI", summary="The account behind the key in use.",
         responses=ERROR_RESPONSES)
    async def me(self, request: Request) -> AccountOut:  # type: ignore[type-arg]
        return AccountOut.of(caller(request))

    @get("/defaults", guards=[may(UseCase.ENROLL)], operation_id="GetDefaults", sync_to_thread=True,
         summary="The terms and publication choices your new works get (creators).", responses=ERROR_RESPONSES)
    def defaults(self, request: Request) -> Defaults:  # type: ignore[type-arg]
        return Defaults.of(caller(request))

    @put("/defaults", guards=[may(UseCase.ENROLL)], operation_id="SetDefaults",
         summary="Set the licence, opt-outs and publication choices your new works get (creators); audited.",
         description="Fields left out (or null) fall back to the registry's defaults; works enrolled already "
                     "keep theirs.", responses=ERROR_RESPONSES)
    async def set_defaults(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                           data: JSONBody[Defaults]) -> Defaults:
        strict = decode_json(await request.body(), Defaults, "JSON body")  # litestar's decoding takes 0 for false
        account = await anyio.to_thread.run_sync(lambda: registry.set_defaults(
            caller(request), strict.license, strict.opt_outs, strict.publish or Publication(), strict.offers))
        return Defaults.of(account)


@get("/v1/health", operation_id="Health", tags=["health"], exclude_from_auth=True, security=[{}],
     summary="Readiness: 200 once models and indexes are loaded and current, 503 before or while they lag.")
async def health(request: Request) -> Response[dict[str, Any]]:  # type: ignore[type-arg]
    registry: Registry | None = getattr(request.app.state, "registry", None)
    if registry is None:
        return Response({"status": "starting"}, status_code=503)
    body = await anyio.to_thread.run_sync(registry.health)
    lag: dict[str, float] = body["index_lag"]  # type: ignore[assignment]
    server = request.app.state.settings.server
    if lag["pending_changes"] > server.max_index_lag_changes or lag["oldest_seconds"] > server.max_index_lag_seconds:
        return Response({"status": "lagging", **body}, status_code=503)
    return Response({"status": "ok", **body})


@get("/v1/health/live", operation_id="Liveness", tags=["health"], exclude_from_auth=True, security=[{}],
     summary="Liveness: 200 while the process answers (even while it loads).")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@get("/metrics", operation_id="Metrics", tags=["health"], exclude_from_auth=True, security=[{}],
     summary="Prometheus metrics (text format).", media_type="text/plain; version=0.0.4")
async def metrics(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
    from prometheus_client import generate_latest

    return Response(generate_latest(request.app.state.metrics.registry), media_type="text/plain; version=0.0.4")

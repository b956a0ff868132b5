"""What anyone may read without a key: a work's signed declaration, its TDM policy, the signing key, and the
C2PA soft-binding resolution endpoints (`/v1/matches/...`, public unless `PROVENANCE_PUBLIC_MATCHING=false`)."""

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from api.controllers.admin import LogKey
from api.deps import optional_account, public_base
from api.errors import ERROR_RESPONSES
from api.ratelimit import PublicLimiter
from registry.errors import Unauthenticated
from service.publication import BindingMatches
from service.registry import Registry

DECLARATION_DESCRIPTION = """The work's reservation in every vocabulary crawlers and trainers read: the CAWG
`cawg.training-mining` entries, IPTC `plus:DataMining`, TDMRep (`tdm-reservation`, `tdm-policy`), AIPREF
`Content-Usage`, `X-Robots-Tag`; its licence, ISCC code and SHA-256. The same values go in the response headers
(`tdm-reservation`, `tdm-policy`, `Content-Usage`, `X-Robots-Tag`). Signed with the registry's Ed25519 key
(`GET /public/key`): `signature` is base64 Ed25519 over the RFC 8785 (JCS) canonical JSON of the declaration
without its `signature` member, also sent in the `Provenance-Signature` header. Title, owner and locations
appear only when the creator publishes them. A withdrawn work answers 410 with a signed notice and its date."""
MaxResults = Annotated[int, QueryParameter(ge=1, le=50, description="At most this many matches.")]


def _json(body: dict[str, Any], status: int = 200, media_type: str = "application/json",
          headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type=media_type,
                    headers={"Cache-Control": "no-cache", **(headers or {})})


class PublicController(Controller):
    path = "/public"
    tags = ["public"]
    opt = {"exclude_from_auth": True}

    @get("/works/{work_id:str}", operation_id="GetPublicDeclaration", sync_to_thread=True, security=[{}],
         summary="A work's signed public declaration (no key).", description=DECLARATION_DESCRIPTION,
         responses=ERROR_RESPONSES)
    def declaration(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                    work_id: FromPath[str]) -> Response[bytes]:
        limit_public(request)
        doc = registry.publication.declaration(work_id, public_base(request))
        headers = {"Provenance-Signature": f'keyid="{doc["key_id"]}", alg="ed25519", sig="{doc["signature"]}"'}
        if doc["status"] == "withdrawn":
            return _json(doc, status=410, headers=headers)
        tdm = doc["tdmrep"]
        headers["tdm-reservation"] = str(tdm["tdm-reservation"])
        if "tdm-policy" in tdm:
            headers["tdm-policy"] = tdm["tdm-policy"]
        headers["Content-Usage"] = doc["content_usage"]["value"]
        if doc["x_robots_tag"]:
            headers["X-Robots-Tag"] = doc["x_robots_tag"]
        return _json(doc, headers=headers)

    @get("/policies/{work_id:str}", operation_id="GetPublicPolicy", sync_to_thread=True, security=[{}],
         summary="A work's TDM policy: an ODRL 2.2 Offer with the TDMRep profile, JSON-LD (no key).",
         responses=ERROR_RESPONSES)
    def policy(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
               work_id: FromPath[str]) -> Response[bytes]:
        limit_public(request)
        return _json(registry.publication.policy(work_id, public_base(request)), media_type="application/ld+json")

    @get("/key", operation_id="GetPublicKey", sync_to_thread=True, security=[{}],
         summary="The Ed25519 public key that verifies declarations, the bank and the audit log's heads.")
    def key(self, registry: NamedDependency[Registry]) -> LogKey:
        pem, key_id = registry.log_key()
        return LogKey(key_id=key_id, public_key_pem=pem)


class MatchesController(Controller):
    """The C2PA Soft Binding Resolution API's lookups, answering the matching works' declarations."""

    path = "/v1/matches"
    tags = ["public"]
    opt = {"exclude_from_auth": True}  # public by default; the handlers ask for a key when the registry says so

    @get("/byBinding", operation_id="MatchesByBinding", sync_to_thread=True, security=[{}],
         summary="Works matching a soft-binding value: alg=io.iscc.v0 (an ISCC code) or alg=pdq (hex).",
         responses=ERROR_RESPONSES)
    def by_binding(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   alg: str, value: Annotated[str, QueryParameter(max_length=200)],
                   maxResults: MaxResults = 10) -> BindingMatches:
        _admit(request, registry)
        return registry.publication.by_binding(alg, value, public_base(request), maxResults)

    @post("/byContent", operation_id="MatchesByContent", status_code=200, security=[{}],
          summary="Works the posted content (the raw bytes of an image or a text) matches, as a check would.",
          responses=ERROR_RESPONSES)
    async def by_content(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                         maxResults: MaxResults = 10) -> BindingMatches:
        _admit(request, registry, PublicLimiter.MATCH_COST)
        data = await request.body()
        base = public_base(request)
        return await anyio.to_thread.run_sync(lambda: registry.publication.by_content(data, None, base, maxResults))


def _admit(request: Request, registry: Registry, cost: int = 1) -> None:  # type: ignore[type-arg]
    """Soft-binding resolution: a key, if sent, must be valid (and the key's own rate applies); without one,
    the registry must make resolution public and the caller's address is rate-limited."""
    if optional_account(request, registry) is not None:
        return
    if not request.app.state.settings.service.public_matching:
        raise Unauthenticated("send your API key as 'Authorization: Bearer <key>': this registry's soft-binding "
                              "resolution is not public")
    limit_public(request, cost)


def limit_public(request: Request, cost: int = 1) -> None:  # type: ignore[type-arg]
    limiter: PublicLimiter | None = getattr(request.app.state, "public_limiter", None)
    if limiter is not None:
        limiter.hit(request.client.host if request.client else "unknown", cost)

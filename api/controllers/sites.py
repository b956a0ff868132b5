"""Files a creator publishes on their own site, built from their works' locations and opt-outs: TDMRep's
`/.well-known/tdmrep.json`, Spawning's `ai.txt` and a robots.txt fragment for AI crawlers."""

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from api.auth import may
from api.deps import caller, public_base
from api.errors import ERROR_RESPONSES
from service.access import UseCase
from service.registry import Registry

Host = Annotated[str, QueryParameter(min_length=1, max_length=253, description="The site's host, e.g. example.com")]
TDMREP_DESCRIPTION = """The `/.well-known/tdmrep.json` for `host`: one rule per location of your works on that
host (`http` and `https` alike), each an exact path (`$`-anchored, `*` and `$` percent-encoded) with
`tdm-reservation` 1 and the work's `tdm-policy` when mining or AI training is reserved, else 0. TDMRep applies
the first rule that matches, so when two works share a path the reserved rule comes first. `reserve_rest=true`
(or `false`) adds a last catch-all rule `/` for every other path of the site. Publish the answer as is."""


class SiteFilesController(Controller):
    path = "/v1"
    tags = ["publishing"]

    @get("/tdmrep.json", guards=[may(UseCase.ENROLL)], operation_id="GetTdmrepJson", sync_to_thread=True,
         summary="tdmrep.json for one of your sites (creators).", description=TDMREP_DESCRIPTION,
         responses=ERROR_RESPONSES)
    def tdmrep(self, request: Request, registry: NamedDependency[Registry], host: Host,  # type: ignore[type-arg]
               reserve_rest: FromQuery[bool | None] = None) -> Response[bytes]:
        rules: list[dict[str, Any]] = registry.publication.tdmrep(caller(request), host, public_base(request),
                                                                  reserve_rest)
        return Response(msgspec.json.encode(rules), media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="tdmrep.json"'})

    @get("/ai.txt", guards=[may(UseCase.ENROLL)], operation_id="GetAiTxt", sync_to_thread=True,
         summary="Spawning's ai.txt for one of your sites: your works' paths disallowed for AI training.",
         media_type="text/plain", responses=ERROR_RESPONSES)
    def ai_txt(self, request: Request, registry: NamedDependency[Registry], host: Host) -> str:  # type: ignore[type-arg]
        return registry.publication.ai_txt(caller(request), host)

    @get("/robots.txt", guards=[may(UseCase.ENROLL)], operation_id="GetRobotsFragment", sync_to_thread=True,
         summary="A robots.txt fragment for AI crawlers, for one of your sites.", media_type="text/plain",
         responses=ERROR_RESPONSES)
    def robots(self, request: Request, registry: NamedDependency[Registry], host: Host) -> str:  # type: ignore[type-arg]
        return registry.publication.robots(caller(request), host)

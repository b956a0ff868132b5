"""Licences and payouts on the web: a creator's grant requests to answer, grants and earnings (with the works
and checks behind each amount); an operator's grants and pools; an auditor's ledger of pools, each with the
recomputation from the record."""

from typing import Literal

import anyio
from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.controllers.licensing import export
from api.web.render import OptionalQuery, WebRequest, flash, render
from api.web.session import WEB_PAGE, signed_in
from registry.errors import InvalidInput
from registry.models import Role
from service.access import UseCase


class LicensingPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/licensing", sync_to_thread=True)
    def overview(self, request: WebRequest) -> Template:
        account, registry = signed_in(request, UseCase.READ_GRANTS)
        now = registry.clock.now()
        grants = registry.licensing.grants(account, limit=200)
        statements = registry.licensing.creator_statements(account) if account.role == Role.CREATOR else []
        pools = registry.licensing.pools(account) if account.role in (Role.OPERATOR, Role.AUDITOR, Role.ADMIN) else []
        return render(request, "licensing.html", account, grants=grants, states={g.id: g.state(now) for g in grants},
                      statements=statements, pools=pools, names=registry.account_names())

    @post("/licensing/grants/{grant_id:str}/{outcome:str}")
    async def decide(self, request: WebRequest, grant_id: FromPath[str], outcome: FromPath[str]) -> Redirect:
        """Errors (a grant answered already, not of your works) are shown on the error page with their status."""
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.DECIDE_GRANT)
        form = await request.form()
        if outcome not in ("approve", "deny", "revoke"):
            raise InvalidInput(f"unknown action {outcome!r}: approve, deny or revoke")
        action: Literal["approve", "deny", "revoke"] = outcome  # type: ignore[assignment]
        note = str(form.get("note", ""))[:2000]
        grant = await anyio.to_thread.run_sync(lambda: registry.licensing.decide(account, grant_id, action, note))
        flash(request, "ok", f"Grant {grant.id} is {grant.status} now.")
        return Redirect("/licensing")

    @post("/licensing/pools/{pool_id:str}/close")
    async def close(self, request: WebRequest, pool_id: FromPath[str]) -> Redirect:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.MANAGE_POOLS)
        pool, lines = await anyio.to_thread.run_sync(registry.licensing.close, account, pool_id)
        flash(request, "ok", f"Pool “{pool.name}” closed: {len(lines)} statement lines.")
        return Redirect(f"/licensing/pools/{pool.id}")

    @get("/licensing/pools/{pool_id:str}/export", sync_to_thread=True)
    def export_pool(self, request: WebRequest, pool_id: FromPath[str], format: OptionalQuery = None) -> Response[bytes]:
        """A pool's statement lines as CSV or NDJSON, with the works and checks behind each amount."""
        account, registry = signed_in(request, UseCase.READ_POOLS)
        pool, lines = registry.licensing.statements(account, pool_id)
        return export(lines, registry.account_names(), format or "csv", f"statement-{pool.id}")

    @get("/licensing/earnings/export", sync_to_thread=True)
    def export_earnings(self, request: WebRequest, format: OptionalQuery = None) -> Response[bytes]:
        """A creator's own statement lines as CSV or NDJSON."""
        account, registry = signed_in(request, UseCase.READ_STATEMENTS)
        found = registry.licensing.creator_statements(account, 1000)
        return export([line for _, line in found], registry.account_names(), format or "csv", "statements")

    @get("/licensing/pools/{pool_id:str}", sync_to_thread=True)
    def pool(self, request: WebRequest, pool_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_POOLS)
        pool, lines = registry.licensing.statements(account, pool_id)
        check = registry.licensing.recompute(account, pool_id) if pool.status == "closed" else None
        return render(request, "pool.html", account, pool=pool, lines=lines, recomputed=check,
                      names=registry.account_names(), total=sum(li.allocated_minor for li in lines))

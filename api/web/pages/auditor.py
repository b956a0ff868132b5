"""Auditors: the whole check history with filters, the audit chain's status and log, and exports."""

from datetime import datetime
from urllib.parse import urlencode

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Stream, Template

from api.deps import loaded_registry, owner_names, parse_time
from api.web.chain import ChainMonitor, ChainStatus
from api.web.export import csv_lines, iter_checks, ndjson_lines
from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, pager, render
from api.web.session import WEB_PAGE, require, web_account
from registry.errors import InvalidInput
from registry.ids import utcnow
from registry.models import Account, CheckFilter, Role, Verdict
from registry.service import Registry

FILTERS = ("since", "until", "work_id", "operator", "verdict")
LOG_PAGE = 50


def _auditor(request: WebRequest) -> tuple[Account, Registry]:
    account = web_account(request)
    require(account, Role.AUDITOR)
    return account, loaded_registry(request.app.state)


def check_filter(registry: Registry, params: dict[str, str | None], *, until_default: datetime | None = None
                 ) -> CheckFilter | None:
    """The store filter for the form's values (None: an operator that does not exist, so nothing matches)."""
    verdict = params.get("verdict") or None
    if verdict is not None and verdict not in {v.value for v in Verdict}:
        raise InvalidInput(f"unknown verdict {verdict!r}; use one of {', '.join(v.value for v in Verdict)}")
    account_id = None
    if params.get("operator"):
        found = registry.store.find_account(str(params["operator"]).strip())
        if found is None:
            return None
        account_id = found.id
    return CheckFilter(account_id=account_id, work_id=(params.get("work_id") or "").strip() or None,
                       verdict=Verdict(verdict) if verdict else None,
                       since=parse_time(params.get("since") or None, "from"),
                       until=parse_time(params.get("until") or None, "until") or until_default)


def _chain(request: WebRequest, registry: Registry, full: bool) -> ChainStatus:
    monitor: ChainMonitor = request.app.state.chain_monitor
    return monitor.status(registry.store, full=full)


def _export(request: WebRequest, fmt: str, **params: str | None) -> Stream:
    """The history under the page's filters, as of now (checks made during the download are left out)."""
    _, registry = _auditor(request)
    flt = check_filter(registry, params, until_default=utcnow())
    rows = iter_checks(registry.store, flt) if flt is not None else iter(())
    if fmt == "csv":
        return Stream(csv_lines(rows, owner_names(registry)), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": 'attachment; filename="checks.csv"'})
    return Stream(ndjson_lines(rows, owner_names(registry)), media_type="application/x-ndjson",
                  headers={"Content-Disposition": 'attachment; filename="checks.ndjson"'})


class AuditorPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/audit", sync_to_thread=True)
    def history(self, request: WebRequest, since: OptionalQuery = None, until: OptionalQuery = None,
                work_id: OptionalQuery = None, operator: OptionalQuery = None, verdict: OptionalQuery = None,
                page: PageQuery = 1, recheck: FromQuery[bool] = False) -> Template:
        account, registry = _auditor(request)
        params = {"since": since, "until": until, "work_id": work_id, "operator": operator, "verdict": verdict}
        error, checks = None, []
        try:
            flt = check_filter(registry, params)
        except InvalidInput as exc:
            error, flt = exc.message, None
        if flt is not None:
            checks = registry.store.list_checks(msgspec.structs.replace(
                flt, limit=PAGE_SIZE + 1, offset=(max(1, page) - 1) * PAGE_SIZE))
        query = urlencode({k: v for k, v in params.items() if v})
        accounts = registry.store.list_accounts()
        return render(request, "checks.html", account, status_code=400 if error else 200, heading="Check history",
                      checks=checks[:PAGE_SIZE], names={a.id: a.name for a in accounts}, filters=params,
                      action="/audit",
                      show_all_filters=True, export_query=f"?{query}" if query else "", error=error,
                      chain=_chain(request, registry, recheck), recheck_url="/audit?recheck=true",
                      operators=sorted(a.name for a in accounts if a.role == Role.OPERATOR),
                      **pager("/audit", params, max(1, page), len(checks) > PAGE_SIZE))

    @get("/audit/export.csv", sync_to_thread=True)
    def export_csv(self, request: WebRequest, since: OptionalQuery = None, until: OptionalQuery = None,
                   work_id: OptionalQuery = None, operator: OptionalQuery = None,
                   verdict: OptionalQuery = None) -> Stream:
        return _export(request, "csv", since=since, until=until, work_id=work_id, operator=operator,
                       verdict=verdict)

    @get("/audit/export.ndjson", sync_to_thread=True)
    def export_ndjson(self, request: WebRequest, since: OptionalQuery = None, until: OptionalQuery = None,
                      work_id: OptionalQuery = None, operator: OptionalQuery = None,
                      verdict: OptionalQuery = None) -> Stream:
        return _export(request, "ndjson", since=since, until=until, work_id=work_id, operator=operator,
                       verdict=verdict)

    @get("/audit/log", sync_to_thread=True)
    def log(self, request: WebRequest, page: PageQuery = 1, recheck: FromQuery[bool] = False) -> Template:
        account, registry = _auditor(request)
        last = registry.store.last_seq()
        top = max(0, last - (max(1, page) - 1) * LOG_PAGE)
        after = max(0, top - LOG_PAGE)
        entries = list(reversed(registry.store.audit_entries(after, top - after))) if top else []
        return render(request, "audit_log.html", account, entries=entries, names=owner_names(registry),
                      chain=_chain(request, registry, recheck),
                      recheck_url="/audit/log?recheck=true", **pager("/audit/log", {}, max(1, page), after > 0))

"""Auditors: the whole check history with filters, the audit chain's status and log, and exports."""

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Stream, Template

from api.deps import parse_time
from api.web.export import csv_lines, ndjson_lines
from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, pager, render
from api.web.session import WEB_PAGE, signed_in
from registry.errors import InvalidInput
from registry.ids import utcnow
from registry.models import Account, AuditEntry, CheckFilter, SignedTreeHead, Verdict
from service.access import UseCase
from service.chain import ChainStatus
from service.registry import Registry

FILTERS = ("since", "until", "work_id", "operator", "verdict")
LOG_PAGE = 50


def check_filter(registry: Registry, account: Account, params: dict[str, str | None], *, limit: int = 100,
                 offset: int = 0, until_default: datetime | None = None) -> CheckFilter | None:
    """The filter for the form's values (None: an operator that does not exist, so nothing matches)."""
    verdict = params.get("verdict") or None
    if verdict is not None and verdict not in {v.value for v in Verdict}:
        raise InvalidInput(f"unknown verdict {verdict!r}; use one of {', '.join(v.value for v in Verdict)}")
    return registry.check_filter(
        account, operator=params.get("operator") or None, work_id=(params.get("work_id") or "").strip() or None,
        verdict=Verdict(verdict) if verdict else None, since=parse_time(params.get("since") or None, "from"),
        until=parse_time(params.get("until") or None, "until") or until_default, limit=limit, offset=offset)


def _chain(request: WebRequest, registry: Registry, account: Account, full: bool) -> ChainStatus:
    return registry.chain_status(account, full=full,
                                 recheck_seconds=request.app.state.settings.web.chain_recheck_seconds)


class Transparency(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    size: int
    problem: str | None
    last_signed: SignedTreeHead | None
    last_signed_at: datetime | None


def _transparency(registry: Registry, account: Account, full: bool) -> Transparency:
    status = registry.log_status(account, whole=full)
    when = (datetime.fromtimestamp(status.last_signed.timestamp / 1000, UTC) if status.last_signed else None)
    return Transparency(ok=status.ok, size=status.size, problem=status.problem, last_signed=status.last_signed,
                        last_signed_at=when)


def _export(request: WebRequest, fmt: str, **params: str | None) -> Stream:
    """The history under the page's filters, as of now (checks made during the download are left out)."""
    account, registry = signed_in(request, UseCase.READ_AUDIT)
    flt = check_filter(registry, account, params, until_default=utcnow())
    rows = registry.iter_checks(account, flt)
    names = registry.account_names()
    name = export_name(params, fmt)
    if fmt == "csv":
        return Stream(csv_lines(rows, names), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Stream(ndjson_lines(rows, names), media_type="application/x-ndjson",
                  headers={"Content-Disposition": f'attachment; filename="{name}"'})


def export_name(params: dict[str, str | None], fmt: str) -> str:
    """`checks-<filters>-<date>.<fmt>`, e.g. checks-verdict-blocked-operator-op-2026-11-27.csv: downloads with
    other filters or on other days do not overwrite each other."""
    parts = ["checks"]
    for key in ("verdict", "operator", "work_id", "since", "until"):
        value = params.get(key)
        if value:
            parts += [key.replace("_", "-"), re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:40].strip("-")]
    return "-".join([*parts, utcnow().strftime("%Y-%m-%d")]) + f".{fmt}"


class AuditorPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/audit", sync_to_thread=True)
    def history(self, request: WebRequest, since: OptionalQuery = None, until: OptionalQuery = None,
                work_id: OptionalQuery = None, operator: OptionalQuery = None, verdict: OptionalQuery = None,
                page: PageQuery = 1, recheck: FromQuery[bool] = False) -> Template:
        account, registry = signed_in(request, UseCase.READ_AUDIT)
        params = {"since": since, "until": until, "work_id": work_id, "operator": operator, "verdict": verdict}
        error, checks = None, []
        try:
            flt = check_filter(registry, account, params, limit=PAGE_SIZE + 1, offset=(max(1, page) - 1) * PAGE_SIZE)
        except InvalidInput as exc:
            error, flt = exc.message, None
        checks = registry.list_checks(account, flt)
        query = urlencode({k: v for k, v in params.items() if v})
        return render(request, "checks.html", account, status_code=400 if error else 200, heading="Check history",
                      checks=checks[:PAGE_SIZE], names=registry.account_names(), filters=params,
                      action="/audit",
                      show_all_filters=True, export_query=f"?{query}" if query else "", error=error,
                      chain=_chain(request, registry, account, recheck), recheck_url="/audit?recheck=true",
                      rechecked=recheck,
                      transparency=_transparency(registry, account, recheck),
                      operators=registry.operator_names(account),
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
        account, registry = signed_in(request, UseCase.READ_AUDIT)
        last = registry.audit_size(account)
        top = max(0, last - (max(1, page) - 1) * LOG_PAGE)
        after = max(0, top - LOG_PAGE)
        entries = list(reversed(registry.audit_entries(account, after, top - after))) if top else []
        return render(request, "audit_log.html", account, entries=entries, names=registry.account_names(),
                      changes={e.seq: changed_fields(e.details) for e in entries}, links=subject_links(entries),
                      chain=_chain(request, registry, account, recheck), rechecked=recheck,
                      transparency=_transparency(registry, account, recheck),
                      recheck_url="/audit/log?recheck=true", **pager("/audit/log", {}, max(1, page), after > 0))


SUBJECT_PAGES = {"wrk_": "/works/", "chk_": "/checks/", "dsp_": "/disputes/", "cfl_": "/conflicts/",
                 "run_": "/training-runs/", "lku_": "/lookups/"}


def subject_links(entries: list[AuditEntry]) -> dict[int, str]:
    """The page of each entry's subject, where there is one (works, checks, disputes, conflicts, runs)."""
    links = {}
    for e in entries:
        for prefix, page in SUBJECT_PAGES.items():
            if e.subject.startswith(prefix):
                links[e.seq] = page + e.subject
    return links


def changed_fields(details: dict[str, Any], prefix: str = "") -> list[tuple[str, str, str]]:
    """For an entry with `before` and `after` (terms, locations): each field that changed, as text."""
    before, after = details.get("before"), details.get("after")
    if before is None and after is None:
        return []
    return _diff(before, after, prefix)


def _diff(before: Any, after: Any, path: str) -> list[tuple[str, str, str]]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple[str, str, str]] = []
        for key in sorted(set(before) | set(after)):
            out += _diff(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return out
    if before == after:
        return []
    return [(path or "value", json.dumps(before), json.dumps(after))]


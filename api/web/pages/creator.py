"""Creators: their works, enrollment of many files at once, terms, withdrawal, and the matches of each work."""

import json
from typing import Any

import anyio
import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.deps import loaded_registry, owner_names, read_form
from api.errors import status_for_code
from api.web.evidence import summary
from api.web.forms import TERMS_FIELDS, terms_from_form
from api.web.pages.shared import build_pair, text_preview
from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, flash, pager, render
from api.web.session import WEB_PAGE, require, web_account
from registry.errors import NotFound, ProvenanceError
from registry.jobs import enroll_file
from registry.models import Account, CheckFilter, Role, Work, WorkKind, WorkStatus
from registry.service import Registry
from registry.terms import LicenseTerms, OptOuts


class Outcome(msgspec.Struct, kw_only=True):
    """What became of one uploaded file."""

    filename: str
    outcome: str  # enrolled, already_enrolled or rejected
    message: str
    status: int
    work_id: str | None = None
    code: str | None = None


def _creator(request: WebRequest) -> tuple[Account, Registry]:
    account = web_account(request)
    require(account, Role.CREATOR)
    return account, loaded_registry(request.app.state)


def _own_work(registry: Registry, account: Account, work_id: str) -> Work:
    """The creator's own work, else 404 (another creator's work does not exist for them)."""
    try:
        work = registry.store.get_work(work_id)
    except NotFound:
        raise NotFound(f"no work {work_id}") from None
    if work.owner_id != account.id:
        raise NotFound(f"no work {work_id}")
    return work


def enroll_one(registry: Registry, account: Account, upload: tuple[str, bytes], license: LicenseTerms,
               opt_outs: OptOuts) -> Outcome:
    """One uploaded file through the bulk enrollment's `enroll_file`, as the page reports it."""
    done = enroll_file(registry.enroll, account, *upload, license, opt_outs)
    if done.status == "enrolled":
        return Outcome(filename=done.filename, outcome="enrolled", status=201, message="enrolled",
                       work_id=done.work_id)
    if done.status == "skipped":
        return Outcome(filename=done.filename, outcome="already_enrolled", status=409, code=done.code,
                       message=f"as {done.work_id}", work_id=done.work_id)
    return Outcome(filename=done.filename, outcome="rejected", status=status_for_code(done.code or ""),
                   code=done.code, message=done.error or "rejected")


class CreatorPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/works", sync_to_thread=True)
    def works(self, request: WebRequest, status: OptionalQuery = None, page: PageQuery = 1) -> Template:
        account, registry = _creator(request)
        wanted = WorkStatus(status) if status in ("active", "withdrawn") else None
        found = registry.store.list_works(owner_id=account.id, status=wanted, limit=PAGE_SIZE + 1,
                                          offset=(max(1, page) - 1) * PAGE_SIZE, newest_first=True)
        shown = found[:PAGE_SIZE]
        snippets = {w.id: text_preview(registry, w, 240)[0] for w in shown if w.kind == WorkKind.TEXT}
        return render(request, "works.html", account, works=shown, snippets=snippets, status=status or "",
                      match_counts=registry.store.match_counts([w.id for w in shown]),
                      **pager("/works", {"status": status}, max(1, page), len(found) > PAGE_SIZE))

    @get("/works/enroll", sync_to_thread=True)
    def enroll_form(self, request: WebRequest) -> Template:
        account, registry = _creator(request)
        return render(request, "enroll.html", account, max_mb=registry.settings.max_upload_bytes // 2**20,
                      license=account.default_license or LicenseTerms(),
                      opt_outs=account.default_opt_outs or OptOuts())

    @post("/works/defaults")
    async def save_defaults(self, request: WebRequest) -> Redirect:
        """The enrollment page's terms become this creator's defaults (for the web, the API and the CLI)."""
        account, registry = await anyio.to_thread.run_sync(_creator, request)
        form = await request.form()
        license, opt_outs = terms_from_form({k: v for k, v in form.items() if isinstance(v, str)})
        await anyio.to_thread.run_sync(
            lambda: registry.store.set_account_defaults(account.id, license, opt_outs, account.id))
        flash(request, "ok", "Saved as your default terms: new works get them unless you choose others.")
        return Redirect("/works/enroll")

    @post("/works/upload", request_max_body_size=2**31)
    async def upload(self, request: WebRequest) -> Response[Any] | Template:
        """One file from the drag-and-drop page (JSON outcome), or several from the plain form (a page)."""
        account, registry = await anyio.to_thread.run_sync(_creator, request)
        uploads, fields = await read_form(request, {"file": True}, TERMS_FIELDS | {"_csrf_token"})
        license, opt_outs = terms_from_form(fields)
        files: list[tuple[str, bytes]] = []
        upload: UploadFile
        for i, upload in enumerate(uploads["file"]):
            files.append((upload.filename or f"file-{i + 1}", await upload.read()))
        results = [await anyio.to_thread.run_sync(enroll_one, registry, account, f, license, opt_outs)
                   for f in files]
        if "application/json" in request.headers.get("accept", "") and len(results) == 1:
            return Response(msgspec.to_builtins(results[0]), status_code=results[0].status)
        counts = {k: sum(r.outcome == k for r in results) for k in ("enrolled", "already_enrolled", "rejected")}
        return render(request, "enroll_result.html", account, results=results, counts=counts,
                      outcome_labels={"enrolled": "Enrolled", "already_enrolled": "Already enrolled",
                      "rejected": "Rejected:"})

    @get("/works/{work_id:str}", sync_to_thread=True)
    def work(self, request: WebRequest, work_id: FromPath[str]) -> Template:
        account, registry = _creator(request)
        work = _own_work(registry, account, work_id)
        preview, cut = text_preview(registry, work, 4000) if work.kind == WorkKind.TEXT else ("", False)
        checks = registry.store.list_checks(CheckFilter(work_id=work.id, limit=200))
        matches = [(c, r) for c in checks for r in c.matches if r.work_id == work.id]
        return render(request, "work.html", account, work=work, text_preview=preview, text_cut=cut, matches=matches,
                      names=owner_names(registry), cawg_json=json.dumps(work.opt_outs.to_cawg(), indent=2))

    @get("/works/{work_id:str}/terms", sync_to_thread=True)
    def terms_form(self, request: WebRequest, work_id: FromPath[str]) -> Template:
        account, registry = _creator(request)
        work = _own_work(registry, account, work_id)
        return render(request, "terms.html", account, work=work, license=work.license, opt_outs=work.opt_outs)

    @post("/works/{work_id:str}/terms")
    async def save_terms(self, request: WebRequest, work_id: FromPath[str]) -> Template | Redirect:
        account, registry = await anyio.to_thread.run_sync(_creator, request)
        work = _own_work(registry, account, work_id)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            license, opt_outs = terms_from_form(fields)
        except ProvenanceError as exc:
            return render(request, "terms.html", account, status_code=400, work=work, error=exc.message,
                          license=work.license, opt_outs=work.opt_outs)
        await anyio.to_thread.run_sync(lambda: registry.store.update_terms(work.id, license, opt_outs, account.id))
        flash(request, "ok", "Terms saved. Checks from now on use them.")
        return Redirect(f"/works/{work.id}")

    @post("/works/{work_id:str}/withdraw", sync_to_thread=True)
    def withdraw(self, request: WebRequest, work_id: FromPath[str]) -> Redirect:
        account, registry = _creator(request)
        work = _own_work(registry, account, work_id)
        registry.withdraw(work.id, account.id)
        flash(request, "ok", f"“{work.title}” was withdrawn: it is no longer matched.")
        return Redirect(f"/works/{work.id}")

    @get("/works/{work_id:str}/matches/{check_id:str}", sync_to_thread=True)
    def evidence(self, request: WebRequest, work_id: FromPath[str], check_id: FromPath[str]) -> Template:
        account, registry = _creator(request)
        work = _own_work(registry, account, work_id)
        check = registry.store.get_check(check_id)
        record = next((m for m in check.matches if m.work_id == work.id), None)
        if record is None:
            raise NotFound(f"check {check_id} did not match work {work_id}")
        operator = owner_names(registry).get(check.account_id, check.account_id)
        return render(request, "evidence.html", account, work=work, check=check, record=record, operator=operator,
                      pair=build_pair(registry, check, record, account), rows=summary(record.evidence))

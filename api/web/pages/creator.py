"""Creators: their works, enrollment of many files at once, terms, withdrawal, and the matches of each work."""

import json
from collections.abc import Sequence
from typing import Any

import anyio
import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.deps import read_form
from api.errors import status_of
from api.web.forms import TERMS_FIELDS, offer_from_form, terms_from_form, with_form_offer
from api.web.pages.shared import build_pair, figures, text_preview
from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, flash, pager, render
from api.web.session import WEB_PAGE, signed_in
from registry.errors import NotFound, ProvenanceError
from registry.models import Account, WorkKind, WorkStatus, work_etag
from registry.terms import LicenseTerms, Offer, OptOuts
from service import access
from service.access import UseCase
from service.registry import Registry


class Outcome(msgspec.Struct, kw_only=True):
    """What became of one uploaded file."""

    filename: str
    outcome: str  # enrolled, already_enrolled or rejected
    message: str
    status: int
    work_id: str | None = None
    code: str | None = None


def enroll_one(registry: Registry, account: Account, upload: tuple[str, bytes], license: LicenseTerms,
               opt_outs: OptOuts, offers: Sequence[Offer] = ()) -> Outcome:
    """One uploaded file, enrolled as the bulk jobs enroll each file, as the page reports it."""
    done, error = registry.enroll_file(account, *upload, license, opt_outs, offers)
    if done.status == "enrolled":
        return Outcome(filename=done.filename, outcome="enrolled", status=201, message=done.error or "enrolled",
                       work_id=done.work_id, code=done.code)
    if done.status == "skipped":
        return Outcome(filename=done.filename, outcome="already_enrolled", status=409, code=done.code,
                       message=f"as {done.work_id}", work_id=done.work_id)
    return Outcome(filename=done.filename, outcome="rejected", status=status_of(error) if error else 500,
                   code=done.code, message=done.error or "rejected")


class CreatorPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/works", sync_to_thread=True)
    def works(self, request: WebRequest, status: OptionalQuery = None, page: PageQuery = 1) -> Template:
        account, registry = signed_in(request, UseCase.LIST_WORKS)
        wanted = WorkStatus(status) if status in ("active", "withdrawn") else None
        found = registry.list_works(account, status=wanted, limit=PAGE_SIZE + 1,
                                    offset=(max(1, page) - 1) * PAGE_SIZE, newest_first=True)
        shown = found[:PAGE_SIZE]
        snippets = {w.id: text_preview(registry, account, w, 240)[0] for w in shown if w.kind == WorkKind.TEXT}
        return render(request, "works.html", account, works=shown, snippets=snippets, status=status or "",
                      match_counts=registry.match_counts(account, shown),
                      originals={w.id for w in shown if access.may_see_original(account, w)},
                      **pager("/works", {"status": status}, max(1, page), len(found) > PAGE_SIZE))

    @get("/works/enroll", sync_to_thread=True)
    def enroll_form(self, request: WebRequest) -> Template:
        account, registry = signed_in(request, UseCase.ENROLL)
        return render(request, "enroll.html", account, max_mb=registry.settings.limits.max_upload_bytes // 2**20,
                      license=account.default_license or LicenseTerms(),
                      opt_outs=account.default_opt_outs or OptOuts(), offers=account.default_offers,
                      has_defaults=account.default_license is not None or account.default_opt_outs is not None)

    @post("/works/defaults")
    async def save_defaults(self, request: WebRequest) -> Redirect:
        """The enrollment page's terms become this creator's defaults (for the web, the API and the CLI)."""
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.ENROLL)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        license, opt_outs = terms_from_form(fields)
        offers = with_form_offer(account.default_offers, offer_from_form(fields))
        await anyio.to_thread.run_sync(lambda: registry.set_defaults(account, license, opt_outs, offers=offers))
        flash(request, "ok", "Saved as your default terms: new works get them unless you choose others.")
        return Redirect("/works/enroll")

    @post("/works/upload", opt={"batch_upload": True})
    async def upload(self, request: WebRequest) -> Response[Any] | Template:
        """One file from the drag-and-drop page (JSON outcome), or several from the plain form (a page)."""
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.ENROLL)
        uploads, fields = await read_form(request, {"file": True}, TERMS_FIELDS | {"_csrf_token"})
        license, opt_outs = terms_from_form(fields)
        offers = with_form_offer(account.default_offers, offer_from_form(fields))
        files: list[tuple[str, bytes]] = []
        upload: UploadFile
        for i, upload in enumerate(uploads["file"]):
            files.append((upload.filename or f"file-{i + 1}", await upload.read()))
        results = [await anyio.to_thread.run_sync(enroll_one, registry, account, f, license, opt_outs, offers)
                   for f in files]
        if "application/json" in request.headers.get("accept", "") and len(results) == 1:
            return Response(msgspec.to_builtins(results[0]), status_code=results[0].status)
        counts = {k: sum(r.outcome == k for r in results) for k in ("enrolled", "already_enrolled", "rejected")}
        return render(request, "enroll_result.html", account, results=results, counts=counts,
                      outcome_labels={"enrolled": "Enrolled", "already_enrolled": "Already enrolled",
                      "rejected": "Rejected:"})

    @get("/works/{work_id:str}", sync_to_thread=True)
    def work(self, request: WebRequest, work_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_WORK)
        work = registry.get_work(account, work_id)
        preview, cut = text_preview(registry, account, work, 4000) if work.kind == WorkKind.TEXT else ("", False)
        checks = registry.work_matches(account, work.id, limit=200)
        matches = [(c, r) for c in checks for r in c.matches if r.work_id == work.id]
        training = registry.work_training_runs(account, work.id)
        return render(request, "work.html", account, work=work, text_preview=preview, text_cut=cut, matches=matches,
                      training=training,
                      names=registry.account_names(), cawg_json=json.dumps(work.opt_outs.to_cawg(), indent=2),
                      can_change=access.may_change_work(account, work),
                      show_original=access.may_see_original(account, work))

    @get("/works/{work_id:str}/terms", sync_to_thread=True)
    def terms_form(self, request: WebRequest, work_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.CHANGE_WORK)
        work = registry.get_work(account, work_id)
        if not access.may_change_work(account, work):
            raise NotFound(f"no work {work_id}")
        return render(request, "terms.html", account, work=work, license=work.license, opt_outs=work.opt_outs,
                      offers=work.offers, etag=work_etag(work))

    @post("/works/{work_id:str}/terms")
    async def save_terms(self, request: WebRequest, work_id: FromPath[str]) -> Template | Redirect:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.CHANGE_WORK)
        work = await anyio.to_thread.run_sync(registry.get_work, account, work_id)
        if not access.may_change_work(account, work):
            raise NotFound(f"no work {work_id}")
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            license, opt_outs = terms_from_form(fields)
            offers = with_form_offer(work.offers, offer_from_form(fields))
            await anyio.to_thread.run_sync(lambda: registry.update_terms(
                account, work.id, license, opt_outs, if_match=fields.get("etag") or None, offers=offers))
        except ProvenanceError as exc:  # bad terms, or the work changed since the form was opened
            current = await anyio.to_thread.run_sync(registry.get_work, account, work_id)
            return render(request, "terms.html", account, status_code=status_of(exc), work=current,
                          error=exc.message, license=current.license, opt_outs=current.opt_outs,
                          offers=current.offers, etag=work_etag(current))
        flash(request, "ok", "Terms saved. Checks from now on use them.")
        return Redirect(f"/works/{work.id}")

    @post("/works/{work_id:str}/withdraw", sync_to_thread=True)
    def withdraw(self, request: WebRequest, work_id: FromPath[str]) -> Redirect:
        account, registry = signed_in(request, UseCase.CHANGE_WORK)
        work = registry.withdraw(account, work_id)
        flash(request, "ok", f"“{work.title}” was withdrawn: it is no longer matched.")
        return Redirect(f"/works/{work.id}")

    @get("/works/{work_id:str}/matches/{check_id:str}", sync_to_thread=True)
    def evidence(self, request: WebRequest, work_id: FromPath[str], check_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_WORK)
        work = registry.get_work(account, work_id)
        check, output = registry.kept_output(account, check_id)
        record = next((m for m in check.matches if m.work_id == work.id), None)
        if record is None:
            raise NotFound(f"check {check_id} did not match work {work_id}")
        operator = registry.account_names().get(check.account_id, check.account_id)
        return render(request, "evidence.html", account, work=work, check=check, record=record, operator=operator,
                      pair=build_pair(registry, output, record, account), rows=figures(record))

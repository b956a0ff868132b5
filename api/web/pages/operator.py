"""Operators: check an output (an image or text file, or pasted text), see the verdict and evidence, and
their history. The check page is shared with auditors and with creators whose works it matched."""


import anyio
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.errors import status_of
from api.web.pages.claims import REASON_LABELS
from api.web.pages.shared import build_pair, figures
from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, pager, render
from api.web.session import WEB_PAGE, signed_in
from registry.errors import InvalidInput, ProvenanceError
from registry.models import Verdict
from service import access
from service.access import UseCase


class OperatorPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/check", sync_to_thread=True)
    def check_form(self, request: WebRequest) -> Template:
        account, registry = signed_in(request, UseCase.CHECK)
        return render(request, "check.html", account, purpose="release",
                      max_chars=registry.settings.limits.max_text_chars)

    @post("/check")
    async def check(self, request: WebRequest) -> Template | Redirect:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.CHECK)
        form = await request.form()
        purpose = str(form.get("purpose") or "release")
        text = form.get("text")
        upload = form.get("file")
        data: bytes | None = None
        filename: str | None = None
        if isinstance(upload, UploadFile) and upload.filename:
            data, filename = await upload.read(), upload.filename
        elif isinstance(text, str) and text.strip():
            data = text.encode("utf-8")
        try:
            if data is None:
                raise InvalidInput("choose an image or text file, or paste some text")
            found = await anyio.to_thread.run_sync(registry.check, account, data, purpose, filename)
        except ProvenanceError as exc:
            return render(request, "check.html", account, status_code=status_of(exc), error=exc.message,
                          purpose=purpose, text=text if isinstance(text, str) else "",
                          max_chars=registry.settings.limits.max_text_chars)
        return Redirect(f"/checks/{found.id}")

    @get("/checks", sync_to_thread=True)
    def history(self, request: WebRequest, verdict: OptionalQuery = None, page: PageQuery = 1) -> Template:
        account, registry = signed_in(request, UseCase.CHECK)
        wanted = Verdict(verdict) if verdict in {v.value for v in Verdict} else None
        flt = registry.check_filter(account, operator=account.name, verdict=wanted, limit=PAGE_SIZE + 1,
                                    offset=(max(1, page) - 1) * PAGE_SIZE)
        found = registry.list_checks(account, flt)
        return render(request, "checks.html", account, heading="My checks", checks=found[:PAGE_SIZE],
                      names=registry.account_names(), filters={"verdict": verdict}, action="/checks",
                      show_all_filters=False, export_query=None, chain=None,
                      **pager("/checks", {"verdict": verdict}, max(1, page), len(found) > PAGE_SIZE))

    @get("/checks/{check_id:str}", sync_to_thread=True)
    def result(self, request: WebRequest, check_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_CHECK)
        check, output = registry.kept_output(account, check_id)  # a creator gets only their own matches
        items = [(r, build_pair(registry, output, r, account), figures(r)) for r in check.matches]
        account_names = registry.account_names()
        disputes = {d.work_id: d for d in registry.disputes.list(account, check_id=check.id)} \
            if access.allowed(account, UseCase.READ_DISPUTES) else {}
        return render(request, "check_result.html", account, check=check, items=items, names=account_names,
                      operator=account_names.get(check.account_id, check.account_id), disputes=disputes,
                      can_dispute=check.account_id == account.id and access.allowed(account, UseCase.DISPUTE),
                      dispute_reasons=REASON_LABELS)

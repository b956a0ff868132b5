"""Operators: check an output (an image or text file, or pasted text), see the verdict and evidence, and
their history. The check page is shared with auditors and with creators whose works it matched."""


import anyio
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.deps import loaded_registry, owner_names
from api.errors import status_of
from api.web.evidence import summary
from api.web.pages.shared import build_pair, may_see_check
from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, pager, render
from api.web.session import WEB_PAGE, require, web_account
from registry.errors import InvalidInput, NotFound, ProvenanceError
from registry.models import CheckFilter, Role, Verdict


class OperatorPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/check", sync_to_thread=True)
    def check_form(self, request: WebRequest) -> Template:
        account = web_account(request)
        require(account, Role.OPERATOR)
        registry = loaded_registry(request.app.state)
        return render(request, "check.html", account, purpose="release", max_chars=registry.settings.max_text_chars)

    @post("/check", request_max_body_size=2**31)
    async def check(self, request: WebRequest) -> Template | Redirect:
        account = await anyio.to_thread.run_sync(web_account, request)
        require(account, Role.OPERATOR)
        registry = loaded_registry(request.app.state)
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
                          max_chars=registry.settings.max_text_chars)
        return Redirect(f"/checks/{found.id}")

    @get("/checks", sync_to_thread=True)
    def history(self, request: WebRequest, verdict: OptionalQuery = None, page: PageQuery = 1) -> Template:
        account = web_account(request)
        require(account, Role.OPERATOR)
        registry = loaded_registry(request.app.state)
        wanted = Verdict(verdict) if verdict in {v.value for v in Verdict} else None
        found = registry.store.list_checks(CheckFilter(account_id=account.id, verdict=wanted, limit=PAGE_SIZE + 1,
                                                       offset=(max(1, page) - 1) * PAGE_SIZE))
        return render(request, "checks.html", account, heading="My checks", checks=found[:PAGE_SIZE],
                      names=owner_names(registry), filters={"verdict": verdict}, action="/checks",
                      show_all_filters=False, export_query=None, chain=None,
                      **pager("/checks", {"verdict": verdict}, max(1, page), len(found) > PAGE_SIZE))

    @get("/checks/{check_id:str}", sync_to_thread=True)
    def result(self, request: WebRequest, check_id: FromPath[str]) -> Template:
        account = web_account(request)
        registry = loaded_registry(request.app.state)
        try:
            check = registry.store.get_check(check_id)
        except NotFound:
            raise NotFound(f"no check {check_id}") from None
        if not may_see_check(registry, account, check):
            raise NotFound(f"no check {check_id}")
        records = check.matches
        if account.role == Role.CREATOR:  # a creator sees only what concerns their own works
            records = [m for m in records if m.owner_id == account.id]
        items = [(r, build_pair(registry, check, r, account), summary(r.evidence)) for r in records]
        account_names = owner_names(registry)
        return render(request, "check_result.html", account, check=check, items=items, names=account_names,
                      operator=account_names.get(check.account_id, check.account_id))

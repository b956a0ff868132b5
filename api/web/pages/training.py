"""Training-time pages: operators look up a batch (pasted items or files) and see their training runs;
auditors see every run and its violations; creators see, on each work's page, the runs that used it."""

import anyio
import msgspec
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Template

from api.controllers.lookups import ndjson_items
from api.errors import status_of
from api.web.render import PAGE_SIZE, PageQuery, WebRequest, pager, render
from api.web.session import WEB_PAGE, signed_in
from registry.errors import InvalidInput, ProvenanceError
from registry.terms import TDM_KEYS
from service.access import UseCase
from service.lookups import FileItem, LookupItem


def pasted_items(text: str) -> list[LookupItem]:
    """Items pasted as NDJSON (one JSON object a line) or as a JSON array."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        try:
            return msgspec.json.decode(stripped, type=list[LookupItem])
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise InvalidInput(f"the pasted items are invalid: {exc}") from None
    return ndjson_items(stripped.encode())


class TrainingPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/lookups", sync_to_thread=True)
    def lookup_form(self, request: WebRequest) -> Template:
        account, _ = signed_in(request, UseCase.LOOKUP)
        return render(request, "lookup.html", account, purpose="ai_training", purposes_tdm=TDM_KEYS, items="")

    @post("/lookups")
    async def lookup(self, request: WebRequest) -> Template:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.LOOKUP)
        form = await request.form()
        purpose = str(form.get("purpose") or "ai_training")
        pasted = form.get("items")
        files = [FileItem(id=u.filename or str(n), filename=u.filename, data=await u.read())
                 for n, u in enumerate(v for k, v in form.multi_items() if k == "files")
                 if isinstance(u, UploadFile) and u.filename]
        try:
            items = pasted_items(pasted if isinstance(pasted, str) else "")
            found = await anyio.to_thread.run_sync(registry.lookup, account, purpose, items, files)
        except ProvenanceError as exc:
            return render(request, "lookup.html", account, status_code=status_of(exc), error=exc.message,
                          purpose=purpose, purposes_tdm=TDM_KEYS, items=pasted if isinstance(pasted, str) else "")
        return render(request, "lookup.html", account, purpose=purpose, purposes_tdm=TDM_KEYS, items="",
                      lookup=found)

    @get("/training-runs", sync_to_thread=True)
    def runs(self, request: WebRequest, page: PageQuery = 1) -> Template:
        account, registry = signed_in(request, UseCase.READ_TRAINING_RUN)
        found = registry.list_training_runs(account, PAGE_SIZE + 1, (max(1, page) - 1) * PAGE_SIZE)
        return render(request, "training_runs.html", account, runs=found[:PAGE_SIZE], names=registry.account_names(),
                      **pager("/training-runs", {}, max(1, page), len(found) > PAGE_SIZE))

    @get("/training-runs/{run_id:str}", sync_to_thread=True)
    def run(self, request: WebRequest, run_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_TRAINING_RUN)
        found = registry.get_training_run(account, run_id)
        works = registry.training_run_works(account, run_id, "", 1000)
        return render(request, "training_run.html", account, run=found, works=works, names=registry.account_names())

"""Disputes, ownership conflicts and the inbox: creators answer disputes and see their conflicts with the
deadline and evidence, operators dispute a match from the check page and appeal, admins resolve conflicts
and decide appeals, auditors see all of it."""

import anyio
from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.web.render import PAGE_SIZE, OptionalQuery, PageQuery, WebRequest, flash, pager, render
from api.web.session import WEB_PAGE, signed_in
from registry.claims import ConflictStatus, DisputeReason, DisputeStatus, Keep
from registry.errors import NotFound, ProvenanceError
from service.access import UseCase
from service.ownership import for_review

REASON_LABELS = {
    "misidentified": "Not a copy of this work",
    "licensed": "I hold a licence",
    "public_domain": "The matched content is in the public domain",
    "exception": "A legal exception applies (quotation, parody, ...)",
    "other": "Other",
}
STATUS_LABELS = {
    "open": "Waiting for the owner", "upheld": "Upheld (appeal possible)", "appealed": "Appealed: an admin decides",
    "released": "Released", "expired": "Expired: released", "confirmed": "Upheld, final", "overturned":
    "Released on appeal",
}


class ClaimPages(Controller):
    include_in_schema = False
    opt = WEB_PAGE

    @get("/disputes", sync_to_thread=True)
    def disputes(self, request: WebRequest, status: OptionalQuery = None, page: PageQuery = 1) -> Template:
        account, registry = signed_in(request, UseCase.READ_DISPUTES)
        wanted = DisputeStatus(status) if status in {s.value for s in DisputeStatus} else None
        found = registry.disputes.list(account, wanted, limit=PAGE_SIZE + 1, offset=(max(1, page) - 1) * PAGE_SIZE)
        return render(request, "disputes.html", account, disputes=found[:PAGE_SIZE], status=status or "",
                      statuses=STATUS_LABELS, reasons=REASON_LABELS, names=registry.account_names(),
                      **pager("/disputes", {"status": status}, max(1, page), len(found) > PAGE_SIZE))

    @get("/disputes/{dispute_id:str}", sync_to_thread=True)
    def dispute(self, request: WebRequest, dispute_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_DISPUTES)
        d = registry.disputes.get(account, dispute_id)
        work = registry.readable_works(account, [d.work_id]).get(d.work_id)
        return render(request, "dispute.html", account, d=d, work=work, names=registry.account_names(),
                      statuses=STATUS_LABELS, reasons=REASON_LABELS, now=registry.clock.now())

    @post("/checks/{check_id:str}/disputes")
    async def open_dispute(self, request: WebRequest, check_id: FromPath[str]) -> Redirect:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.DISPUTE)
        form = await request.form()
        try:
            reason = DisputeReason(str(form.get("reason", "")))
        except ValueError:
            flash(request, "error", f"Choose a reason: {', '.join(REASON_LABELS.values())}.")
            return Redirect(f"/checks/{check_id}")
        try:
            d = await anyio.to_thread.run_sync(registry.disputes.open, account, check_id, str(form.get("work_id", "")),
                                               reason, str(form.get("note", "")))
        except ProvenanceError as exc:
            if isinstance(exc, NotFound) and exc.message.startswith("no check"):
                raise  # not this operator's check: the 404 page
            flash(request, "error", exc.message)
            return Redirect(f"/checks/{check_id}")
        flash(request, "ok", f"Dispute opened. The owner has until {d.deadline:%Y-%m-%d} to answer; without an "
                             "answer the match is released.")
        return Redirect(f"/disputes/{d.id}")

    @post("/disputes/{dispute_id:str}/{action:str}")
    async def act(self, request: WebRequest, dispute_id: FromPath[str], action: FromPath[str]) -> Redirect:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.READ_DISPUTES)
        form = await request.form()
        actions = {"uphold": "uphold", "release": "release", "appeal": "appeal", "decide-uphold": "appeal_upheld",
                   "decide-release": "appeal_released"}
        if action not in actions:
            raise NotFound(f"no action {action!r} on disputes")
        try:
            d = await anyio.to_thread.run_sync(registry.disputes.act, account, dispute_id, actions[action],
                                               str(form.get("note", "")))
            flash(request, "ok", f"Done: the dispute is now {STATUS_LABELS[d.status.value].lower()}.")
        except ProvenanceError as exc:
            if isinstance(exc, NotFound):
                raise
            flash(request, "error", exc.message)
        return Redirect(f"/disputes/{dispute_id}")

    @get("/conflicts", sync_to_thread=True)
    def conflicts(self, request: WebRequest, status: OptionalQuery = None, page: PageQuery = 1) -> Template:
        account, registry = signed_in(request, UseCase.READ_CONFLICTS)
        wanted = ConflictStatus(status) if status in {s.value for s in ConflictStatus} else None
        found = registry.conflicts.list(account, wanted, limit=PAGE_SIZE + 1, offset=(max(1, page) - 1) * PAGE_SIZE)
        return render(request, "conflicts.html", account, conflicts=for_review(found[:PAGE_SIZE]), status=status or "",
                      names=registry.account_names(),
                      **pager("/conflicts", {"status": status}, max(1, page), len(found) > PAGE_SIZE))

    @get("/conflicts/{conflict_id:str}", sync_to_thread=True)
    def conflict(self, request: WebRequest, conflict_id: FromPath[str]) -> Template:
        account, registry = signed_in(request, UseCase.READ_CONFLICTS)
        c = registry.conflicts.get(account, conflict_id)
        works = registry.readable_works(account, [c.work_id, c.earlier_work_id])
        return render(request, "conflict.html", account, c=c, works=works, names=registry.account_names(),
                      keeps=[k.value for k in Keep])

    @post("/conflicts/{conflict_id:str}/resolve")
    async def resolve(self, request: WebRequest, conflict_id: FromPath[str]) -> Redirect:
        account, registry = await anyio.to_thread.run_sync(signed_in, request, UseCase.RESOLVE_CONFLICT)
        form = await request.form()
        try:
            keep = Keep(str(form.get("keep", "")))
            await anyio.to_thread.run_sync(registry.conflicts.resolve, account, conflict_id, keep,
                                           str(form.get("note", "")))
            flash(request, "ok", "Conflict resolved; both owners are notified.")
        except ValueError:
            flash(request, "error", "Choose who keeps the content: earlier, newer or both.")
        except ProvenanceError as exc:
            if isinstance(exc, NotFound):
                raise
            flash(request, "error", exc.message)
        return Redirect(f"/conflicts/{conflict_id}")

    @get("/inbox", sync_to_thread=True)
    def inbox(self, request: WebRequest, before: OptionalQuery = None) -> Template:
        account, registry = signed_in(request, UseCase.NOTIFICATIONS)
        items = registry.notifications.inbox(account, before=before, limit=PAGE_SIZE)
        return render(request, "inbox.html", account, items=items, unread=registry.notifications.unread(account),
                      next_url=f"/inbox?before={items[-1].id}" if len(items) == PAGE_SIZE else None)

    @post("/inbox/read", sync_to_thread=True)
    def mark_read(self, request: WebRequest) -> Redirect:
        account, registry = signed_in(request, UseCase.NOTIFICATIONS)
        registry.notifications.mark_read(account, None)
        flash(request, "ok", "All notifications marked read.")
        return Redirect("/inbox")

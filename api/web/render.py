"""Rendering pages: the template engine, what every page's context holds, flash messages and paging links."""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request
from litestar.params import FromQuery, QueryParameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from api.web.forms import (
    PER_LABELS,
    RELEASE_LABELS,
    TDM_LABELS,
    USE_LABELS,
    describe_license,
    describe_offer,
    form_offer,
)
from api.web.views import strength
from registry.models import Account
from registry.money import Money

WebRequest = Request[Any, Any, Any]
OptionalQuery = FromQuery[str | None]
PageQuery = Annotated[int, QueryParameter(ge=1, le=1_000_000, description="Page number, from 1.")]

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 25

VERDICT_LABELS = {
    "clear": "Clear",
    "attribution_required": "Attribution required",
    "license_required": "License required",
    "blocked": "Blocked",
}
PURPOSE_LABELS = {
    "release": "Release of a generated output",
    "ai_training": "AI training",
    "ai_generative_training": "Generative AI training",
    "ai_inference": "AI inference",
    "data_mining": "Text and data mining",
}


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def money_amount(money: Money) -> str:
    """The amount alone, in decimal (`12.50`), for form fields."""
    return str(money).rsplit(" ", 1)[0]


def _configure(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["when"] = when
    engine.engine.filters["money_amount"] = money_amount
    engine.engine.globals.update(
        verdict_labels=VERDICT_LABELS, purposes=PURPOSE_LABELS, tdm_labels=TDM_LABELS, use_labels=USE_LABELS,
        release_labels=RELEASE_LABELS, describe_license=describe_license, strength=strength,
        describe_offer=describe_offer, form_offer=form_offer, per_labels=PER_LABELS, minor=lambda amount, currency: str(
            Money(amount_minor=amount, currency=currency)))


template_config = TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_configure)


def flash(request: WebRequest, kind: str, message: str) -> None:
    """Show `message` on the next page this browser renders ("ok" or "error")."""
    session = dict(request.session) if "session" in request.scope else {}
    session["flash"] = [*session.get("flash", []), [kind, message]][-5:]
    request.set_session(session)


def render(request: WebRequest, template: str, account: Account | None, status_code: int = 200,
           **context: Any) -> Template:
    """Render `template` with the signed-in `account` and any flash messages waiting for this browser."""
    flashes: list[list[str]] = []
    if "session" in request.scope and request.session.get("flash"):
        session = dict(request.session)
        flashes = session.pop("flash")
        request.set_session(session)
    return Template(template_name=template, status_code=status_code,
                    context={"account": account, "flashes": flashes, **context})


def pager(path: str, params: dict[str, Any], page_no: int, has_next: bool) -> dict[str, Any]:
    """Links to the previous and next page of a listing, keeping its filters."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}

    def url(n: int) -> str:
        return f"{path}?{urlencode({**kept, 'page': n})}"

    return {"page": page_no, "prev_url": url(page_no - 1) if page_no > 1 else None,
            "next_url": url(page_no + 1) if has_next else None}

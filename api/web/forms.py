"""Web forms: license terms and opt-outs from form fields (and back), with the API's validation."""

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from registry.errors import InvalidInput
from registry.money import parse_amount
from registry.terms import RELEASE_USES, TDM_KEYS, TDM_USES, LicenseTerms, Offer, OptOuts

OFFER_FIELDS = {"offer_price", "offer_currency", "offer_per", "offer_purposes", "offer_auto"}
TERMS_FIELDS = {"license_id", "terms_url", "attribution_required", "commercial_use", "release", *OFFER_FIELDS,
                *TDM_KEYS, *(f"{k}_info" for k in TDM_KEYS)}
WEB_OFFER_ID = "standard"  # the offer the web form edits; offers set through the API keep their own ids
OFFER_PURPOSES = {"release": ("release",), "training": ("ai_training", "ai_generative_training"),
                  "all": ("release", "ai_training", "ai_generative_training", "ai_inference", "data_mining")}
PER_LABELS = {"output": "per output", "training_run": "per training run", "year": "per year"}

TDM_LABELS = {
    "ai_training": "AI training",
    "ai_generative_training": "Generative AI training",
    "ai_inference": "AI inference (as model input)",
    "data_mining": "Text and data mining",
}
USE_LABELS = {"allowed": "Allowed", "notAllowed": "Not allowed", "constrained": "Allowed with constraints"}
RELEASE_LABELS = {
    "allowed": "Allowed freely",
    "attribution": "Allowed with attribution",
    "license": "Needs a license",
    "notAllowed": "Not allowed (blocked)",
}


def _field(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def offer_from_form(form: Mapping[str, str]) -> Offer | None:
    """The form's licence offer (None when its price is left empty); the amount is parsed exactly."""
    amount = _field(form, "offer_price")
    if not amount:
        return None
    price = parse_amount(amount, _field(form, "offer_currency") or "EUR")
    per, purposes = _field(form, "offer_per") or "output", _field(form, "offer_purposes") or "release"
    if per not in PER_LABELS:
        raise InvalidInput(f"offer: {per!r} is not one of {', '.join(PER_LABELS)}")
    if purposes not in OFFER_PURPOSES:
        raise InvalidInput(f"offer: {purposes!r} is not one of {', '.join(OFFER_PURPOSES)}")
    return Offer(id=WEB_OFFER_ID, purposes=OFFER_PURPOSES[purposes], price=price, per=per,  # type: ignore[arg-type]
                 auto_grant=form.get("offer_auto") in ("on", "true", "1"), terms_url=_field(form, "terms_url") or None)


def form_offer(offers: Sequence[Offer]) -> Offer | None:
    """The offer the web form shows and edits: the one it made (`standard`), else the first."""
    return next((o for o in offers if o.id == WEB_OFFER_ID), offers[0] if offers else None)


def with_form_offer(offers: Sequence[Offer], offer: Offer | None) -> list[Offer]:
    """`offers` with the form's offer (see `form_offer`) replaced, keeping its id, or removed when the form
    has none; the other offers (set through the API) are kept."""
    target = form_offer(offers)
    kept = [o for o in offers if target is None or o.id != target.id]
    if offer is None:
        return kept
    return [*kept, msgspec.structs.replace(offer, id=target.id if target is not None else WEB_OFFER_ID)]


def terms_from_form(form: Mapping[str, str]) -> tuple[LicenseTerms, OptOuts]:
    """Build and validate terms from the fields of the terms form; a 400 that names the field otherwise."""
    license_raw: dict[str, Any] = {
        "id": _field(form, "license_id") or "custom",
        "terms_url": _field(form, "terms_url") or None,
        "attribution_required": form.get("attribution_required") in ("on", "true", "1"),
        "commercial_use": form.get("commercial_use") in ("on", "true", "1"),
    }
    opt_raw: dict[str, Any] = {"release": _field(form, "release") or "license"}
    for key in TDM_KEYS:
        use = _field(form, key) or "notAllowed"
        if use not in TDM_USES:
            raise InvalidInput(f"{TDM_LABELS[key]}: {use!r} is not one of {', '.join(TDM_USES)}")
        opt_raw[key] = {"use": use, "constraint_info": _field(form, f"{key}_info") or None}
    if opt_raw["release"] not in RELEASE_USES:
        raise InvalidInput(f"outputs reproducing the work: {opt_raw['release']!r} is not one of "
                           f"{', '.join(RELEASE_USES)}")
    try:
        license = msgspec.convert(license_raw, LicenseTerms)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"license: {exc}") from None
    try:
        opt_outs = msgspec.convert(opt_raw, OptOuts)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"opt-outs: {exc}") from None
    return license, opt_outs


def describe_license(license: LicenseTerms) -> str:
    parts = [license.id if license.id != "custom" else "Custom license"]
    parts.append("attribution required" if license.attribution_required else "no attribution needed")
    parts.append("commercial use allowed" if license.commercial_use else "no commercial use")
    return ", ".join(parts)


def describe_offer(offer: Offer) -> str:
    auto = ", granted at once" if offer.auto_grant else ", on approval"
    return f"{offer.price} {PER_LABELS.get(offer.per, offer.per)} for {', '.join(offer.purposes)}{auto}"

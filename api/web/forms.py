"""Web forms: license terms and opt-outs from form fields (and back), with the API's validation."""

from collections.abc import Mapping
from typing import Any

import msgspec

from registry.errors import InvalidInput
from registry.terms import RELEASE_USES, TDM_KEYS, TDM_USES, LicenseTerms, OptOuts

TERMS_FIELDS = {"license_id", "terms_url", "attribution_required", "commercial_use", "fee_amount", "fee_currency",
                "release", *TDM_KEYS, *(f"{k}_info" for k in TDM_KEYS)}

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


def terms_from_form(form: Mapping[str, str]) -> tuple[LicenseTerms, OptOuts]:
    """Build and validate terms from the fields of the terms form; a 400 that names the field otherwise."""
    fee: dict[str, Any] | None = None
    amount, currency = _field(form, "fee_amount"), _field(form, "fee_currency").upper()
    if amount or currency:
        try:
            value = float(amount)
        except ValueError:
            raise InvalidInput(f"the fee {amount!r} is not a number; leave it empty for no fee") from None
        fee = {"amount": value, "currency": currency or "USD"}
    license_raw: dict[str, Any] = {
        "id": _field(form, "license_id") or "custom",
        "terms_url": _field(form, "terms_url") or None,
        "attribution_required": form.get("attribution_required") in ("on", "true", "1"),
        "commercial_use": form.get("commercial_use") in ("on", "true", "1"),
        "fee": fee,
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
    if license.fee is not None:
        parts.append(f"fee {license.fee.amount:g} {license.fee.currency}")
    return ", ".join(parts)

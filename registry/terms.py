"""License terms, opt-outs in the C2PA / CAWG training-and-data-mining vocabulary, and the verdict rules.

The opt-out keys follow the CAWG `cawg.training-mining` assertion (`ai_training`, `ai_generative_training`,
`ai_inference`, `data_mining`, each `allowed`, `notAllowed` or `constrained` with `constraint_info`), plus
`release`: may a generated output that reproduces the work be released.
"""

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal, TypeVar

import msgspec

from registry.errors import InvalidInput
from registry.money import Money, exponent, from_decimal

TdmUse = Literal["allowed", "notAllowed", "constrained"]
ReleaseUse = Literal["allowed", "attribution", "license", "notAllowed"]
Purpose = Literal["release", "ai_training", "ai_generative_training", "ai_inference", "data_mining"]
T = TypeVar("T", bound=msgspec.Struct)
TDM_KEYS: tuple[str, ...] = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")
PURPOSES: tuple[str, ...] = ("release", *TDM_KEYS)
TDM_USES: tuple[str, ...] = ("allowed", "notAllowed", "constrained")
RELEASE_USES: tuple[str, ...] = ("allowed", "attribution", "license", "notAllowed")

_SPDX_ID = re.compile(r"^(LicenseRef-)?[A-Za-z0-9][A-Za-z0-9.+\-]{0,63}$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#@]+(?:[/?#][^\s]*)?$", re.IGNORECASE)
ShortText = Annotated[str, msgspec.Meta(max_length=2000)]


class Fee(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The fee of registries before licence offers (a float amount). Kept only to read old records: the store's
    migration 12 turned every stored fee into an offer (`legacy_fee_offer`), and new terms refuse it."""

    amount: Annotated[float, msgspec.Meta(ge=0, le=1e9)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]


class LicenseTerms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a user of the work must do: an SPDX id (or `custom`), where the terms are, and the conditions."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] = "custom"
    terms_url: ShortText | None = None
    attribution_required: bool = True
    commercial_use: bool = False
    fee: Fee | None = None

    def __post_init__(self) -> None:
        if self.id != "custom" and not _SPDX_ID.match(self.id):
            raise ValueError(f"license id {self.id!r} is not an SPDX identifier; use e.g. 'CC-BY-4.0' or 'custom'")


class Publication(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a work's public declaration shows besides its terms: its title, and its owner's name and the
    places the owner publishes it. Both private unless the creator publishes them."""

    title: bool = False
    owner: bool = False


OfferId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
MAX_OFFERS = 20


class Offer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A licence the owner offers: for which purposes, at what price, per what (an output, a training run, a
    year), whether a request is granted at once (`auto_grant`) or waits for the owner, and how long a grant
    lasts. The id is the owner's (or made from the position when left out)."""

    id: OfferId | None = None
    purposes: Annotated[tuple[Purpose, ...], msgspec.Meta(min_length=1, max_length=5)]
    price: Money
    per: Literal["output", "training_run", "year"]
    auto_grant: bool = False
    terms_url: ShortText | None = None
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365

    def covers(self, purpose: str) -> bool:
        return purpose in self.purposes


def checked_offers(offers: "Iterable[Offer]") -> tuple[Offer, ...]:
    """Offers as stored: each with an id (`offer-N` when left out), ids unique, at most `MAX_OFFERS`, terms
    URLs http(s)."""
    out: list[Offer] = []
    for n, offer in enumerate(offers, start=1):
        if offer.terms_url is not None and not _HTTP_URL.match(offer.terms_url):
            raise InvalidInput(f"offer {n}: terms_url {offer.terms_url[:80]!r} is not an http:// or https:// URL")
        out.append(offer if offer.id else msgspec.structs.replace(offer, id=f"offer-{n}"))
    ids = [o.id for o in out]
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"offer ids must be unique; {sorted({str(i) for i in ids if ids.count(i) > 1})} repeat")
    if len(out) > MAX_OFFERS:
        raise InvalidInput(f"a work has at most {MAX_OFFERS} offers, not {len(out)}")
    return tuple(out)


def legacy_fee_offer(fee: Fee, terms_url: str | None) -> Offer:
    """The offer a stored float `fee` became: the same amount, exactly as written in decimal, per output, for
    every purpose (a fee applied to every use), granted on request by the owner."""
    digits = exponent(fee.currency)
    exact = Decimal(repr(fee.amount)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    price = from_decimal(exact, fee.currency)
    return Offer(id="fee", purposes=tuple(PURPOSES), price=price, per="output",  # type: ignore[arg-type]
                 terms_url=terms_url if terms_url and _HTTP_URL.match(terms_url) else None)


def check_new_terms(license: LicenseTerms | None) -> None:
    """Rules for terms being set now (stored terms are read as they were written): the terms URL is a
    link people follow from the pages, so only http and https are accepted; a fee is an offer now."""
    if license is not None and license.terms_url is not None and not _HTTP_URL.match(license.terms_url):
        raise InvalidInput(f"terms_url {license.terms_url[:80]!r} is not an http:// or https:// URL")
    if license is not None and license.fee is not None:
        raise InvalidInput('license.fee is replaced by offers: send "offers": [{"purposes": ["release"], '
                           '"price": {"amount_minor": 500, "currency": "EUR"}, "per": "output"}] with the work')


class TdmChoice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One CAWG training-and-data-mining entry."""

    use: TdmUse
    constraint_info: ShortText | None = None

    def __post_init__(self) -> None:
        if self.use == "constrained" and not self.constraint_info:
            raise ValueError("a 'constrained' opt-out needs constraint_info (a text or URL saying the constraint)")


class ReleaseChoice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`release` written in the shape of the other uses (`{"use": "attribution"}`); kept as the bare value."""

    use: ReleaseUse


def _bare_release(value: "ReleaseUse | ReleaseChoice") -> ReleaseUse:
    return value.use if isinstance(value, ReleaseChoice) else value


class OptOuts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A work's opt-outs. The defaults reserve every use, as TDMRep's `tdm-reservation: 1` does. `release` is
    accepted as `"attribution"` or as `{"use": "attribution"}` and always answered as the bare value."""

    ai_training: TdmChoice = TdmChoice(use="notAllowed")
    ai_generative_training: TdmChoice = TdmChoice(use="notAllowed")
    ai_inference: TdmChoice = TdmChoice(use="notAllowed")
    data_mining: TdmChoice = TdmChoice(use="notAllowed")
    release: ReleaseUse | ReleaseChoice = "license"

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "release", _bare_release(self.release))

    @property
    def release_use(self) -> ReleaseUse:
        """`release` as its bare value (what the field always holds once decoded)."""
        return _bare_release(self.release)

    def to_cawg(self) -> dict[str, object]:
        """The opt-outs as the `entries` of a CAWG `cawg.training-mining` assertion."""
        entries: dict[str, object] = {}
        for key in TDM_KEYS:
            choice: TdmChoice = getattr(self, key)
            entry: dict[str, str] = {"use": choice.use}
            if choice.constraint_info:
                entry["constraint_info"] = choice.constraint_info
            entries[f"cawg.{key}"] = entry
        return {"entries": entries}


class LicensePatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A change to a work's license: the fields named change, the others keep their values."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | msgspec.UnsetType = msgspec.UNSET
    terms_url: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    attribution_required: bool | msgspec.UnsetType = msgspec.UNSET
    commercial_use: bool | msgspec.UnsetType = msgspec.UNSET
    fee: Fee | msgspec.UnsetType | None = msgspec.UNSET


class OptOutsPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A change to a work's opt-outs: each use named is replaced whole, the others keep their values."""

    ai_training: TdmChoice | msgspec.UnsetType = msgspec.UNSET
    ai_generative_training: TdmChoice | msgspec.UnsetType = msgspec.UNSET
    ai_inference: TdmChoice | msgspec.UnsetType = msgspec.UNSET
    data_mining: TdmChoice | msgspec.UnsetType = msgspec.UNSET
    release: ReleaseUse | ReleaseChoice | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if not isinstance(self.release, msgspec.UnsetType):
            msgspec.structs.force_setattr(self, "release", _bare_release(self.release))


def merged(current: T, change: "T | LicensePatch | OptOutsPatch | None", kind: type[T]) -> T:
    """`current` with what `change` names: a whole value replaces it, a patch replaces only its fields."""
    if change is None:
        return current
    if isinstance(change, kind):
        return change
    values = {**msgspec.to_builtins(current), **msgspec.to_builtins(change)}
    try:
        return msgspec.convert(values, kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"the changed {kind.__name__} are invalid: {exc}") from None


def parse_opt_out_pairs(pairs: Iterable[str], base: OptOuts | None = None) -> OptOuts:
    """Apply `KEY=VALUE` strings (as the CLI takes them) to `base`; `constrained:INFO` carries its constraint."""
    changes: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise InvalidInput(f"opt-out {pair!r} is not KEY=VALUE, e.g. ai_training=notAllowed")
        if key == "release":
            if value not in RELEASE_USES:
                raise InvalidInput(f"release={value!r} is not one of {', '.join(RELEASE_USES)}")
            changes[key] = value
        elif key in TDM_KEYS:
            use, _, info = value.partition(":")
            if use not in TDM_USES:
                raise InvalidInput(f"{key}={use!r} is not one of {', '.join(TDM_USES)}")
            if use == "constrained" and not info:
                raise InvalidInput(f"{key}=constrained needs its constraint: {key}=constrained:TEXT-OR-URL")
            changes[key] = TdmChoice(use=use, constraint_info=info or None)  # type: ignore[arg-type]
        else:
            raise InvalidInput(f"unknown opt-out key {key!r}; known keys: {', '.join(PURPOSES)}")
    return msgspec.structs.replace(base or OptOuts(), **changes)


_RANK = {"clear": 0, "attribution_required": 1, "license_required": 2, "blocked": 3}


def requirement(purpose: str, license: LicenseTerms, opt_outs: OptOuts, offers: "Iterable[Offer]" = ()) -> str:
    """What one matched work requires for `purpose`: clear, attribution_required, license_required, blocked.
    A priced offer for the purpose (or a fee of old records) makes a use that is otherwise open need a licence."""
    priced = license.fee is not None or any(o.covers(purpose) and o.price.amount_minor > 0 for o in offers)
    if purpose == "release":
        release = opt_outs.release
        if release == "notAllowed":
            return "blocked"
        if release == "license" or priced:
            return "license_required"
        if release == "attribution" or license.attribution_required:
            return "attribution_required"
        return "clear"
    if purpose not in TDM_KEYS:
        raise InvalidInput(f"unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
    choice: TdmChoice = getattr(opt_outs, purpose)
    if choice.use == "notAllowed":
        return "blocked"
    if choice.use == "constrained" or priced:
        return "license_required"
    return "attribution_required" if license.attribution_required else "clear"


def combine(requirements: Iterable[str]) -> str:
    """The strictest of several works' requirements; `clear` when nothing matched."""
    return max(requirements, key=_RANK.__getitem__, default="clear")

"""Verdict rules and the opt-out vocabulary."""

import msgspec
import pytest

from registry.errors import InvalidInput
from registry.terms import Fee, LicenseTerms, OptOuts, TdmChoice, combine, parse_opt_out_pairs, requirement

OPEN = LicenseTerms(id="CC0-1.0", attribution_required=False, commercial_use=True)
BY = LicenseTerms(id="CC-BY-4.0", attribution_required=True, commercial_use=True)


@pytest.mark.parametrize(("release", "license", "expected"), [
    ("allowed", OPEN, "clear"),
    ("allowed", BY, "attribution_required"),
    ("attribution", OPEN, "attribution_required"),
    ("license", OPEN, "license_required"),
    ("notAllowed", OPEN, "blocked"),
    ("allowed", LicenseTerms(id="custom", attribution_required=False, fee=Fee(amount=5, currency="EUR")),
     "license_required"),
])
def test_release_requirement(release: str, license: LicenseTerms, expected: str) -> None:
    assert requirement("release", license, OptOuts(release=release)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("use", "license", "expected"), [
    ("allowed", OPEN, "clear"),
    ("allowed", BY, "attribution_required"),
    ("constrained", OPEN, "license_required"),
    ("notAllowed", OPEN, "blocked"),
])
def test_tdm_requirement(use: str, license: LicenseTerms, expected: str) -> None:
    choice = TdmChoice(use=use, constraint_info="see terms" if use == "constrained" else None)  # type: ignore[arg-type]
    opt = OptOuts(ai_training=choice)
    assert requirement("ai_training", license, opt) == expected
    # the other purposes keep their own (default: reserved) choice
    assert requirement("data_mining", license, opt) == "blocked"


def test_combine_takes_the_strictest() -> None:
    assert combine([]) == "clear"
    assert combine(["clear", "attribution_required"]) == "attribution_required"
    assert combine(["attribution_required", "license_required", "clear"]) == "license_required"
    assert combine(["license_required", "blocked"]) == "blocked"


def test_default_opt_outs_reserve_every_use() -> None:
    cawg = OptOuts().to_cawg()["entries"]
    assert cawg == {f"cawg.{k}": {"use": "notAllowed"} for k in
                    ("ai_training", "ai_generative_training", "ai_inference", "data_mining")}


def test_parse_opt_out_pairs() -> None:
    oo = parse_opt_out_pairs(["ai_training=allowed", "release=attribution", "data_mining=constrained:https://x.org/t"])
    assert oo.ai_training.use == "allowed" and oo.release == "attribution"
    assert oo.data_mining == TdmChoice(use="constrained", constraint_info="https://x.org/t")
    for bad in ["ai_training", "ai_training=maybe", "release=blocked", "colour=red", "data_mining=constrained"]:
        with pytest.raises(InvalidInput):
            parse_opt_out_pairs([bad])


def test_schema_rejects_bad_terms() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"id": "not an spdx id!"}, LicenseTerms)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"ai_training": {"use": "constrained"}}, OptOuts)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"fee": {"amount": -1, "currency": "EUR"}}, LicenseTerms)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"unknown": 1}, LicenseTerms)

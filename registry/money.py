"""Money as integers: an amount in the currency's minor unit (cents for EUR) and its ISO 4217 code.

No computation ever sees a float: amounts are added, compared and divided as integers (allocations use the
largest-remainder method, `service.allocation`). Decimal text from a person (a web form, a CSV, the float
`fee` of registries before offers) is converted once, exactly, with `decimal.Decimal`; an amount with more
decimals than the currency has is refused rather than rounded.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

import msgspec

from registry.errors import InvalidInput

MAX_MINOR = 10**15  # a quadrillion minor units: far above any licence, far below 2**63
# ISO 4217 minor-unit digits that are not 2 (every other code has 2)
_EXPONENTS = {"BHD": 3, "BIF": 0, "CLF": 4, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
              "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0, "UYI": 0,
              "UYW": 4, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0}
_CODE = re.compile(r"^[A-Z]{3}$")


def exponent(currency: str) -> int:
    """How many decimal digits the currency's minor unit has (EUR 2, JPY 0, KWD 3)."""
    return _EXPONENTS.get(currency, 2)


class Money(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An amount in minor units (`{"amount_minor": 1250, "currency": "EUR"}` is 12.50 EUR)."""

    amount_minor: Annotated[int, msgspec.Meta(ge=0, le=MAX_MINOR)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]

    def __str__(self) -> str:
        digits = exponent(self.currency)
        if digits == 0:
            return f"{self.amount_minor} {self.currency}"
        whole, part = divmod(self.amount_minor, 10**digits)
        return f"{whole}.{part:0{digits}d} {self.currency}"


def parse_amount(text: str, currency: str) -> Money:
    """`"12.50"` EUR -> 1250 minor units, exactly; InvalidInput for anything that is not such an amount."""
    code = currency.strip().upper()
    if not _CODE.match(code):
        raise InvalidInput(f"currency {currency!r} is not an ISO 4217 code such as EUR or USD")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(f"amount {text!r} is not a number such as 12.50") from None
    return from_decimal(value, code)


def from_decimal(value: Decimal, currency: str) -> Money:
    digits = exponent(currency)
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"amount {value} must be a finite number, zero or more")
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        raise InvalidInput(f"amount {value} has more decimals than {currency} has ({digits})")
    if minor > MAX_MINOR:
        raise InvalidInput(f"amount {value} {currency} is too large")
    return Money(amount_minor=int(minor), currency=currency)

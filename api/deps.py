"""Helpers for handlers: paging parameters, the calling account, strict JSON decoding of form fields."""

from typing import Annotated, TypeVar

import msgspec
from litestar import Request
from litestar.params import QueryParameter

from registry.errors import InvalidInput
from registry.models import Account

T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="Items to skip.")]


def caller(request: Request) -> Account:  # type: ignore[type-arg]
    account: Account = request.user
    return account


def decode_json(raw: str | bytes, type_: type[T], what: str) -> T:
    """Decode a JSON form field strictly, turning msgspec's complaint into a clear 400."""
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{what} is invalid: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None

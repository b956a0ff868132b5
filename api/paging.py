"""One paging convention for every list of the API: `?limit=` and `?cursor=`, answered as
`{"items": [...], "next": "<cursor>" | null}`, newest first. A cursor is opaque (the time and id of the last
item of the page, base64url): pass `next` back as `cursor` for the following page. Keyset paging, so a
page costs the same however deep it is, and items added meanwhile do not shift the pages."""

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from registry.errors import InvalidInput

T = TypeVar("T")
CursorParam = Annotated[str | None, QueryParameter(
    max_length=200, description="The `next` of the previous page; leave it out for the first page.")]
PageLimit = Annotated[int, QueryParameter(ge=1, le=1000, description="Items a page (at most 1,000).")]


def encode_cursor(at: datetime, item_id: str) -> str:
    raw = msgspec.json.encode([at.isoformat(), item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, id) a cursor holds; InvalidInput (400) for anything that is not a cursor this API made."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, item_id = msgspec.json.decode(raw, type=tuple[str, str])
        return datetime.fromisoformat(at), item_id
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidInput(f"cursor {cursor[:40]!r} is not one this API gave: pass the `next` of a page as it "
                           "came, or leave it out for the first page") from None


def next_cursor(items: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, str]]) -> str | None:
    """The cursor after a page fetched with `limit + 1` items (None when it was the last page); the oldest of
    the page's items (a page may be shown in another order)."""
    if len(items) <= limit:
        return None
    at, item_id = min(key(i) for i in items[:limit])
    return encode_cursor(at, item_id)


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """A page of a list: its items, newest first, and the cursor of the next page (null: the last)."""

    items: list[T]
    next: str | None = None

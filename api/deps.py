"""Helpers for handlers: paging parameters, the calling account, strict JSON decoding of form fields."""

from datetime import UTC, datetime
from typing import Annotated, TypeVar

import msgspec
from litestar import Request
from litestar.datastructures import State, UploadFile
from litestar.exceptions import ServiceUnavailableException
from litestar.params import QueryParameter

from api.errors import accepted_hint
from registry.errors import InvalidInput, Unauthenticated
from registry.models import Account
from service.registry import Registry

T = TypeVar("T")
UNKNOWN_KEY = ("the API key is unknown or revoked. Keys belong to one registry: one made with `provenance keys "
               "create` works only when it was pointed at this server's data directory or database "
               "(--data-dir or PROVENANCE_DATA_DIR, --database or PROVENANCE_DATABASE_URL)")


def loaded_registry(state: State) -> Registry:
    """The registry opened at start-up; 503 while it is still loading (the `registry` dependency)."""
    registry: Registry | None = getattr(state, "registry", None)
    if registry is None:
        raise ServiceUnavailableException("the registry is still loading its indexes; retry shortly")
    return registry


Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="Items to skip.")]
SeqParam = Annotated[int, QueryParameter(ge=1, le=2**62, description="An entry number or tree size, from 1.")]
AfterSeq = Annotated[int, QueryParameter(ge=0, le=2**62, description="Audit entries after this sequence number.")]


Timestamp = Annotated[str | None, QueryParameter(
    format="date-time", description="ISO 8601 time, e.g. 2026-11-25T18:00:00Z")]


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"{name}={value!r} is not an ISO 8601 time such as 2026-11-25T18:00:00Z") from None
    except OverflowError:
        raise InvalidInput(f"{name}={value!r} is outside the years 0001 to 9999 once moved to UTC") from None


def caller(request: Request) -> Account:  # type: ignore[type-arg]
    account: Account = request.user
    return account


def decode_json(raw: str | bytes, type_: type[T], what: str) -> T:
    """Decode a JSON form field strictly, turning msgspec's complaint into a clear 400."""
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit(" - at ", 1)[-1] if " - at " in str(exc) else ""
        raise InvalidInput(f"{what} is invalid: {exc}{accepted_hint(path, str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


async def read_form(request: Request, files: dict[str, bool], fields: set[str]) -> tuple[  # type: ignore[type-arg]
        dict[str, list[UploadFile]], dict[str, str]]:
    """Parse a multipart body strictly: `files` maps each file part to whether it may repeat; every other
    part must be a single plain field named in `fields`. Anything else is a 400 that names the part."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(f"send multipart/form-data with a {' or '.join(repr(f) for f in files)} part")
    form = await request.form()
    uploads: dict[str, list[UploadFile]] = {name: [] for name in files}
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in files and isinstance(value, UploadFile):
            if uploads[name] and not files[name]:
                raise InvalidInput(f"send one {name!r} part, not several")
            uploads[name].append(value)
        elif name in fields and isinstance(value, str):
            if name in values:
                raise InvalidInput(f"send the {name!r} field once")
            values[name] = value
        elif name in files or name in fields:
            kind = "a file" if name in files else "a plain field"
            raise InvalidInput(f"{name!r} must be {kind}")
        else:
            known = ", ".join(repr(n) for n in [*files, *sorted(fields)])
            raise InvalidInput(f"unknown form part {name!r}; this endpoint takes {known}")
    for name in files:
        if not uploads[name]:
            raise InvalidInput(f"the multipart body needs a {name!r} part")
    return uploads, values


def public_base(request: Request) -> str:  # type: ignore[type-arg]
    """The registry's public base URL for links it signs: `PROVENANCE_PUBLIC_URL`, else the address it serves
    on (never the request's Host header, which a caller chooses)."""
    settings = request.app.state.settings
    configured: str | None = settings.service.public_url
    if configured:
        return configured.rstrip("/")
    return f"http://{settings.server.host}:{settings.server.port}"


def optional_account(request: Request, registry: Registry) -> Account | None:  # type: ignore[type-arg]
    """The account of the bearer key sent, None when none is sent; 401 for a key that is not valid. On the
    routes where a key is optional, as on the others: bad keys count against the caller's address (the
    failure throttle) and a good key's requests against its rate."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    state = request.app.state
    address = request.client.host if request.client else "unknown"
    throttle = getattr(state, "throttle", None)
    if throttle is not None:
        throttle.check(address)
    scheme, _, secret = header.partition(" ")
    found = registry.authenticate(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
    if found is None:
        if throttle is not None:
            throttle.failed(address)
        raise Unauthenticated(UNKNOWN_KEY)
    limiter = getattr(state, "limiter", None)
    if limiter is not None:
        limiter.hit(found[0].id)
    return found[1]

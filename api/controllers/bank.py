"""The offline opt-out bank: reserved works' fingerprints, signed, for filtering training data offline."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from api.controllers.admin import LogKey
from api.deps import optional_account
from api.errors import ERROR_RESPONSES
from registry.errors import InvalidInput
from service.registry import Registry

BANK_DESCRIPTION = """Every active work whose use for `purpose` is not `allowed`, with what an offline filter
needs: SHA-256, locations, PDQ hash (images), MinHash signatures (texts), and its use for every purpose; as
NDJSON (a header line, one line a work, a signature line last). `since=<cursor>` (the header's `cursor` of an
earlier bank) gives only the works changed since: their entries as they are now, or `{"work_id", "removed":
true}`. `format=hma` gives the PDQ hashes as `pdq <hex>` lines (Hasher-Matcher-Actioner's file form) with the
signature in the `X-Provenance-Signature` header. Signed with the registry's Ed25519 key (`GET /v1/bank/key`).
Operators and auditors; anyone when the registry sets `PROVENANCE_PUBLIC_BANK=true`."""


@dataclass
class BankOperation(Operation):
    """`GET /v1/bank` answers NDJSON, or plain text in the HMA form."""

    def __post_init__(self) -> None:
        responses = dict(self.responses or {})
        responses["200"] = OpenAPIResponse(description="The bank", content={
            "application/x-ndjson": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
            "text/plain": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))})
        self.responses = responses


class BankController(Controller):
    path = "/v1/bank"
    tags = ["bank"]
    opt = {"exclude_from_auth": True}  # the bank may be public; the handler authenticates when it is not

    @get("/", operation_id="GetBank", description=BANK_DESCRIPTION, sync_to_thread=True,
         operation_class=BankOperation,
         summary="The signed opt-out bank for a purpose (NDJSON, or HMA's `pdq <hex>` lines).",
         responses=ERROR_RESPONSES)
    def bank(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
             purpose: FromQuery[str] = "ai_training",
             since: Annotated[int | None, QueryParameter(ge=0, le=2**62)] = None,
             format: FromQuery[str] = "ndjson") -> Response[bytes] | Stream:
        reader = optional_account(request, registry)
        if format == "hma":
            if since is not None:
                raise InvalidInput("the HMA form is always the whole bank: leave out since")
            body, signature = registry.bank_hma(reader, purpose)
            return Response(body, media_type="text/plain; charset=utf-8",
                            headers={"X-Provenance-Signature": signature, "Cache-Control": "no-store"})
        if format != "ndjson":
            raise InvalidInput(f"unknown format {format!r}; use ndjson or hma")
        lines = registry.bank(reader, purpose, since)
        first = next(lines)  # errors (purpose, since, access) are raised here, before the answer starts
        return Stream(_chain(first, lines), media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})

    @get("/key", operation_id="GetBankKey", sync_to_thread=True, security=[{}],
         summary="The public key that verifies the bank (no key needed).")
    def key(self, registry: NamedDependency[Registry]) -> LogKey:
        pem, key_id = registry.log_key()
        return LogKey(key_id=key_id, public_key_pem=pem)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest

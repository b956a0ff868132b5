"""Licences and payouts: grants under works' offers, pools, statements and their recomputation."""

import csv
import io
from collections.abc import Iterable
from typing import Literal

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from api.auth import may
from api.deps import caller, decode_json
from api.errors import ERROR_RESPONSES
from api.paging import CursorParam, Page, PageLimit, decode_cursor, next_cursor
from api.schemas import NoteIn
from registry.errors import InvalidInput
from registry.models import Grant, Pool, StatementLine
from service.access import UseCase
from service.licensing import GrantRequest, NewPool, Recomputation
from service.registry import Registry

CSV_COLUMNS = ("pool_id", "creator", "currency", "weight", "allocated_minor", "carried_in_minor", "paid_minor",
               "carried_out_minor", "work_id", "check_id", "item_weight")


class Statement(msgspec.Struct, kw_only=True):
    """A pool and its statement lines (empty while it is open)."""

    pool: Pool
    lines: list[StatementLine]
    total_allocated_minor: int
    total_paid_minor: int


class CreatorLine(msgspec.Struct, kw_only=True):
    pool: Pool
    operator: str
    line: StatementLine


def _statement(pool: Pool, lines: list[StatementLine]) -> Statement:
    return Statement(pool=pool, lines=lines, total_allocated_minor=sum(li.allocated_minor for li in lines),
                     total_paid_minor=sum(li.paid_minor for li in lines))


def _rows(lines: Iterable[StatementLine], names: dict[str, str]) -> Iterable[list[object]]:
    """One row per item behind each line (a line without items: one row), for CSV."""
    for line in lines:
        base: list[object] = [line.pool_id, names.get(line.creator_id, line.creator_id), line.currency, line.weight,
                              line.allocated_minor, line.carried_in_minor, line.paid_minor, line.carried_out_minor]
        if not line.items:
            yield [*base, "", "", ""]
        for item in line.items:
            yield [*base, item.work_id, item.check_id or "", item.weight]


def export(lines: list[StatementLine], names: dict[str, str], format: str, name: str) -> Response[bytes]:
    if format == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_rows(lines, names))
        return Response(buf.getvalue().encode(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "ndjson":
        body = b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
        return Response(body, media_type="application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="{name}.ndjson"'})
    raise InvalidInput(f"unknown format {format!r}; use json, csv or ndjson")


class GrantsController(Controller):
    path = "/v1/grants"
    tags = ["licensing"]

    @post("/", guards=[may(UseCase.REQUEST_GRANT)], operation_id="RequestGrant", status_code=201,
          opt={"idempotent": True},
          summary="Request a licence under one of a work's offers (granted at once when the offer says auto_grant).",
          responses=ERROR_RESPONSES)
    async def request_grant(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                            data: GrantRequest) -> Grant:
        spec = decode_json(await request.body(), GrantRequest, "JSON body")  # strict: litestar's decoding is lax
        return await anyio.to_thread.run_sync(lambda: registry.licensing.request(caller(request), spec))

    @get("/", guards=[may(UseCase.READ_GRANTS)], operation_id="ListGrants", sync_to_thread=True,
         summary="Grants: a creator's on their works, an operator's own, auditors all; newest first.",
         responses=ERROR_RESPONSES)
    def list_grants(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                    status: FromQuery[str | None] = None, limit: PageLimit = 100,
                    cursor: CursorParam = None) -> Page[Grant]:
        found = registry.licensing.grants(caller(request), status, limit + 1, decode_cursor(cursor))
        return Page(items=found[:limit], next=next_cursor(found, limit, lambda g: (g.created_at, g.id)))

    @get("/{grant_id:str}", guards=[may(UseCase.READ_GRANTS)], operation_id="GetGrant", sync_to_thread=True,
         summary="A grant (its owner, its grantee, auditors).", responses=ERROR_RESPONSES)
    def get_grant(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                  grant_id: FromPath[str]) -> Grant:
        return registry.licensing.get(caller(request), grant_id)

    @post("/{grant_id:str}/{outcome:str}", guards=[may(UseCase.DECIDE_GRANT)], operation_id="DecideGrant",
          status_code=200, summary="The owner approves or denies a requested grant, or revokes a granted one.",
          responses=ERROR_RESPONSES)
    async def decide(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                     grant_id: FromPath[str], outcome: FromPath[str]) -> Grant:
        if outcome not in ("approve", "deny", "revoke"):
            raise InvalidInput(f"unknown action {outcome!r}; use approve, deny or revoke")
        raw = await request.body()
        note = decode_json(raw, NoteIn, "JSON body").note if raw.strip() else ""
        action: Literal["approve", "deny", "revoke"] = outcome  # type: ignore[assignment]
        return await anyio.to_thread.run_sync(
            lambda: registry.licensing.decide(caller(request), grant_id, action, note))


class PoolsController(Controller):
    path = "/v1/pools"
    tags = ["licensing"]

    @post("/", guards=[may(UseCase.MANAGE_POOLS)], operation_id="CreatePool", status_code=201,
          opt={"idempotent": True}, summary="Declare a payout pool over a period of your checks or a training run.",
          responses=ERROR_RESPONSES)
    async def create(self, request: Request, registry: NamedDependency[Registry], data: NewPool) -> Pool:  # type: ignore[type-arg]
        spec = decode_json(await request.body(), NewPool, "JSON body")  # strict: a number is not a time
        return await anyio.to_thread.run_sync(lambda: registry.licensing.create_pool(caller(request), spec))

    @get("/", guards=[may(UseCase.READ_POOLS)], operation_id="ListPools", sync_to_thread=True,
         summary="Pools: an operator's own, auditors all; newest first.", responses=ERROR_RESPONSES)
    def list_pools(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   limit: PageLimit = 100, cursor: CursorParam = None) -> Page[Pool]:
        found = registry.licensing.pools(caller(request), limit + 1, decode_cursor(cursor))
        return Page(items=found[:limit], next=next_cursor(found, limit, lambda p: (p.created_at, p.id)))

    @get("/{pool_id:str}", guards=[may(UseCase.READ_POOLS)], operation_id="GetPool", sync_to_thread=True,
         summary="A pool.", responses=ERROR_RESPONSES)
    def get_pool(self, request: Request, registry: NamedDependency[Registry], pool_id: FromPath[str]) -> Pool:  # type: ignore[type-arg]
        return registry.licensing.get_pool(caller(request), pool_id)

    @post("/{pool_id:str}/close", guards=[may(UseCase.MANAGE_POOLS)], operation_id="ClosePool", status_code=200,
          sync_to_thread=True, summary="Close a pool: allocate it exactly and write its statements (once).",
          responses=ERROR_RESPONSES)
    def close(self, request: Request, registry: NamedDependency[Registry], pool_id: FromPath[str]) -> Statement:  # type: ignore[type-arg]
        pool, lines = registry.licensing.close(caller(request), pool_id)
        return _statement(pool, lines)

    @get("/{pool_id:str}/statements", guards=[may(UseCase.READ_POOLS)], operation_id="PoolStatements",
         sync_to_thread=True, summary="A pool's statement lines with the works and checks behind each amount "
                                      "(format=json, csv or ndjson).", responses=ERROR_RESPONSES)
    def statements(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                   pool_id: FromPath[str], format: FromQuery[str] = "json") -> Response[Statement] | Response[bytes]:
        pool, lines = registry.licensing.statements(caller(request), pool_id)
        if format == "json":
            return Response(_statement(pool, lines))
        return export(lines, registry.account_names(), format, f"statement-{pool.id}")

    @get("/{pool_id:str}/recompute", guards=[may(UseCase.READ_POOLS)], operation_id="RecomputePool",
         sync_to_thread=True, summary="Recompute a closed pool from the record and compare it with its statements.",
         responses=ERROR_RESPONSES)
    def recompute(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
                  pool_id: FromPath[str]) -> Recomputation:
        return registry.licensing.recompute(caller(request), pool_id)


class StatementsController(Controller):
    path = "/v1/statements"
    tags = ["licensing"]

    @get("/", guards=[may(UseCase.READ_STATEMENTS)], operation_id="MyStatements", sync_to_thread=True,
         summary="Your statement lines (creators), newest first, with the works and checks behind each amount "
                 "(format=json, csv or ndjson).", responses=ERROR_RESPONSES)
    def mine(self, request: Request, registry: NamedDependency[Registry],  # type: ignore[type-arg]
             format: FromQuery[str] = "json", limit: PageLimit = 100) -> Response[list[CreatorLine]] | Response[bytes]:
        found = registry.licensing.creator_statements(caller(request), limit)
        names = registry.account_names()
        if format == "json":
            return Response([CreatorLine(pool=p, operator=names.get(p.account_id, p.account_id), line=line)
                             for p, line in found])
        return export([line for _, line in found], names, format, "statements")

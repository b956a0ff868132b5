"""What every part of the portable SQL store shares: the cursor protocol, the write transaction, reads, the
audit append, and how timestamps and JSON are written (text timestamps in UTC ISO 8601, JSON as text)."""

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from registry.audit import GENESIS, entry_hash
from registry.ids import utcnow

Row = Any  # sqlite3.Row or a psycopg dict row: both index by column name


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


_enc = msgspec.json.Encoder(order="sorted")


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _json(value: object) -> str:
    return _enc.encode(value).decode()


Before = tuple[datetime, str] | None  # a keyset cursor: the (created_at, id) of the last item of a page


def keyset(where: list[str], args: list[Any], before: Before, time_column: str = "created_at",
           id_column: str = "id") -> None:
    """Add the condition "older than the cursor" (newest-first pages) to a query's WHERE parts."""
    if before is not None:
        at = _ts(before[0])
        where.append(f"({time_column} < ? OR ({time_column} = ? AND {id_column} < ?))")
        args += [at, at, before[1]]


class SqlBase:
    """The primitives; subclasses supply connections, transactions and the audit lock."""

    def _write(self) -> AbstractContextManager[Cursor]:
        """A transaction in which writes are serialized (one writer at a time, audit appends in order)."""
        raise NotImplementedError

    def _one(self, sql: str, *args: Any) -> Row | None:
        raise NotImplementedError

    def _all(self, sql: str, *args: Any) -> list[Row]:
        raise NotImplementedError

    def _all_in(self, sql: str, values: Iterable[str], *args: Any) -> list[Row]:
        """The rows of `sql`, whose `{in}` is replaced by placeholders for `values` (deduplicated, asked 500 at a
        time, so that any number stays under the databases' parameter limits); `args` come first."""
        unique = sorted(set(values))
        rows: list[Row] = []
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows += self._all(sql.replace("{in}", ", ".join("?" * len(chunk))), *args, *chunk)
        return rows

    def _audit(
        self, conn: Cursor, actor: str, action: str, subject: str, details: dict[str, Any]
    ) -> None:
        last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        at = utcnow()
        details = msgspec.json.decode(_enc.encode(details))  # normalise to plain JSON values
        digest = entry_hash(seq, at, actor, action, subject, details, prev)
        conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, _ts(at), actor, action, subject, _enc.encode(details).decode(), prev, digest),
        )

"""The PostgreSQL store (psycopg 3 and a connection pool), for several API replicas over one database.

Every write transaction first takes one transaction-scoped advisory lock, so writers on all replicas are
serialized the way SQLite's single writer is: the audit chain stays one unbroken chain (no fork, no gap)
and check-then-insert (one enrollment per owner and content) is race-free. Reads run in parallel.
"""

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from registry.sql_base import Cursor, Row
from registry.sql_store import MIGRATIONS, SqlStore, statements

WRITE_LOCK = 0x50524F56  # "PROV": the advisory lock key every write transaction takes
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _pg(query: str) -> str:
    return query.replace("?", "%s")


class _PgCursor:
    """Adapts a psycopg cursor to the `?` placeholders the shared SQL uses."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, query: str, params: Sequence[Any] = (), /) -> Any:
        return self._cur.execute(_pg(query), params)

    def executemany(self, query: str, params: Iterable[Sequence[Any]], /) -> Any:
        return self._cur.executemany(_pg(query), params)


class PostgresStore(SqlStore):
    def __init__(self, url: str, schema: str | None = None, max_connections: int = 8) -> None:
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema name {schema!r} must be lower-case letters, digits and underscores")
        self.schema = schema
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                if schema:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        except psycopg.OperationalError as exc:
            raise ConnectionError(f"cannot reach PostgreSQL at {url}: {exc}") from None
        kwargs: dict[str, Any] = {"row_factory": dict_row, "autocommit": True}
        if schema:
            kwargs["options"] = f"-c search_path={schema}"
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, kwargs=kwargs, open=True)
        self._migrate()

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row: Row | None = conn.execute("SELECT max(version) AS v FROM schema_version").fetchone()
            version = int(row["v"] or 0) if row else 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                if callable(script):
                    with conn.cursor() as cur:
                        script(_PgCursor(cur))
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
                    continue
                for statement in statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield _PgCursor(cur)

    def _one(self, query: str, *args: Any) -> Row | None:
        with self._pool.connection() as conn:
            return conn.execute(_pg(query), args).fetchone()

    def _all(self, query: str, *args: Any) -> list[Row]:
        with self._pool.connection() as conn:
            return conn.execute(_pg(query), args).fetchall()

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests and throw-away deployments)."""
        if not self.schema:
            raise ValueError("this store uses the default schema; refusing to drop it")
        with self._pool.connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema)))

    def close(self) -> None:
        self._pool.close()

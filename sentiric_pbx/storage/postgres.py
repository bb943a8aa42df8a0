"""`PostgresDatabase`: the site store several PBX hosts share, behind the same small API as the SQLite file.

Why the same API (`execute`, `fetchone`, `fetchall`, `transaction`, `migrate`): the stores on top (calls,
CRM, greetings, calendar) stay one piece of code for both; where the SQL of the two dialects differs they
ask `db.dialect`. Statements are written with SQLite's `?` placeholders and turned into psycopg's `%s`
here, so a query reads the same in both stores.

One connection (psycopg 3, autocommit) per instance, serialised by an asyncio lock exactly like the SQLite
connection: a call's few statements never need more, and ordering stays as simple as on one host. A
connection the server dropped (a restart, a failover) is replaced on the next statement.

Migrations: the same numbered `Migration`s, each with its own PostgreSQL text where the SQL differs
(REAL is 4 bytes there: timestamps need DOUBLE PRECISION). Two hosts starting together take a session
advisory lock around the whole run, so each migration is applied exactly once, in its own transaction
with its `schema_version` row.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import structlog
from psycopg import AsyncConnection, AsyncCursor

from sentiric_pbx.storage.db import _REGISTRY, Database, DatabaseError, Migration, _checked, registered_components

log = structlog.get_logger("sentiric_pbx.storage.postgres")

CONNECT_TIMEOUT_S = 5
MIGRATION_LOCK = 0x53454E54  # "SENT": pg_advisory_lock key that serialises migrations across hosts

SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (component, version)
)
"""


def redact(url: str) -> str:
    """`postgresql://host:port/db`: what a log line or an error may show (never the user's password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """SQLite's `?` placeholders → psycopg's `%s`; a literal `%` → `%%` (psycopg reads `%` everywhere)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
        elif quote is not None:
            out.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        else:
            out.append("%s" if ch == "?" else ch)
    return "".join(out)


class Row(tuple[Any, ...]):
    """A result row read like `sqlite3.Row`: by position (`row[0]`, unpacking) and by column (`row["name"]`)."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: AsyncCursor[Any]) -> Any:
    description = cursor.description or []
    index = {column.name: i for i, column in enumerate(description)}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row._index = index
        return row

    return make


def _params(params: Sequence[Any] | dict[str, Any]) -> Sequence[Any] | dict[str, Any] | None:
    return params if params else None


class _Cursor:
    """What `transaction()`'s connection returns from `execute()`: aiosqlite's cursor surface."""

    def __init__(self, cursor: AsyncCursor[Any]) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    async def fetchone(self) -> Row | None:
        return await self._cursor.fetchone() if self._cursor.description else None

    async def fetchall(self) -> list[Row]:
        return list(await self._cursor.fetchall()) if self._cursor.description else []

    async def close(self) -> None:
        await self._cursor.close()


class _TransactionConnection:
    """The connection `transaction()` yields: `execute()` with `?` placeholders, like aiosqlite's."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        query = to_pyformat(sql) if params else sql
        return _Cursor(await self._conn.execute(query, _params(params)))  # type: ignore[arg-type]


class PostgresDatabase(Database):
    """An open PostgreSQL site store. `PostgresDatabase.connect(url)`, close with `aclose()`."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:  # no SQLite connection: the base class's fields differ
        self.url = url
        self.path = redact(url)
        self._conn: AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str, *, migrate: bool = True) -> PostgresDatabase:
        """Connect, and (unless `migrate=False`, as `doctor` reads it) apply every registered migration."""
        db = cls(url)
        try:
            async with db._lock:
                await db._connection()
            if migrate:
                for component in registered_components():
                    await db.migrate(component, _REGISTRY[component])
        except BaseException:
            await db.aclose()
            raise
        return db

    async def _connection(self) -> AsyncConnection[Any]:
        """The open connection (call with the lock held); a broken one is replaced."""
        if self._conn is not None and not (self._conn.closed or self._conn.broken):
            return self._conn
        if self._conn is not None:
            log.warning("db_reconnecting", database=self.path)
        try:
            self._conn = await AsyncConnection.connect(
                self.url, autocommit=True, row_factory=_row_factory, connect_timeout=CONNECT_TIMEOUT_S
            )
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to {self.path}: {_why(exc)}") from None
        return self._conn

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        async with self._lock:
            conn = await self._connection()
            cursor = await conn.execute(to_pyformat(sql) if params else sql, _params(params))  # type: ignore[arg-type]
            count = cursor.rowcount
            await cursor.close()
            return count

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        async with self._lock:
            conn = await self._connection()
            cursor = await conn.execute(to_pyformat(sql) if params else sql, _params(params))  # type: ignore[arg-type]
            row = await cursor.fetchone()
            await cursor.close()
            return row

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        async with self._lock:
            conn = await self._connection()
            cursor = await conn.execute(to_pyformat(sql) if params else sql, _params(params))  # type: ignore[arg-type]
            rows = list(await cursor.fetchall())
            await cursor.close()
            return rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """BEGIN … COMMIT (ROLLBACK on error), READ COMMITTED; constraints, not locks, keep rows unique."""
        async with self._lock:
            conn = await self._connection()
            async with conn.transaction():
                yield _TransactionConnection(conn)

    async def migrate(self, component: str, migrations: Sequence[Migration | tuple[int, str, str]]) -> int:
        checked = _checked(component, migrations)
        async with self._lock:
            conn = await self._connection()
            await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                await conn.execute(SCHEMA_VERSION_DDL)
                current = await _version(conn, component)
                if current > len(checked):
                    log.warning(
                        "db_schema_newer", component=component, db_version=current, known=len(checked), path=self.path
                    )
                for m in checked[current:]:
                    try:
                        async with conn.transaction():
                            await conn.execute(
                                "INSERT INTO schema_version (component, version, name, applied_at) "
                                "VALUES (%s, %s, %s, %s)",
                                (component, m.version, m.name, time.time()),
                            )
                            await conn.execute(m.sql_for(self.dialect))  # type: ignore[arg-type]
                    except psycopg.Error as exc:
                        raise DatabaseError(
                            f"database {self.path}: migration {component}/{m.version} ({m.name}) failed: {_why(exc)}"
                        ) from exc
                    log.info("db_migrated", component=component, version=m.version, name=m.name, path=self.path)
                return await _version(conn, component)
            finally:
                if not conn.broken:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    async def schema_version(self, component: str) -> int:
        async with self._lock:
            conn = await self._connection()
            return await _version(conn, component)

    async def aclose(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await conn.close()


async def _version(conn: AsyncConnection[Any], component: str) -> int:
    cursor = await conn.execute(
        "SELECT MAX(version) FROM schema_version WHERE component = %s",
        (component,),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _why(exc: psycopg.Error) -> str:
    """The server's reason, without the connection string libpq may echo (it can hold the password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "password authentication failed" in text or "no password supplied" in text:
        return "authentication failed (check the user and password in [storage] database_url)"
    if "does not exist" in text and "database" in text:
        return "the database does not exist (create it: createdb)"
    if "Connection refused" in text or "timeout expired" in text or "could not translate host name" in text:
        return f"unreachable ({text.split('failed:')[-1].strip()})"
    return text.split("failed:")[-1].strip()



async def site_schema(db: PostgresDatabase) -> dict[str, int]:
    """component → its schema version in the database ({} before the first start), for `doctor`."""
    try:
        if await db.fetchone("SELECT to_regclass('schema_version') IS NOT NULL AS present") == (False,):
            return {}
        rows = await db.fetchall("SELECT component, MAX(version) AS version FROM schema_version GROUP BY component")
    except psycopg.Error as exc:
        raise DatabaseError(_why(exc)) from None
    return {r["component"]: int(r["version"]) for r in rows}

"""The one SQLite database of a daemon: calls, the built-in CRM, and whatever other modules add.

Why one file: an admin backs up, moves or inspects a single `sentiric.db` (`sqlite3 sentiric.db`),
and a call, its CRM summary and its post-call jobs can be written in one transaction.

Connection: WAL mode, so the daemon's writes never block a reader (the CLI, a `worker` process, an
admin's sqlite3 shell); `busy_timeout` so two writers wait for each other instead of failing with
"database is locked". The aiosqlite connection runs in autocommit mode: a single `execute()` is its own
transaction, and `transaction()` groups statements under BEGIN IMMEDIATE. One asyncio lock serialises
the connection so two coroutines' statements never end up in each other's transaction.

Migrations are numbered per component. `schema_version` holds one row per applied migration
(component, version, name, applied_at); a component's schema version is its highest row. Each
migration runs in its own transaction together with its row, so a crash mid-migration leaves nothing
half-applied, and two processes migrating at once apply it exactly once (the loser's row insert
conflicts and it rolls back). The core tables (calls, CRM) are component "core".

How another module adds its tables (calendar, post-call outbox, ...)::

    from sentiric_pbx.storage.db import Migration, register_migrations

    CALENDAR_MIGRATIONS = [
        Migration(1, "bookings", "CREATE TABLE calendar_bookings (booking_id TEXT PRIMARY KEY, ...);"),
        Migration(2, "bookings_by_phone", "CREATE INDEX calendar_bookings_phone ON calendar_bookings(phone);"),
    ]
    register_migrations("calendar", CALENDAR_MIGRATIONS)   # at import: applied by every Database.open()

    # or explicitly, e.g. in the adapter's factory (safe to call on every start; already-applied
    # versions are skipped):
    await db.migrate("calendar", CALENDAR_MIGRATIONS)

Rules: versions start at 1 and only grow; never edit a released migration, add the next one;
prefix your tables with the component name; the SQL may hold several statements but no BEGIN/COMMIT.

The PostgreSQL site store ([storage] database_url, `storage/postgres.py`) runs the same migrations: a
`Migration` carries its PostgreSQL text as `postgresql=` where the SQL differs (REAL → DOUBLE PRECISION,
constraints), and stores ask `db.dialect` where a statement must differ. Catch `DB_ERRORS` /
`INTEGRITY_ERRORS`, not sqlite3's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import aiosqlite
import structlog

from sentiric_pbx.config import Settings
from sentiric_pbx.storage.paths import db_path
from sentiric_pbx.storage.private import create_private_file, make_private_dir

log = structlog.get_logger("sentiric_pbx.storage.db")

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's write lock before giving up. Defaults to 5 s."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@asynccontextmanager
async def immediate_transaction(conn: aiosqlite.Connection) -> AsyncIterator[aiosqlite.Connection]:
    """BEGIN IMMEDIATE … COMMIT on `conn` (opened with isolation_level=None); ROLLBACK on any error or
    cancellation, the BEGIN's own included.

    Why not "roll back if `conn.in_transaction`": a task cancelled while its BEGIN waits for another
    connection's write lock (busy_timeout) stops awaiting, but aiosqlite's thread still runs the BEGIN,
    which takes the lock a moment later — when `in_transaction` was still False. That connection then
    held SQLite's one write lock for good: every other writer on the file got "database is locked" (a
    stopping post-call worker did this to the queue), and its own later statements ran inside a
    transaction nobody would commit. The ROLLBACK is therefore always queued behind the BEGIN on the
    same thread, shielded from a second cancellation; with no transaction open it fails harmlessly."""
    try:
        await conn.execute("BEGIN IMMEDIATE")
        yield conn
        await conn.execute("COMMIT")
    except BaseException:
        await asyncio.shield(_rollback_quietly(conn))
        raise


async def _rollback_quietly(conn: aiosqlite.Connection) -> None:
    # "no transaction is active" (BEGIN failed, or SQLite rolled back already), or the connection is closed:
    # the error that brought us here is the one that matters.
    with contextlib.suppress(sqlite3.Error, ValueError):
        await conn.execute("ROLLBACK")


class DatabaseError(Exception):
    """The database could not be opened or migrated; the message names the file and the migration."""


class Migration(NamedTuple):
    """One schema step. `postgresql`: its text for the site store where the SQL differs (else `sql`)."""

    version: int
    name: str
    sql: str
    postgresql: str | None = None

    def sql_for(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" and self.postgresql is not None else self.sql


_REGISTRY: dict[str, tuple[Migration, ...]] = {}


def _checked(component: str, migrations: Iterable[Migration | tuple[Any, ...]]) -> tuple[Migration, ...]:
    if not _NAME_RE.match(component):
        raise ValueError(f"migration component {component!r}: use lowercase letters, digits and '_'")
    checked = tuple(Migration(*m) for m in migrations)
    versions = [m.version for m in checked]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations of {component!r} must be numbered 1, 2, 3… in order, got {versions}")
    for m in checked:
        if not _NAME_RE.match(m.name):
            raise ValueError(f"migration {component}/{m.version} name {m.name!r}: use lowercase letters, digits, '_'")
    return checked


def register_migrations(component: str, migrations: Sequence[Migration | tuple[Any, ...]]) -> None:
    """Declare a component's migrations; every later `Database.open()` applies them."""
    _REGISTRY[component] = _checked(component, migrations)


def registered_components() -> list[str]:
    """ "core" first, then the others by name, so a component may reference core tables."""
    return sorted(_REGISTRY, key=lambda c: (c != "core", c))


CORE_MIGRATIONS = (
    Migration(
        1,
        "calls",
        """
        CREATE TABLE calls (
            call_id    TEXT PRIMARY KEY,
            status     TEXT NOT NULL,
            caller_id  TEXT,
            started_at REAL NOT NULL,
            ended_at   REAL,
            context    TEXT NOT NULL,   -- CallContext.to_dict() as JSON
            summary    TEXT,
            outcome    TEXT,
            updated_at REAL NOT NULL
        );
        CREATE INDEX calls_status_started ON calls(status, started_at DESC);
        CREATE INDEX calls_started ON calls(started_at DESC);
        CREATE INDEX calls_caller ON calls(caller_id);
        """,
        """
        CREATE TABLE calls (
            call_id    TEXT PRIMARY KEY,
            status     TEXT NOT NULL,
            caller_id  TEXT,
            started_at DOUBLE PRECISION NOT NULL,
            ended_at   DOUBLE PRECISION,
            context    TEXT NOT NULL,
            summary    TEXT,
            outcome    TEXT,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX calls_status_started ON calls(status, started_at DESC);
        CREATE INDEX calls_started ON calls(started_at DESC);
        CREATE INDEX calls_caller ON calls(caller_id);
        """,
    ),
    Migration(
        2,
        "crm",
        """
        CREATE TABLE crm_customers (
            customer_id      TEXT PRIMARY KEY,
            phone            TEXT NOT NULL UNIQUE,   -- E.164, "+905551112233"
            name             TEXT NOT NULL,
            title            TEXT,
            language         TEXT,
            last_interaction TEXT,                   -- ISO date, "2023-11-20"
            extra            TEXT NOT NULL DEFAULT '{}',
            created_at       REAL NOT NULL
        );
        CREATE TABLE crm_call_summaries (
            call_id     TEXT PRIMARY KEY,
            customer_id TEXT REFERENCES crm_customers(customer_id) ON DELETE SET NULL,
            phone       TEXT,
            started_at  REAL NOT NULL,
            ended_at    REAL,
            outcome     TEXT NOT NULL,
            summary     TEXT NOT NULL,
            intents     TEXT NOT NULL DEFAULT '[]',
            created_at  REAL NOT NULL
        );
        CREATE INDEX crm_call_summaries_customer ON crm_call_summaries(customer_id, started_at DESC);
        CREATE INDEX crm_call_summaries_phone ON crm_call_summaries(phone, started_at DESC);
        """,
        """
        CREATE TABLE crm_customers (
            customer_id      TEXT PRIMARY KEY,
            phone            TEXT NOT NULL UNIQUE,
            name             TEXT NOT NULL,
            title            TEXT,
            language         TEXT,
            last_interaction TEXT,
            extra            TEXT NOT NULL DEFAULT '{}',
            created_at       DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE crm_call_summaries (
            call_id     TEXT PRIMARY KEY,
            customer_id TEXT REFERENCES crm_customers(customer_id) ON DELETE SET NULL,
            phone       TEXT,
            started_at  DOUBLE PRECISION NOT NULL,
            ended_at    DOUBLE PRECISION,
            outcome     TEXT NOT NULL,
            summary     TEXT NOT NULL,
            intents     TEXT NOT NULL DEFAULT '[]',
            created_at  DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX crm_call_summaries_customer ON crm_call_summaries(customer_id, started_at DESC);
        CREATE INDEX crm_call_summaries_phone ON crm_call_summaries(phone, started_at DESC);
        """,
    ),
    Migration(
        3,
        "greetings",
        """
        CREATE TABLE greetings (
            phone      TEXT PRIMARY KEY,   -- E.164: the caller this greeting is for, next time they call
            language   TEXT NOT NULL,
            text       TEXT NOT NULL,      -- what follows the cached "Hello!"
            call_id    TEXT,               -- the call after which it was written
            engine     TEXT,               -- the model that wrote it
            written_at REAL NOT NULL
        );
        """,
        """
        CREATE TABLE greetings (
            phone      TEXT PRIMARY KEY,
            language   TEXT NOT NULL,
            text       TEXT NOT NULL,
            call_id    TEXT,
            engine     TEXT,
            written_at DOUBLE PRECISION NOT NULL
        );
        """,
    ),
)
register_migrations("core", CORE_MIGRATIONS)

_SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (component, version)
)
"""


async def enable_wal(conn: aiosqlite.Connection, busy_timeout_ms: int) -> None:
    """WAL is a property of the file, set once. Switching to it needs the file to ourselves, and SQLite
    reports "locked" at once rather than calling the busy handler, so when two processes create the
    database together (daemon and worker at boot) the loser retries here for up to the busy timeout."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                await cursor.fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


def _error_classes() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency; a broken install keeps SQLite working
        return (sqlite3.Error,), (sqlite3.IntegrityError,)
    return (sqlite3.Error, psycopg.Error), (sqlite3.IntegrityError, psycopg.IntegrityError)


DB_ERRORS, INTEGRITY_ERRORS = _error_classes()
"""What a statement may raise in either dialect (`except DB_ERRORS`); a constraint violation alone."""


class Database:
    """An open database. Use `Database.open()` (or `open_database(settings)`), close with `aclose()`.

    This class is the SQLite file; `storage.postgres.PostgresDatabase` is the site store with the same
    methods. `dialect` tells a store which SQL to use where the two differ.
    """

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
        """Open (creating it if needed), switch to WAL, and apply every registered migration."""
        name = str(path)
        try:
            if name != ":memory:":
                create_private_file(Path(name))  # calls and customers: 0640, never by umask
            conn = await aiosqlite.connect(name, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open database {name}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        db = cls(conn, name)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await enable_wal(conn, busy_timeout_ms)
            await conn.execute("PRAGMA foreign_keys = ON")
            # Deleted rows are zeroed, not left in free pages: an erased caller's words must not stay readable
            # with `strings sentiric.db` (many builds default to it; not all).
            await conn.execute("PRAGMA secure_delete = ON")
            await conn.execute(_SCHEMA_VERSION_DDL)
            for component in registered_components():
                await db.migrate(component, _REGISTRY[component])
        except BaseException:
            await conn.close()
            raise
        return db

    async def schema_version(self, component: str) -> int:
        row = await self.fetchone("SELECT MAX(version) FROM schema_version WHERE component = ?", (component,))
        return int(row[0]) if row and row[0] is not None else 0

    async def migrate(self, component: str, migrations: Sequence[Migration | tuple[Any, ...]]) -> int:
        """Apply the component's migrations newer than its current version, in order; return the version."""
        checked = _checked(component, migrations)
        current = await self.schema_version(component)
        if current > len(checked):
            log.warning("db_schema_newer", component=component, db_version=current, known=len(checked), path=self.path)
        for m in checked[current:]:
            await self._apply(component, m)
        return await self.schema_version(component)

    async def _apply(self, component: str, m: Migration) -> None:
        # The version row goes first: if another process applied this migration meanwhile, the
        # insert conflicts before any DDL runs and we roll back to "already applied".
        script = (
            "BEGIN IMMEDIATE;\n"
            f"INSERT INTO schema_version (component, version, name, applied_at) "
            f"VALUES ('{component}', {int(m.version)}, '{m.name}', {time.time()!r});\n"
            f"{m.sql_for(self.dialect)}\n;\nCOMMIT;"
        )
        async with self._lock:
            try:
                await self.conn.executescript(script)
            except sqlite3.IntegrityError:
                await _rollback_quietly(self.conn)
                log.info("db_migration_raced", component=component, version=m.version, name=m.name)
                return
            except sqlite3.Error as exc:
                await _rollback_quietly(self.conn)
                raise DatabaseError(
                    f"database {self.path}: migration {component}/{m.version} ({m.name}) failed: {exc}"
                ) from exc
        log.info("db_migrated", component=component, version=m.version, name=m.name, path=self.path)

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """One statement, committed on return. Returns the number of rows changed."""
        async with self._lock:
            cursor = await self.conn.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
            return count

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        async with self._lock, self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        async with self._lock, self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error). Use the yielded connection, not `execute()`
        (which would wait for this very lock), and await nothing but it inside: the lock is held."""
        async with self._lock, immediate_transaction(self.conn) as conn:
            yield conn

    async def aclose(self) -> None:
        async with self._lock:
            await self.conn.close()


def database_url(settings: Settings) -> str | None:
    """[storage] database_url when it names PostgreSQL (`postgresql://…`, `postgres://…`), else None (SQLite).

    `sqlite:///path` is accepted as a spelling of the SQLite file and overrides db_path."""
    if settings.storage.database_url is None:
        return None
    url = settings.storage.database_url.get_secret_value().strip()
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if url.startswith("sqlite:///") or not url:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else url[:12]
    raise DatabaseError(f"[storage] database_url: unknown kind {scheme!r} (use postgresql://… or sqlite:///path)")


async def open_database(settings: Settings) -> Database:
    """The daemon's database, migrated: the PostgreSQL site store when [storage] database_url names one,
    else the SQLite file at [storage] db_path (default <data dir>/sentiric.db)."""
    url = database_url(settings)
    if url is not None:
        from sentiric_pbx.storage.postgres import PostgresDatabase, redact

        db = await PostgresDatabase.connect(url)
        log.info("db_opened", dialect="postgresql", database=redact(url))
        return db
    return await open_sqlite_database(settings)


async def open_sqlite_database(settings: Settings) -> Database:
    """The SQLite file at [storage] db_path (default <data dir>/sentiric.db), migrated: the whole store of a
    one-host install, and beside the site store what stays per host (the post-call queue, archive records).

    The default data directory is ours alone, so it is made 0750 even if the model store created it
    first under a loose umask; an explicit db_path's directory is the admin's and keeps its mode."""
    path = db_path(settings)
    if settings.storage.db_path is None:
        try:
            make_private_dir(path.parent)
        except OSError as exc:
            raise DatabaseError(f"cannot prepare the data directory {path.parent}: {exc}") from exc
    return await Database.open(path)

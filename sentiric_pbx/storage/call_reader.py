"""`CallReader`: the one read-only view of stored calls, for `sentiric-pbx calls list|show` and the console.

Where a call's pieces live: on one host, all in the SQLite file; with [storage] database_url, the call
record, analytics and bookings in the PostgreSQL site store (every host's calls) and the post-call queue
and archive records in this host's file. The reader opens both and asks each table where it is, so
`calls list` on any host shows every host's calls.

Synchronous on purpose: the CLI has no event loop, and the console runs each request in a thread, so a
slow query never stalls the loop that carries the calls' audio. Never writes: the console's SQLite
connection is `mode=ro`, the site store's session is read-only; a database or table not there yet is
simply empty (the daemon never ran).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


class CallReaderError(Exception):
    """A database could not be opened or read; the message never holds a password."""


@dataclass(slots=True)
class CallFilter:
    """`/api/calls`' query: every field optional, all of them must match."""

    caller: str | None = None
    """Part of the caller's number or name."""
    status: str | None = None
    outcome: str | None = None
    ingress: str | None = None
    date: str | None = None
    """A local calendar day, YYYY-MM-DD."""
    limit: int = 50
    offset: int = 0


def _day_range(day: str) -> tuple[float, float]:
    start = datetime.strptime(day, "%Y-%m-%d").astimezone()
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


class _Source:
    """One open database, rows as dicts, `?` placeholders, JSON paths in its dialect."""

    dialect = "sqlite"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.conn.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def tables(self) -> set[str]:
        return {r["name"] for r in self.all("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def json_text(self, column: str, *path: str) -> str:
        return f"json_extract({column}, '$.{'.'.join(path)}')"

    def json_length(self, column: str, key: str) -> str:
        return f"json_array_length({column}, '$.{key}')"

    like = "LIKE"

    def close(self) -> None:
        self.conn.close()


class _PostgresSource(_Source):
    dialect = "postgresql"
    like = "ILIKE"  # SQLite's LIKE ignores ASCII case: a search for "ahmet" finds "Ahmet" on both

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        from sentiric_pbx.storage.postgres import to_pyformat

        return list(self.conn.execute(to_pyformat(sql) if params else sql, params or None).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def tables(self) -> set[str]:
        rows = self.all("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")
        return {r["name"] for r in rows}

    def json_text(self, column: str, *path: str) -> str:
        return f"({column}::json #>> '{{{','.join(path)}}}')"

    def json_length(self, column: str, key: str) -> str:
        return f"json_array_length({column}::json -> '{key}')"


def _sqlite(path: Path, read_only: bool) -> _Source | None:
    if not path.is_file():
        return None
    try:
        if read_only:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        else:  # the CLI's reader, as it always was: a plain connection that waits out the daemon's writes
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA busy_timeout = 5000")
    except sqlite3.Error as exc:
        raise CallReaderError(f"cannot open database {path}: {exc}") from exc
    conn.row_factory = lambda cur, row: {d[0]: v for d, v in zip(cur.description, row, strict=True)}
    return _Source(conn)


def _postgres(url: str) -> _PostgresSource:
    import psycopg
    from psycopg.rows import dict_row

    from sentiric_pbx.storage.postgres import CONNECT_TIMEOUT_S, _why, redact

    try:
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S)
        conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise CallReaderError(f"cannot connect to {redact(url)}: {_why(exc)}") from None
    return _PostgresSource(conn)


class CallReader:
    """Read-only queries over the site store and this host's file. Use `CallReader.open(...)`."""

    def __init__(self, sources: list[_Source]) -> None:
        self._sources = sources
        self._where: dict[str, _Source] = {}
        for source in reversed(sources):  # the first source wins a table both have (the site store's calls)
            for table in source.tables():
                self._where[table] = source

    @classmethod
    @contextlib.contextmanager
    def open(cls, db_file: Path, database_url: str | None = None, *, read_only: bool = True) -> Iterator[CallReader]:
        """`db_file`: the host's SQLite file (may not exist yet); `database_url`: the PostgreSQL site store."""
        sources: list[_Source] = []
        try:
            if database_url:
                sources.append(_postgres(database_url))
            local = _sqlite(db_file, read_only)
            if local is not None:
                sources.append(local)
            yield cls(sources)
        finally:
            for source in sources:
                with contextlib.suppress(Exception):
                    source.close()

    def has(self, table: str) -> bool:
        return table in self._where

    def _source(self, table: str) -> _Source:
        return self._where[table]

    def list_calls(self, f: CallFilter) -> tuple[list[dict[str, Any]], int]:
        """The calls matching `f`, newest first, one page of them, and how many match in all.

        Raises ValueError for a malformed date."""
        if not self.has("calls"):
            if f.date:
                _day_range(f.date)
            return [], 0
        src = self._source("calls")
        where: list[str] = []
        params: list[Any] = []
        if f.caller:
            names = (
                f"({src.json_text('context', 'caller_name')} {src.like} ? "
                f"OR {src.json_text('context', 'customer', 'name')} {src.like} ?)"
            )
            params.append(f"%{f.caller}%")
            if src.dialect == "postgresql" and not any(c in f.caller for c in '"\\%_'):
                # Parsing every context as JSON is the cost of this search (7x SQLite's); a name that matches is
                # also in the stored text verbatim (written with ensure_ascii=False), so a plain text match
                # first leaves only the candidates to parse. Not for a term JSON would escape, or a wildcard.
                names = f"(context ILIKE ? AND {names})"
                params.append(f"%{f.caller}%")
            where.append(f"(caller_id {src.like} ? OR {names})")
            params += [f"%{f.caller}%"] * 2
        for column, value in (("status", f.status), ("outcome", f.outcome)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if f.ingress:
            where.append(f"{src.json_text('context', 'ingress')} = ?")
            params.append(f.ingress)
        if f.date:
            where.append("started_at >= ? AND started_at < ?")
            params += list(_day_range(f.date))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total_row = src.one(f"SELECT COUNT(*) AS n FROM calls {clause}", params)
        rows = src.all(
            "SELECT call_id, status, caller_id, started_at, ended_at, outcome, updated_at, "
            f"{src.json_text('context', 'caller_name')} AS caller_name, "
            f"{src.json_text('context', 'customer', 'name')} AS customer_name, "
            f"{src.json_text('context', 'ingress')} AS ingress, "
            f"{src.json_length('context', 'turns')} AS turns "
            f"FROM calls {clause} ORDER BY started_at DESC LIMIT ? OFFSET ?",
            [*params, f.limit, f.offset],
        )
        return rows, int(total_row["n"]) if total_row else 0

    def call_record(self, call_id: str) -> dict[str, Any] | None:
        """Everything stored about one call, raw: `call` (the row without its context), `context` (parsed),
        `archive`, `analytics` (with `turns_json`), `jobs` (oldest first) and `booking`; None if unknown."""
        if not self.has("calls"):
            return None
        row = self._source("calls").one("SELECT * FROM calls WHERE call_id = ?", (call_id,))
        if row is None:
            return None
        try:
            context = json.loads(row.pop("context") or "{}")
        except json.JSONDecodeError:
            context = {}
        record: dict[str, Any] = {"call": row, "context": context, "archive": None, "analytics": None, "jobs": [],
                                  "booking": None}  # fmt: skip
        if self.has("postcall_archive"):
            record["archive"] = self._source("postcall_archive").one(
                "SELECT wav_path, transcript_path, archived_at FROM postcall_archive WHERE call_id = ?", (call_id,)
            )
        if self.has("analytics_calls"):
            record["analytics"] = self._source("analytics_calls").one(
                "SELECT * FROM analytics_calls WHERE call_id = ?", (call_id,)
            )
        if self.has("postcall_jobs"):
            record["jobs"] = self._source("postcall_jobs").all(
                "SELECT kind, status, attempts, last_error, updated_at FROM postcall_jobs WHERE call_id = ? "
                "ORDER BY created_at",
                (call_id,),
            )
        if self.has("calendar_bookings"):
            record["booking"] = self._source("calendar_bookings").one(
                "SELECT booking_id, start_ts, end_ts, name, phone, cancelled_at FROM calendar_bookings "
                "WHERE call_id = ? ORDER BY created_at DESC LIMIT 1",
                (call_id,),
            )
        return record

    def calls_since(self, since: float) -> list[dict[str, Any]]:
        """started_at, status, outcome and the timings JSON of every call since `since`, oldest first."""
        if not self.has("calls"):
            return []
        src = self._source("calls")
        return src.all(
            f"SELECT started_at, status, outcome, {src.json_text('context', 'timings')} AS timings "
            "FROM calls WHERE started_at >= ? ORDER BY started_at",
            (since,),
        )

"""Erasure: every trace of a call, or of a caller, removed from every place the daemon keeps it.

KVKK (Turkey) and the GDPR give a caller the right to have their data erased, and the admin must be able
to honour it with one command (`sentiric-pbx calls delete ID`, `sentiric-pbx crm forget PHONE`). A call
leaves data in many places, and erasure is only true if it reaches all of them:

- the database: `calls` (context = transcript), `crm_call_summaries`, `analytics_calls`,
  `postcall_archive`, `postcall_jobs` (a queued job's payload is the whole call), `greetings` (the next
  greeting written from the call), and for a caller `crm_customers` and `calendar_bookings`;
- files: the recording while the call runs (`<recordings>/<id>.wav`) and the archive's WAV and JSON;
- Redis, when configured: the call's context key and indexes, and its post-call jobs in the stream,
  the retry schedule and the dead letters.

Retention (`retention.py`) deletes old calls through the same `delete_calls`, so "what a call leaves
behind" is written down once. Tables another component creates lazily are skipped until they exist.
An HTTP CRM's copy is out of reach: the command says so.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import structlog

from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.config import Settings
from sentiric_pbx.postcall.archive import archive_paths
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.storage.context_redis import RedisContextStore
from sentiric_pbx.storage.db import Database, open_database, open_sqlite_database
from sentiric_pbx.storage.paths import archive_dir, recordings_dir
from sentiric_pbx.storage.recording_store import RecordingStore, recording_store

log = structlog.get_logger("sentiric_pbx.erasure")

_CHUNK = 500
"""Call ids per `IN (…)`: well below SQLite's variable limit, and short write transactions."""

BY_CALL: tuple[tuple[str, str], ...] = (
    ("crm_call_summaries", "summaries"),
    ("analytics_calls", "analytics"),
    ("greetings", "greetings"),
    ("postcall_jobs", "queued jobs"),
    ("postcall_done", "job records"),
    ("postcall_archive", "archive records"),
    ("calls", "calls"),
)
"""(table, what the count is called) of every row keyed by call_id, in the order they are deleted."""


def _chunks(items: Collection[str]) -> Iterable[list[str]]:
    ordered = sorted(items)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _marks(items: list[str]) -> str:
    return ", ".join("?" * len(items))


def _unlink(paths: Iterable[Path]) -> int:
    removed = 0
    for path in set(paths):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed


class PersonalData:
    """Where one daemon keeps callers' data: its database, its recording and archive folders, its Redis.

    Redis clients are opened from [storage] redis_url and closed by `aclose()`; the database is the
    caller's (the daemon's shared one, or the CLI's own) and is not closed here.
    """

    def __init__(
        self,
        db: Database,
        archive: Path,
        recordings: Path,
        *,
        contexts: RedisContextStore | None = None,
        queue: RedisStreamsQueue | None = None,
        default_country_code: str = "90",
        local: Database | None = None,
        store: RecordingStore | None = None,
    ) -> None:
        self.db = db
        self.store = store
        """`[storage] recordings_url`: the shared store holding the calls' recordings and transcripts."""
        self.local = local
        """The host's own SQLite file when `db` is the PostgreSQL site store: the post-call queue and the
        archive records stay per host (they name this host's files), and must be erased too."""
        self.archive = archive
        self.recordings = recordings
        self.contexts = contexts
        self.queue = queue
        self.default_country_code = default_country_code

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, local: Database | None = None) -> PersonalData:
        url = settings.storage.redis_url
        return cls(
            db,
            archive_dir(settings),
            recordings_dir(settings),
            contexts=RedisContextStore.from_url(url, settings.storage.context_ttl_s) if url else None,
            queue=RedisStreamsQueue.from_config(url, settings.postcall) if url else None,
            default_country_code=settings.business.default_country_code,
            local=local,
            store=recording_store(settings),
        )

    async def aclose(self) -> None:
        for client in (self.contexts, self.queue):
            if client is not None:
                await client.aclose()

    async def tables(self) -> set[str]:
        """The tables of the site store (or the one SQLite file)."""
        return await _tables(self.db)

    async def stores(self) -> list[tuple[Database, set[str]]]:
        """Every database holding callers' data, with its tables: the site store, then this host's file."""
        found = [(self.db, await _tables(self.db))]
        if self.local is not None:
            found.append((self.local, await _tables(self.local)))
        return found

    # -- one or more calls ------------------------------------------------------------------------------
    async def known_call(self, call_id: str) -> bool:
        """Whether anything of this call is stored (the database or Redis): `calls delete` of a typo fails."""
        for db, tables in await self.stores():
            for table, _ in BY_CALL:
                if table in tables and await db.fetchone(f"SELECT 1 FROM {table} WHERE call_id = ?", (call_id,)):
                    return True
        if self.contexts is not None and await self.contexts.client.exists(self.contexts.key(call_id)):
            return True
        return bool(await asyncio.to_thread(self._archived_files, [call_id]))

    async def delete_calls(
        self, call_ids: Collection[str], *, caller_id: str | None = None, search_archive: bool = True
    ) -> Counter[str]:
        """Delete everything of these calls; with `caller_id`, also every queued job of a call from it.
        Returns counts by kind ("calls", "recordings", "transcripts", "summaries", …).

        `search_archive`: also look through every archive day for files named for the calls (a call whose
        record is already gone); retention skips it, since it drops the old days whole anyway."""
        removed: Counter[str] = Counter()
        ids = set(call_ids)
        if self.store is not None:
            # First: with the store down nothing is deleted yet, and the erasure can simply be run again
            # (deleting the records first would leave objects no record names any more).
            removed += await asyncio.to_thread(_delete_stored, self.store, ids)
        stores = await self.stores()
        files: list[Path] = []
        for db, tables in stores:
            for chunk in _chunks(ids):
                files += await self._files_of(db, chunk, tables)
        if search_archive:
            files += await asyncio.to_thread(self._archived_files, ids)
        for db, tables in stores:
            for chunk in _chunks(ids):
                async with db.transaction() as conn:
                    for table, what in BY_CALL:
                        if table in tables:
                            cursor = await conn.execute(
                                f"DELETE FROM {table} WHERE call_id IN ({_marks(chunk)})", chunk
                            )
                            removed[what] += cursor.rowcount
                            await cursor.close()
            if caller_id is not None and "postcall_jobs" in tables:
                removed["queued jobs"] += await db.execute(
                    f"DELETE FROM postcall_jobs WHERE {_json_text(db, 'payload', 'context', 'caller_id')} = ?",
                    (caller_id,),
                )
        wavs = [f for f in files if f.suffix != ".json"]
        removed["recordings"] += await asyncio.to_thread(_unlink, wavs)
        removed["transcripts"] += await asyncio.to_thread(_unlink, [f for f in files if f.suffix == ".json"])
        if self.contexts is not None:
            removed["redis contexts"] += await self.contexts.delete(ids)
        if self.queue is not None and (ids or caller_id is not None):
            removed["queued jobs"] += await self.queue.forget(ids, caller_id)
        await self.scrub()
        return +removed  # drop the zero counts

    async def scrub(self) -> None:
        """Get deleted rows out of the files too. `secure_delete` (set by `Database.open`) zeroes them in the
        page, but in WAL mode the page with the rows is still in the main file until a checkpoint copies
        the new one over it, and old WAL frames keep them until overwritten: checkpoint and truncate now.
        A reader in the middle of a long read blocks it: the rows then go at the next checkpoint."""
        for db, _ in await self.stores():
            if db.dialect != "sqlite":
                # PostgreSQL keeps a deleted row's old version until VACUUM reuses its space; autovacuum
                # does, in its own time. Nothing here may rewrite a shared table under the other hosts.
                continue
            row = await db.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
            if row is not None and row[0]:
                log.warning("erasure_checkpoint_busy", path=db.path, hint="deleted rows leave the file later")

    async def _files_of(self, db: Database, chunk: list[str], tables: set[str]) -> list[Path]:
        """The files the database says these calls have: the archive's, and the recording in the context."""
        files: list[Path] = []
        if "postcall_archive" in tables:
            for row in await db.fetchall(
                f"SELECT wav_path, transcript_path FROM postcall_archive WHERE call_id IN ({_marks(chunk)})", chunk
            ):
                files += [Path(p) for p in (row["wav_path"], row["transcript_path"]) if p]
        if "calls" not in tables:
            return files
        for row in await db.fetchall(
            f"SELECT call_id, started_at, context FROM calls WHERE call_id IN ({_marks(chunk)})", chunk
        ):
            files += archive_paths(self.archive, row["call_id"], row["started_at"])
            recording = _recording_of(row["context"])
            if recording is not None and recording.name == f"{row['call_id']}.wav":
                files.append(recording)  # only a file this call wrote, never one a context merely names
        return files

    def _archived_files(self, ids: Collection[str]) -> list[Path]:
        """Files named for these calls in the recordings folder and any archive day (a record may be gone)."""
        found: list[Path] = []
        for call_id in ids:
            if "/" in call_id or call_id.startswith("."):
                continue
            found += [self.recordings / f"{call_id}.wav", self.recordings / f"{call_id}.wav.tmp"]
            if self.archive.is_dir():
                found += self.archive.glob(f"[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/{call_id}.*")
        return [p for p in found if p.is_file()]

    # -- a caller ---------------------------------------------------------------------------------------
    def normalize(self, phone: str) -> str | None:
        return normalize_e164(phone, self.default_country_code)

    async def forget_caller(self, phone: str) -> Counter[str]:
        """Erase a caller: their CRM record and call notes, every call from their number or linked to their
        customer record, their next greeting and their bookings. `ValueError` if `phone` is no number."""
        number = self.normalize(phone)
        if number is None:
            raise ValueError(f"{phone!r} is not a phone number")
        tables = await self.tables()
        customers = [
            row["customer_id"]
            for row in await self.db.fetchall("SELECT customer_id FROM crm_customers WHERE phone = ?", (number,))
        ]
        calls = await self._calls_from(number, customers, tables)
        removed = await self.delete_calls(calls, caller_id=number)
        marks = _marks(customers) if customers else "NULL"
        for table, what in (("crm_call_summaries", "summaries"), ("calendar_bookings", "bookings")):
            if table in tables:
                removed[what] += await self.db.execute(
                    f"DELETE FROM {table} WHERE phone = ? OR customer_id IN ({marks})", (number, *customers)
                )
        removed["greetings"] += await self.db.execute("DELETE FROM greetings WHERE phone = ?", (number,))
        removed["customers"] += await self.db.execute("DELETE FROM crm_customers WHERE phone = ?", (number,))
        await self.scrub()
        return +removed

    async def _calls_from(self, number: str, customers: list[str], tables: set[str]) -> set[str]:
        """Every call id linked to this number anywhere: caller IDs are compared after normalising, since
        a trunk may have sent "0555…" for a call the CRM knows as "+90555…"."""
        calls: set[str] = set()
        customer_of = _json_text(self.db, "context", "customer", "customer_id")
        for row in await self.db.fetchall(f"SELECT call_id, caller_id, {customer_of} AS customer_id FROM calls"):
            if self.normalize(row["caller_id"]) == number or (row["customer_id"] in customers and customers):
                calls.add(row["call_id"])
        marks = _marks(customers) if customers else "NULL"
        for row in await self.db.fetchall(
            f"SELECT call_id FROM crm_call_summaries WHERE phone = ? OR customer_id IN ({marks})", (number, *customers)
        ):
            calls.add(row["call_id"])
        for db, tables in await self.stores():
            if "postcall_jobs" not in tables:
                continue
            caller_of = _json_text(db, "payload", "context", "caller_id")
            for row in await db.fetchall(
                f"SELECT DISTINCT call_id, {caller_of} AS caller FROM postcall_jobs WHERE payload != '{{}}'"
            ):
                if self.normalize(row["caller"]) == number:
                    calls.add(row["call_id"])
        if self.contexts is not None:
            calls |= await self.contexts.calls_from(number, self.normalize)
        return calls


async def _tables(db: Database) -> set[str]:
    if db.dialect == "postgresql":
        rows = await db.fetchall("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")
    else:
        rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row["name"] for row in rows}


def _json_text(db: Database, column: str, *path: str) -> str:
    """SQL for the text at `path` inside a JSON text column, in the database's dialect."""
    if db.dialect == "postgresql":
        return f"({column}::json #>> '{{{','.join(path)}}}')"
    return f"json_extract({column}, '$.{'.'.join(path)}')"


async def open_local_store(settings: Settings, db: Database) -> Database | None:
    """This host's SQLite file beside the PostgreSQL site store (None when `db` is that file already)."""
    return None if db.dialect == "sqlite" else await open_sqlite_database(settings)


def _delete_stored(store: RecordingStore, ids: Collection[str]) -> Counter[str]:
    """The calls' objects in the shared store (`<call_id>.wav` and `.json`: their names follow from the id)."""
    removed: Counter[str] = Counter()
    for call_id in ids:
        for key, what in ((f"{call_id}.wav", "recordings"), (f"{call_id}.json", "transcripts")):
            try:
                url = store.url_for(key)
            except ValueError:  # not a name a call of ours can have
                continue
            if store.size(url) is not None:
                store.delete(url)
                removed[what] += 1
    return removed


def _recording_of(context: str | None) -> Path | None:
    try:
        path = json.loads(context or "{}").get("recording_path")
    except (ValueError, AttributeError):
        return None
    return Path(path) if isinstance(path, str) and path else None


@asynccontextmanager
async def open_personal_data(settings: Settings) -> AsyncIterator[PersonalData]:
    """The configured daemon's stores, for a CLI command: its database (migrated) and its Redis."""
    db = await open_database(settings)
    try:
        local = await open_local_store(settings, db)
    except BaseException:
        await db.aclose()
        raise
    data = PersonalData.from_settings(settings, db, local)
    try:
        yield data
    finally:
        await data.aclose()
        await db.aclose()
        if local is not None:
            await local.aclose()


_ORDER = (
    "customers", "calls", "recordings", "transcripts", "summaries", "analytics", "greetings", "bookings",
    "queued jobs", "archive records", "redis contexts", "dead letters",
)  # fmt: skip


def _counted(n: int, kind: str) -> str:
    if n != 1 or kind == "analytics":
        return f"{n} {kind}"
    return f"1 {'summary' if kind == 'summaries' else kind.removesuffix('s')}"


def describe(removed: Counter[str]) -> str:
    """"1 call, 2 recordings, 1 transcript, …" in a fixed order, or "nothing"."""
    keys = [k for k in _ORDER if removed.get(k)] + sorted(k for k in removed if k not in _ORDER and removed[k])
    return ", ".join(_counted(removed[k], k) for k in keys) or "nothing"


__all__ = ["BY_CALL", "PersonalData", "describe", "open_local_store", "open_personal_data"]

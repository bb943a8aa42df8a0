"""The `ContextStore` protocol: a call's `CallContext` is written through it after every turn.

Implementations:
- `MemoryContextStore` (here): tests of other parts only; nothing survives the process.
- `SqliteContextStore` (`context_sqlite.py`): the embedded default, one `calls` row per call.
- `RedisContextStore` (`context_redis.py`): one key per call with a TTL — the seed's choice, needed when
  several daemons share calls — writing finished calls through to SQLite so the record outlives the TTL.
- `ResilientContextStore` (`context_resilient.py`): Redis in front, SQLite behind; when Redis dies
  mid-call the call goes on against SQLite and switches back when Redis returns.

`build_context_store(settings)` picks from [storage]: Redis (wrapped resilient) when `redis_url` is set,
SQLite otherwise.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Protocol

from sentiric_pbx.call.record import CallContext, CallStatus

if TYPE_CHECKING:
    from sentiric_pbx.config import Settings
    from sentiric_pbx.storage.db import Database


class ContextStore(Protocol):
    async def save(self, context: CallContext) -> None:
        """Write the whole context (idempotent; last write wins)."""
        ...

    async def load(self, call_id: str) -> CallContext | None: ...

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        """Mark the call ended with `status` and make the record durable (SQLite row, Redis TTL extended)."""
        ...

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]: ...

    async def aclose(self) -> None: ...


def encode_context(context: CallContext) -> str:
    """The stored form: `CallContext.to_dict()` as JSON (non-ASCII names kept readable)."""
    return json.dumps(context.to_dict(), ensure_ascii=False, separators=(",", ":"))


def decode_context(raw: str | bytes) -> CallContext:
    return CallContext.from_dict(json.loads(raw))


def mark_finished(context: CallContext, status: CallStatus) -> None:
    """What every `finish()` does to the context itself before storing it: status, and an end time."""
    context.status = status
    if context.ended_at is None:
        context.ended_at = time.time()


def newest_first(contexts: list[CallContext], limit: int) -> list[CallContext]:
    return sorted(contexts, key=lambda c: c.started_at, reverse=True)[:limit]


class MemoryContextStore:
    """A dict of JSON strings: stores a copy, as the real stores do, so later edits to a context do
    not leak into what was "saved"."""

    def __init__(self) -> None:
        self._calls: dict[str, str] = {}

    async def save(self, context: CallContext) -> None:
        self._calls[context.call_id] = encode_context(context)

    async def load(self, call_id: str) -> CallContext | None:
        raw = self._calls.get(call_id)
        return None if raw is None else decode_context(raw)

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        mark_finished(context, status)
        await self.save(context)

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]:
        found = [decode_context(raw) for raw in self._calls.values()]
        return newest_first([c for c in found if status is None or c.status == status], limit)

    async def aclose(self) -> None:
        return None


async def build_context_store(settings: Settings, db: Database | None = None) -> ContextStore:
    """The store [storage] asks for. Pass the daemon's shared `db`; without one the store opens (and
    on `aclose()` closes) its own. With `redis_url`, Redis is probed once here so an unreachable Redis
    is reported at start (`context_store_degraded`) rather than at the first call."""
    from sentiric_pbx.storage.context_sqlite import SqliteContextStore
    from sentiric_pbx.storage.db import open_database

    owns_db = db is None
    database = await open_database(settings) if db is None else db
    durable = SqliteContextStore(database, owns_db=owns_db)
    if not settings.storage.redis_url:
        return durable

    from sentiric_pbx.storage.context_redis import RedisContextStore
    from sentiric_pbx.storage.context_resilient import ResilientContextStore

    redis_store = RedisContextStore.from_url(
        settings.storage.redis_url, settings.storage.context_ttl_s, durable=durable
    )
    store = ResilientContextStore(redis_store, durable)
    await store.probe()
    return store

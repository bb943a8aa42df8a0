"""`RedisContextStore`: the seed's `call_context` — one Redis key per call, living as long as the call.

Layout (prefix "sentiric"):
- `sentiric:call:<call_id>`: the context as JSON, `SET … EX ttl` on every save, so an abandoned call's
  key goes away by itself after [storage] context_ttl_s.
- `sentiric:calls` and `sentiric:calls:<status>`: sorted sets of call ids scored by `started_at`, the
  index `list()` reads. A save moves the id between status sets in the same MULTI as the key write.
  Index entries whose key has expired are removed lazily when `list()` meets them.

Redis is a cache with a TTL (and often runs without persistence), so `finish()` writes the ended
call through to a `durable` store (SQLite) first; `load()`/`list()` consult it for calls Redis no
longer holds. Surviving a Redis outage is `ResilientContextStore`'s job; this class just raises
`redis.exceptions.RedisError` (or `OSError`/`TimeoutError`) and lets the wrapper decide.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import get_args

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sentiric_pbx.call.record import CallContext, CallStatus
from sentiric_pbx.storage.context_store import (
    ContextStore,
    decode_context,
    encode_context,
    mark_finished,
    newest_first,
)

STATUSES: tuple[str, ...] = get_args(CallStatus)
REDIS_TIMEOUT_S = 0.5
"""Socket connect/read timeout. Redis answers in well under a millisecond on a LAN; waiting longer
only holds up a live call before the resilient wrapper switches to SQLite. Defaults to 0.5 s."""


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisContextStore:
    """Contexts as Redis keys with a TTL. `durable` (not owned, not closed here) keeps finished calls."""

    def __init__(
        self, client: Redis, ttl_s: int, *, durable: ContextStore | None = None, prefix: str = "sentiric"
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.durable = durable
        self.prefix = prefix

    @classmethod
    def from_url(
        cls, url: str, ttl_s: int, *, durable: ContextStore | None = None, timeout_s: float = REDIS_TIMEOUT_S
    ) -> RedisContextStore:
        # redis-py retries a failed command 10 times with backoff by default: seconds of a caller
        # waiting in silence. One immediate retry covers a pooled connection Redis closed while idle.
        client = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
        )
        return cls(client, ttl_s, durable=durable)

    def key(self, call_id: str) -> str:
        return f"{self.prefix}:call:{call_id}"

    def index(self, status: str | None = None) -> str:
        return f"{self.prefix}:calls" if status is None else f"{self.prefix}:calls:{status}"

    async def ping(self) -> None:
        await self.client.ping()

    async def save(self, context: CallContext) -> None:
        member = {context.call_id: context.started_at}
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.key(context.call_id), encode_context(context), ex=self.ttl_s)
            for index in (self.index(), self.index(context.status)):
                pipe.zadd(index, member)
                pipe.expire(index, self.ttl_s)
            for other in STATUSES:
                if other != context.status:
                    pipe.zrem(self.index(other), context.call_id)
            await pipe.execute()

    async def load(self, call_id: str) -> CallContext | None:
        raw = await self.client.get(self.key(call_id))
        if raw is not None:
            return decode_context(raw)
        return await self.durable.load(call_id) if self.durable else None

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        mark_finished(context, status)
        if self.durable is not None:
            await self.durable.save(context)  # first: the record that must outlive Redis
        await self.save(context)

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]:
        found = {c.call_id: c for c in await self._list_indexed(status, limit)}
        if self.durable is not None:
            for c in await self.durable.list(status, limit):
                found.setdefault(c.call_id, c)  # Redis holds the newer copy of a live call
        return newest_first(list(found.values()), limit)

    async def _list_indexed(self, status: CallStatus | None, limit: int) -> list[CallContext]:
        index, start, out = self.index(status), 0, []
        while len(out) < limit:
            ids = [_text(i) for i in await self.client.zrevrange(index, start, start + limit - 1)]
            if not ids:
                break
            raws = await self.client.mget([self.key(i) for i in ids])
            expired = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
            if expired:
                await self.client.zrem(index, *expired)
            start += len(ids) - len(expired)
            out += [c for c in (decode_context(r) for r in raws if r is not None) if status in (None, c.status)]
        return out[:limit]

    async def delete(self, call_ids: Collection[str]) -> int:
        """Remove these calls' keys and index entries (erasure, retention); returns the keys removed.
        The durable record is not touched: whoever erases deletes it there too."""
        ids = list(call_ids)
        if not ids:
            return 0
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(*[self.key(i) for i in ids])
            for index in (self.index(), *(self.index(status) for status in STATUSES)):
                pipe.zrem(index, *ids)
            results = await pipe.execute()
        return int(results[0])

    async def calls_from(self, caller_id: str, normalize: Callable[[str | None], str | None]) -> set[str]:
        """Ids of the calls whose key Redis holds from `caller_id` (compared after `normalize`): a call still
        running, or one that ended within the TTL, may not be only in the durable store."""
        found: set[str] = set()
        prefix = self.key("")
        async for key in self.client.scan_iter(match=f"{prefix}*", count=500):
            raw = await self.client.get(key)
            if raw is not None and normalize(decode_context(raw).caller_id) == caller_id:
                found.add(_text(key)[len(prefix) :])
        return found

    async def aclose(self) -> None:
        await self.client.aclose()

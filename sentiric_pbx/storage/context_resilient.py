"""`ResilientContextStore`: Redis dies mid-call, the call goes on.

The design's failure rule "Redis gone (calls go on, nothing lost)". Every operation tries the primary
(Redis) under `attempt_timeout_s`; the first failure switches the store to *degraded*: one
`context_store_degraded` warning with the error — one per outage, not one per save, because an admin
reading journald needs to see that it happened, not a thousand copies of it — and from then on
contexts go straight to the fallback (SQLite) without waiting on Redis again.

Nothing is lost because every save writes the whole context: the first save after the failure puts
all turns so far into SQLite. A background probe pings Redis every `retry_interval_s`; when it
answers, every call written to SQLite during the outage is copied back into Redis (so Redis never
serves a stale context), then the store switches back and logs `context_store_recovered`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

import structlog
from redis.exceptions import RedisError

from sentiric_pbx.call.record import CallContext, CallStatus
from sentiric_pbx.storage.context_store import ContextStore

log = structlog.get_logger("sentiric_pbx.storage.context")

PRIMARY_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
"""What counts as "the primary is down". Anything else is a bug and is raised, not hidden."""

T = TypeVar("T")


class ProbedStore(ContextStore, Protocol):
    async def ping(self) -> None:
        """Raise if the store cannot serve requests right now."""
        ...


class ResilientContextStore:
    """`primary` while it answers, `fallback` while it does not; `degraded` says which."""

    def __init__(
        self,
        primary: ProbedStore,
        fallback: ContextStore,
        *,
        attempt_timeout_s: float = 1.0,
        retry_interval_s: float = 1.0,
        names: tuple[str, str] = ("redis", "sqlite"),
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.attempt_timeout_s = attempt_timeout_s
        """Longest one primary operation may hold up the call before we give up on it. Defaults to 1 s."""
        self.retry_interval_s = retry_interval_s
        """How often a degraded store pings the primary. Defaults to 1 s."""
        self.names = names
        self._degraded_since: float | None = None
        self._fallback_writes = 0
        self._dirty: set[str] = set()
        self._inflight = 0
        self._probe_lock = asyncio.Lock()
        self._recovery: asyncio.Task[None] | None = None

    @property
    def degraded(self) -> bool:
        return self._degraded_since is not None

    async def _attempt(self, op: Awaitable[T]) -> T:
        async with asyncio.timeout(self.attempt_timeout_s):
            return await op

    def _degrade(self, exc: BaseException) -> None:
        if self.degraded:
            return
        self._degraded_since = time.monotonic()
        primary, fallback = self.names
        log.warning(
            "context_store_degraded",
            store=primary,
            fallback=fallback,
            error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            retry_every_s=self.retry_interval_s,
        )
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover_loop())

    async def _to_fallback(self, call_id: str, op: Awaitable[None]) -> None:
        # `_inflight` is raised before the first await, so recovery cannot switch back while a write
        # it has not seen yet is still on its way into SQLite.
        self._inflight += 1
        try:
            await op
            self._fallback_writes += 1
            self._dirty.add(call_id)
        finally:
            self._inflight -= 1

    async def save(self, context: CallContext) -> None:
        if not self.degraded:
            try:
                return await self._attempt(self.primary.save(context))
            except PRIMARY_ERRORS as exc:
                self._degrade(exc)
        await self._to_fallback(context.call_id, self.fallback.save(context))

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        if not self.degraded:
            try:
                return await self._attempt(self.primary.finish(context, status))
            except PRIMARY_ERRORS as exc:
                self._degrade(exc)
        await self._to_fallback(context.call_id, self.fallback.finish(context, status))

    async def load(self, call_id: str) -> CallContext | None:
        if not self.degraded:
            try:
                return await self._attempt(self.primary.load(call_id))
            except PRIMARY_ERRORS as exc:
                self._degrade(exc)
        return await self.fallback.load(call_id)

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]:
        if not self.degraded:
            try:
                return await self._attempt(self.primary.list(status, limit))
            except PRIMARY_ERRORS as exc:
                self._degrade(exc)
        return await self.fallback.list(status, limit)

    async def probe(self) -> bool:
        """Ping the primary now. Degrades on failure; when degraded and it answers, resyncs and recovers."""
        async with self._probe_lock:
            try:
                await self._attempt(self.primary.ping())
                if self.degraded:
                    await self._resync()
            except PRIMARY_ERRORS as exc:
                self._degrade(exc)
                return False
            return True

    async def _recover_loop(self) -> None:
        while self.degraded:
            await asyncio.sleep(self.retry_interval_s)
            try:
                await self.probe()
            except Exception as exc:  # the fallback failed while resyncing: keep trying, loudly
                log.error("context_store_resync_failed", error=f"{type(exc).__name__}: {exc}")

    async def _resync(self) -> None:
        """Copy every context written to the fallback during the outage back into the primary."""
        resynced = 0
        while self._dirty or self._inflight:
            if not self._dirty:
                await asyncio.sleep(0.005)  # a fallback write is still landing; wait for it
                continue
            call_id = self._dirty.pop()
            context = await self.fallback.load(call_id)
            if context is None:
                continue
            try:
                await self._attempt(self.primary.save(context))
            except BaseException:
                self._dirty.add(call_id)
                raise
            resynced += 1
        # No await between the loop's last check and here: no write can slip past the switch.
        assert self._degraded_since is not None
        log.info(
            "context_store_recovered",
            store=self.names[0],
            outage_s=round(time.monotonic() - self._degraded_since, 2),
            fallback_writes=self._fallback_writes,
            resynced=resynced,
        )
        self._degraded_since = None
        self._fallback_writes = 0

    async def aclose(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        with contextlib.suppress(*PRIMARY_ERRORS):
            await self.primary.aclose()
        await self.fallback.aclose()

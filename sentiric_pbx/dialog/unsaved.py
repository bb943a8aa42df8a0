"""Finished call records the database would not take, kept and retried until it does.

A call's record is saved after every turn and finished at hang-up (status, end time, the last turns),
then its post-call jobs are queued. If the database's disk is full, read-only or failing at that moment,
the finishing write fails: before this module the record stayed `active` for good (without its last
turns, its end or its status), its summary, archive and analytics were never queued, and nothing ever
tried again — the call was as good as lost, and `calls list` showed it in progress forever.

Now the finished record stays in memory and is written again every `retry_s` until the store takes it
(then its post-call jobs are queued): one `call_record_unsaved` error line per call when it first fails,
naming the error, and one `call_record_saved_late` line when it is stored. What is still unsaved when the
daemon stops gets a last try and then one `call_record_lost` line per call (its id and the error; no
transcript: the journal is no place for what callers said). The record is the whole context, so a
late write is the same write, and queueing its jobs again is safe: the post-call ledger runs a call's job
of each kind once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from sentiric_pbx.call.record import CallContext

log = structlog.get_logger("sentiric_pbx.assistant")

StoreRecord = Callable[[CallContext], Awaitable[None]]

FIX = "free space on (or make writable) the disk of [storage] db_path; the record is kept in memory meanwhile"


class UnsavedRecords:
    """`finish(ctx)` stores a finished record now, or keeps it and retries every `retry_s`."""

    def __init__(self, store: StoreRecord, retry_s: float = 5.0) -> None:
        self._store = store
        self.retry_s = retry_s
        self._pending: dict[str, tuple[CallContext, float]] = {}
        """call id → (its finished record, when it first failed), oldest first."""
        self._retrying: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    async def finish(self, ctx: CallContext) -> None:
        """Store `ctx` (and queue its jobs); never raises: a failure is kept for the next try."""
        try:
            await self._store(ctx)
        except Exception as exc:
            self._pending[ctx.call_id] = (ctx, time.monotonic())
            log.error(
                "call_record_unsaved",
                call_id=ctx.call_id,
                status=ctx.status,
                error=repr(exc),
                retry_every_s=self.retry_s,
                fix=FIX,
            )
            if self._retrying is None or self._retrying.done():
                self._retrying = asyncio.create_task(self._retry(), name="unsaved-records")

    async def _retry(self) -> None:
        while self._pending:
            await asyncio.sleep(self.retry_s)
            await self._try_all()

    async def _try_all(self) -> list[tuple[str, BaseException]]:
        """One attempt at every pending record, oldest first; the ones that failed again, with why."""
        failed = []
        for call_id, (ctx, since) in list(self._pending.items()):
            try:
                await self._store(ctx)
            except Exception as exc:
                failed.append((call_id, exc))
                continue
            del self._pending[call_id]
            log.info("call_record_saved_late", call_id=call_id, waited_s=round(time.monotonic() - since, 1))
        return failed

    async def aclose(self) -> None:
        """The daemon stops: a last try, then one `call_record_lost` line for each record still unsaved."""
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrying
        for call_id, exc in await self._try_all():
            self._pending.pop(call_id, None)
            log.error("call_record_lost", call_id=call_id, error=repr(exc), why="the daemon stopped before the "
                      "database took the finished record; it stays as its last save (status active)")  # fmt: skip

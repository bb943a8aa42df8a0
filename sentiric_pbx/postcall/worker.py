"""`PostcallWorker`: claims post-call jobs, runs their handler, settles them; `enqueue_postcall`.

One worker runs one job at a time; a daemon or `sentiric-pbx worker` runs several for parallelism.
While a handler runs, the worker renews the job's lease (every third of it), so a slow LLM summary
is never taken over by another worker; if the renewal finds the lease already lost, the handler is
cancelled so the same job never runs twice at once. Each job ends in exactly one log line —
`postcall_job_done`, `postcall_job_retry`, `postcall_job_dead` or `postcall_job_abandoned` — with
the call_id bound, so `journalctl … | grep <call_id>` tells a call's whole post-call story.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Mapping

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.postcall.backoff import waiting_for
from sentiric_pbx.postcall.jobs import ARCHIVE, KINDS, Handler
from sentiric_pbx.postcall.ledger import DoneLedger
from sentiric_pbx.postcall.queue import Job, JobQueue

log = structlog.get_logger("sentiric_pbx.postcall.worker")


def worker_name() -> str:
    """host:pid:random — unique per worker, readable in the queue (claimed_by, consumer names)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _LeaseLost(Exception):
    pass


class PostcallWorker:
    """Runs jobs from `queue` with `handlers` (kind → async callable) until told to stop.

    block_s: how long one claim waits for work; also the worst-case delay to notice `stop`. Defaults to 1 s.
    job_timeout_s: a handler running longer than this fails (and is retried). Defaults to 600 s.
    heartbeat_s: lease renewal interval. Defaults to a third of the queue's `lease_s`.
    """

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        name: str | None = None,
        block_s: float = 1.0,
        job_timeout_s: float = 600.0,
        heartbeat_s: float | None = None,
        ledger: DoneLedger | None = None,
    ) -> None:
        self.queue = queue
        self.ledger = ledger
        """Site-wide record of done jobs: a job some worker already did is settled without running again."""
        self.handlers = dict(handlers)
        self.name = name or worker_name()
        self.block_s = block_s
        self.job_timeout_s = job_timeout_s
        self.heartbeat_s = heartbeat_s or float(getattr(queue, "lease_s", 60.0)) / 3

    async def run(self, stop_event: asyncio.Event) -> None:
        """Claim and run jobs until `stop_event` is set; a job already running is finished first."""
        log.info("postcall_worker_started", worker=self.name)
        pause = 0.5
        while not stop_event.is_set():
            try:
                job = await self._claim_unless_stopped(stop_event)
                if job is not None:
                    await self._run_claimed(job)
                pause = 0.5
            except Exception as exc:  # queue unreachable (Redis restarting, disk full): wait, retry
                log.warning("postcall_queue_unavailable", worker=self.name, error=repr(exc), retry_in_s=pause)
                with contextlib.suppress(TimeoutError):
                    await within(stop_event.wait(), pause)
                pause = min(pause * 2, 30.0)
        log.info("postcall_worker_stopped", worker=self.name)

    async def run_once(self, block_s: float | None = None) -> bool:
        """Claim at most one job and run it; True if there was one."""
        job = await self.queue.claim(self.name, self.block_s if block_s is None else block_s)
        if job is None:
            return False
        await self._run_claimed(job)
        return True

    async def _claim_unless_stopped(self, stop_event: asyncio.Event) -> Job | None:
        """The next job, or None as soon as `stop_event` is set: a stopping daemon does not sit out the rest of
        the claim's wait (up to `block_s`, for every daemon stop). A job the claim took just as the stop came is
        still returned, to be finished; one cut off inside the claim is the queue's like a crashed worker's
        (taken again after its lease)."""
        claim = asyncio.ensure_future(self.queue.claim(self.name, self.block_s))
        stopped = asyncio.ensure_future(stop_event.wait())
        try:
            await asyncio.wait({claim, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not claim.done():
            claim.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await claim
        if claim.cancelled():
            return None
        return claim.result()

    async def _run_claimed(self, job: Job) -> None:
        with structlog.contextvars.bound_contextvars(call_id=job.call_id):
            await self._process(job)

    async def _process(self, job: Job) -> None:
        fields = {"kind": job.kind, "job_id": job.job_id, "attempt": job.attempts, "worker": self.name}
        handler = self.handlers.get(job.kind)
        started = time.monotonic()
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            if self.ledger is not None and await self.ledger.is_done(job.call_id, job.kind):
                await self.queue.complete(job)
                log.info("postcall_job_skipped", reason="done already (by this or another worker)", **fields)
                return
            await self._run_leased(job, handler)
        except _LeaseLost:
            log.warning("postcall_job_abandoned", reason="lease lost to another worker", **fields)
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc) or f'no result within {self.job_timeout_s} s'}"
            wait = waiting_for(exc)  # disk full or read-only: wait for the admin, however long, never dead
            await self.queue.fail(job, error, transient=wait is not None)
            elapsed = round((time.monotonic() - started) * 1000, 1)
            if wait is not None:
                log.warning("postcall_job_retry", error=error, ms=elapsed, waiting_for=wait, **fields)
            elif job.attempts >= int(getattr(self.queue, "max_attempts", 1 << 30)):
                log.error("postcall_job_dead", error=error, ms=elapsed, **fields)
            else:
                log.warning("postcall_job_retry", error=error, ms=elapsed, **fields)
            return
        if self.ledger is not None:
            try:
                first = await self.ledger.record(job.call_id, job.kind, job.job_id, self.name)
            except Exception as exc:  # done all the same; a later copy of it may run again (idempotent)
                log.warning("postcall_ledger_unavailable", error=repr(exc), **fields)
            else:
                if not first:
                    log.warning("postcall_job_ran_twice", reason="another worker finished it meanwhile", **fields)
        await self.queue.complete(job)
        log.info("postcall_job_done", ms=round((time.monotonic() - started) * 1000, 1), **fields)

    async def _run_leased(self, job: Job, handler: Handler) -> None:
        """Run the handler while renewing the lease; raise `_LeaseLost` if another worker took the job."""
        task = asyncio.create_task(within(handler(job), self.job_timeout_s))
        heartbeat = getattr(self.queue, "heartbeat", None)
        lost = False

        async def renew() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(self.heartbeat_s)
                try:
                    ok = await heartbeat(job)
                except Exception as exc:  # a blip; the lease still has two thirds left
                    log.warning("postcall_lease_renewal_failed", job_id=job.job_id, error=repr(exc))
                    continue
                if not ok:
                    lost = True
                    task.cancel()
                    return

        renewer = asyncio.create_task(renew()) if heartbeat is not None else None
        try:
            await task
        except asyncio.CancelledError:
            if lost:
                raise _LeaseLost from None
            raise
        finally:
            if renewer is not None:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await renewer


async def enqueue_postcall(queue: JobQueue, context: CallContext, fallback: JobQueue | None = None) -> list[str]:
    """Enqueue summary, archive and analytics for an ended call; return the job ids.

    The payload carries a snapshot of the context so the jobs can run even if the context store
    lost the call. With `fallback` (the SQLite outbox when `queue` is Redis), a Redis outage at
    hang-up time costs nothing: the jobs wait in the file until a local worker runs them; and each
    job handed to Redis leaves a standby copy there, run locally if that Redis restarts (SIGKILL,
    OOM: an unpersisted stream is gone) before the copy expires — see `guard_redis_restarts`.
    The archive job of a recording that is on this host's disk alone (no `[storage] recordings_url`)
    goes to `fallback`, this host's own queue: a worker on another host could not read the file.
    """
    payload = {"context": context.to_dict()}
    ids = []
    guard = getattr(fallback, "stand_by", None)
    run_id = getattr(queue, "run_id", None)
    for kind in KINDS:
        if kind == ARCHIVE and fallback is not None and context.recording_path and not context.recording_url:
            # The recording is on this host's disk only (no [storage] recordings_url): a worker elsewhere
            # cannot archive it, so the job stays in this host's queue, run by this daemon's own worker.
            ids.append(await fallback.enqueue(kind, context.call_id, payload))
            continue
        try:
            # The run_id before the job is handed over: a restart in between then reruns, never loses it.
            run = await run_id() if guard is not None and run_id is not None else None
            job_id = await queue.enqueue(kind, context.call_id, payload)
            ids.append(job_id)
            if run is not None and guard is not None:
                await guard(job_id, kind, context.call_id, payload, run)
        except Exception as exc:
            if fallback is None:
                raise
            log.warning("postcall_enqueue_fallback", call_id=context.call_id, kind=kind, error=repr(exc))
            ids.append(await fallback.enqueue(kind, context.call_id, payload))
    return ids

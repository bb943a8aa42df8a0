"""`RedisStreamsQueue`: post-call jobs shared by every daemon and `sentiric-pbx worker` on a Redis.

Why streams with a consumer group: each job goes to exactly one worker of the group, and a job a
worker took but never acknowledged stays in the group's pending list — so when a worker host dies,
another one takes its jobs over with XAUTOCLAIM once they have been idle longer than the lease.

Keys (one Redis, not Cluster: the scripts touch several keys):
  <stream>          the jobs (XADD / XREADGROUP / XACK / XDEL once settled)
  <stream>:retry    sorted set: failed jobs waiting for their retry time (score = due unix time);
                    `claim()` moves the due ones back into the stream in one Lua script
  <stream>:dead     the dead-letter stream: jobs that failed `max_attempts` times, with the last error

A message carries job_id (stable across retries), kind, call_id, payload (JSON) and `attempts`, the
claims before this message was written. A job's attempt number is that plus the times this message
was delivered, so a job that crashes its worker again and again still ends in the dead letters.
Settling (complete, fail) and heartbeats run as scripts that first check the message is still
pending *for this worker*: one whose lease was taken over cannot ack or re-queue the job any more.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from sentiric_pbx.config import PostcallConfig
from sentiric_pbx.postcall.backoff import TRANSIENT_CAP_S, backoff_delay_s
from sentiric_pbx.postcall.queue import Job

log = structlog.get_logger("sentiric_pbx.postcall.redis")

# KEYS: retry zset, stream. ARGV: now, max count. Members are JSON flat field lists.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(cjson.decode(m)))
  redis.call('ZREM', KEYS[1], m)
end
return #due
"""

# KEYS: stream, retry zset, dead stream. ARGV: group, message id, consumer, action, score, fields JSON.
_SETTLE = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
elseif ARGV[4] == 'dead' then
  redis.call('XADD', KEYS[3], '*', unpack(cjson.decode(ARGV[6])))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

# KEYS: stream. ARGV: group, message id, consumer. Resets the idle time (the lease) if still ours.
_HEARTBEAT = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""


@dataclass(slots=True)
class StreamJob(Job):
    """A `Job` plus where it lives in the stream, so it can be settled by the worker that holds it."""

    message_id: str = ""
    consumer: str = ""
    last_error: str = ""


class RedisStreamsQueue:
    """A `JobQueue` on Redis Streams with a consumer group, delayed retries and dead letters.

    max_attempts: attempts before a job moves to `<stream>:dead`. Defaults to 8.
    backoff_base_s: first retry delay (doubling, jittered, capped at backoff_cap_s). Defaults to 2 s.
    lease_s: idle time after which another worker takes a claimed job over. Defaults to 60 s.
    """

    def __init__(
        self,
        redis_url: str,
        stream: str = "sentiric:postcall",
        group: str = "workers",
        *,
        max_attempts: int = 8,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 3600.0,
        lease_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.stream = stream
        self.group = group
        self.retry_key = f"{stream}:retry"
        self.dead_key = f"{stream}:dead"
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.lease_s = lease_s
        self._clock = clock
        self._rng = rng
        self._redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._promote = self._redis.register_script(_PROMOTE)
        self._settle = self._redis.register_script(_SETTLE)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._group_ready = False

    @classmethod
    def from_config(cls, redis_url: str, config: PostcallConfig, **kwargs: Any) -> RedisStreamsQueue:
        options = config.model_dump(include={"max_attempts", "backoff_base_s", "lease_s"})
        return cls(redis_url, **(options | kwargs))

    async def _ensure_group(self, force: bool = False) -> None:
        if self._group_ready and not force:
            return
        try:
            # id "0": jobs added before the group existed are delivered too.
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def enqueue(self, kind: str, call_id: str, payload: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex
        await self._redis.xadd(self.stream, _fields(job_id, kind, call_id, payload, attempts=0))
        return job_id

    async def run_id(self) -> str:
        """This Redis process's run_id: it changes on every restart, when unpersisted streams are gone."""
        return str((await self._redis.info("server"))["run_id"])

    async def claim(self, worker: str, block_s: float = 1.0) -> Job | None:
        """A job a dead worker left past its lease, else the next new one (waiting up to `block_s`)."""
        await self._ensure_group()
        try:
            return await self._claim(worker, block_s)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        await self._ensure_group(force=True)  # the stream was deleted under us (FLUSHALL, an admin)
        return await self._claim(worker, block_s)

    async def _claim(self, worker: str, block_s: float) -> StreamJob | None:
        await self._promote(keys=[self.retry_key, self.stream], args=[self._clock(), 100])
        job = await self._reclaim(worker)
        if job is not None:
            return job
        for _stream, messages in await self._read(worker, block_s) or []:
            for message_id, fields in messages:
                return _job(message_id, fields, worker, deliveries=1)
        return None

    async def _read(self, worker: str, block_s: float) -> Any:
        block_ms = int(block_s * 1000)
        return await self._redis.xreadgroup(
            self.group, worker, {self.stream: ">"}, count=1, block=block_ms if block_ms > 0 else None
        )

    async def _reclaim(self, worker: str) -> StreamJob | None:
        """Take over one message idle past the lease (its worker died), burying crash-loopers."""
        while True:
            reply = await self._redis.xautoclaim(
                self.stream, self.group, worker, min_idle_time=int(self.lease_s * 1000), start_id="0-0", count=1
            )
            messages = [m for m in reply[1] if m and m[1]]
            if not messages:
                return None
            message_id, fields = messages[0]
            pending = await self._redis.xpending_range(self.stream, self.group, message_id, message_id, 1)
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            job = _job(message_id, fields, worker, deliveries=deliveries)
            log.warning("postcall_job_reclaimed", job_id=job.job_id, call_id=job.call_id, attempt=job.attempts)
            if job.attempts <= self.max_attempts:
                return job
            error = f"worker lost (lease expired) on attempt {job.attempts - 1}"
            if await self._bury(job, error):
                log.error("postcall_job_dead", job_id=job.job_id, call_id=job.call_id, kind=job.kind, error=error)

    async def complete(self, job: Job) -> None:
        await self._settle_job(job, "ack", 0.0, "")

    async def fail(self, job: Job, error: str, transient: bool = False) -> None:
        if job.attempts >= self.max_attempts and not transient:
            await self._bury(job, error)
            return
        cap = min(self.backoff_cap_s, TRANSIENT_CAP_S) if transient else self.backoff_cap_s
        delay = backoff_delay_s(job.attempts, self.backoff_base_s, cap, self._rng)
        member = _flat(_fields(job.job_id, job.kind, job.call_id, job.payload, job.attempts, error))
        await self._settle_job(job, "retry", self._clock() + delay, member)

    async def _bury(self, job: Job, error: str) -> bool:
        """Move the job to the dead letters with its last error (the worker logs the outcome)."""
        fields = _fields(job.job_id, job.kind, job.call_id, job.payload, job.attempts, error)
        fields["died_at"] = str(self._clock())
        return await self._settle_job(job, "dead", 0.0, _flat(fields))

    async def _settle_job(self, job: Job, action: str, score: float, blob: str) -> bool:
        message_id, consumer = _where(job)
        keys = [self.stream, self.retry_key, self.dead_key]
        done = bool(await self._settle(keys=keys, args=[self.group, message_id, consumer, action, score, blob]))
        if not done:
            log.warning("postcall_job_lease_lost", job_id=job.job_id, call_id=job.call_id, attempt=job.attempts)
        return done

    async def heartbeat(self, job: Job) -> bool:
        """Extend the lease of a job still running; False if another worker has taken it over."""
        message_id, consumer = _where(job)
        return bool(await self._heartbeat(keys=[self.stream], args=[self.group, message_id, consumer]))

    async def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        """The newest dead jobs with their last error (for the admin and tests)."""
        return [fields for _id, fields in await self._redis.xrevrange(self.dead_key, count=count)]

    async def forget(self, call_ids: Collection[str], caller_id: str | None = None) -> int:
        """Delete every job of these calls — queued, held by a worker, waiting to retry, dead — and, with
        `caller_id`, every job whose call came from that number: an erased caller must not come back
        through a post-call job run later. Returns the jobs removed.

        A job a worker is running right now is removed from the stream; its worker cannot settle it any
        more, but what it writes meanwhile stays: run the erasure after the call's jobs are done."""
        wanted = set(call_ids)

        def ours(fields: dict[str, str]) -> bool:
            return fields.get("call_id") in wanted or (caller_id is not None and _caller_of(fields) == caller_id)

        removed = 0
        for key in (self.stream, self.dead_key):
            ids = [message_id async for message_id, fields in self._messages(key) if ours(fields)]
            if not ids:
                continue
            if key == self.stream:
                with contextlib.suppress(ResponseError):  # no group yet: nothing pending either
                    await self._redis.xack(key, self.group, *ids)
            removed += int(await self._redis.xdel(key, *ids))
        members = [m for m in await self._redis.zrange(self.retry_key, 0, -1) if ours(_unflat(m))]
        if members:
            removed += int(await self._redis.zrem(self.retry_key, *members))
        return removed

    async def expire_dead(self, before: float) -> int:
        """Drop dead letters older than `before` (unix seconds): a dead job still carries its whole call,
        so it is kept no longer than the call itself ([storage] retention_days). Returns entries removed."""
        return int(await self._redis.xtrim(self.dead_key, minid=f"{int(before * 1000)}-0", approximate=False))

    async def _messages(self, key: str, batch: int = 500) -> AsyncIterator[tuple[str, dict[str, str]]]:
        start = "-"
        while True:
            page = await self._redis.xrange(key, min=start, max="+", count=batch)
            for message_id, fields in page:
                yield message_id, fields
            if len(page) < batch:
                return
            start = f"({page[-1][0]}"

    async def aclose(self) -> None:
        await self._redis.aclose()


def _unflat(member: str) -> dict[str, str]:
    try:
        items = json.loads(member)
    except ValueError:
        return {}
    return dict(zip(items[0::2], items[1::2], strict=False)) if isinstance(items, list) else {}


def _caller_of(fields: dict[str, str]) -> str | None:
    """The caller ID in a job's payload (the context snapshot `enqueue_postcall` puts there)."""
    try:
        context = json.loads(fields.get("payload") or "{}").get("context")
    except (ValueError, AttributeError):
        return None
    return context.get("caller_id") if isinstance(context, dict) else None


def _fields(
    job_id: str, kind: str, call_id: str, payload: dict[str, Any], attempts: int, error: str = ""
) -> dict[str, str]:
    return {
        "job_id": job_id,
        "kind": kind,
        "call_id": call_id,
        "payload": json.dumps(payload, ensure_ascii=False),
        "attempts": str(attempts),
        "last_error": error,
    }


def _flat(fields: dict[str, str]) -> str:
    """Fields as the JSON list ["k1", "v1", "k2", …] the scripts unpack straight into XADD."""
    return json.dumps([item for pair in fields.items() for item in pair], ensure_ascii=False)


def _job(message_id: str, fields: dict[str, str], worker: str, deliveries: int) -> StreamJob:
    return StreamJob(
        job_id=fields["job_id"],
        kind=fields["kind"],
        call_id=fields["call_id"],
        payload=json.loads(fields["payload"]),
        attempts=int(fields.get("attempts", "0")) + deliveries,
        message_id=message_id,
        consumer=worker,
        last_error=fields.get("last_error", ""),
    )


def _where(job: Job) -> tuple[str, str]:
    if not isinstance(job, StreamJob):
        raise TypeError("RedisStreamsQueue can only settle jobs it handed out (StreamJob)")
    return job.message_id, job.consumer

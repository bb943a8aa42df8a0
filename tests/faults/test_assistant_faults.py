"""Faults around live calls: one `sentiric-pbx run` (the assistant, real models) with a real Redis.

The daemon is a subprocess configured as an admin would (environment), keeping contexts and post-call
jobs in a real `redis-server`, its archive on a 64 MiB tmpfs (when root). The tests run in file order
against that one daemon (loading the models once, ~30 s), the last one stopping it:

1. callers hang up at random moments (0.1–3 s, TCP close or 0x00) → every call has a record, marked
   `unfinished_call`;
2. Redis is SIGKILLed mid-call and restarted → the calls go on, contexts resync to Redis, nothing lost;
3. the archive disk is full → calls go on, one clear error line per attempt, the archive job succeeds
   once space is back;
4. SIGTERM with calls up → drained or stored as unfinished, and their post-call jobs survive the exit.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.config import Settings
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.storage.context_redis import RedisContextStore
from sentiric_pbx.tools.caller import CallerOptions, place_call
from tests.asterisk_peer import AGI_SECRET
from tests.faults.conftest import fill, small_filesystem
from tests.faults.harness import DaemonProcess, Process, assistant_env, call_and_hang_up, postcall_jobs
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

HANGUP_CALLS = int(os.environ.get("SENTIRIC_FAULT_HANGUP_CALLS", "200"))
"""Calls in the random-hangup test (bench/soak.py runs more); ~0.2 s of wall time each at 12 at once."""
AT_ONCE = 12
MAX_CALLS = 16
"""The daemon's `[agent] max_calls` here: above AT_ONCE, as 8 was above the 6 at once this test used to place
(a caller who finds every line busy is still accepted below). Silent callers cost the daemon little; at 6 at
once the 200 calls took ~55 s of the suite's wall time."""
DRAIN_S = 3.0
MAX_ATTEMPTS = 3
"""Low, so the full disk outlasts a job's attempts: a job waiting for space must never go dead."""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("assistant-faults")


@pytest.fixture(scope="module")
def redis(workdir: Path) -> Iterator[RedisServer]:
    with RedisServer(workdir / "redis") as server:
        yield server


@pytest.fixture(scope="module")
def archive_fs(workdir: Path) -> Iterator[Path | None]:
    with small_filesystem(workdir / "archive", "64m") as mounted:
        yield mounted


@pytest.fixture(scope="module")
def daemon(workdir: Path, models_dir: Path, redis: RedisServer, archive_fs: Path | None) -> Iterator[DaemonProcess]:
    env = assistant_env(
        workdir,
        models_dir,
        SENTIRIC_STORAGE__REDIS_URL=redis.url,
        SENTIRIC_DAEMON__DRAIN_TIMEOUT_S=str(DRAIN_S),
        SENTIRIC_POSTCALL__MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        SENTIRIC_AGENT__MAX_CALLS=str(MAX_CALLS),
    )
    with DaemonProcess(workdir, env) as proc:
        proc.start()
        yield proc


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def voice(models_dir: Path, daemon: DaemonProcess) -> EnginePool:
    """Piper in this process, to speak the caller's turns (the daemon has imported the models by now)."""
    settings = Settings()
    settings.models.dir = models_dir
    pool = EnginePool(settings)
    await pool.start(stt=False, llm=False)
    return pool


async def say(voice: EnginePool, text: str) -> bytes:
    return resample(await voice.tts.synthesize_sentence(text), 16000, 8000)  # type: ignore[union-attr]


# -- 1. random hangups --------------------------------------------------------------------------
async def test_callers_hanging_up_at_random_moments_all_leave_an_unfinished_record(daemon: DaemonProcess) -> None:
    rng = random.Random(7)
    plan = [(rng.uniform(0.1, 3.0), rng.choice(["close", "frame"])) for _ in range(HANGUP_CALLS)]
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(after_s: float, how: str) -> str:
        async with gate:
            return await call_and_hang_up(daemon, after_s, how)  # type: ignore[arg-type]

    call_ids = await asyncio.gather(*(one(a, h) for a, h in plan))

    records = await asyncio.to_thread(daemon.wait_records, call_ids, 120.0)
    assert len(set(call_ids)) == HANGUP_CALLS
    statuses = {c: r["status"] for c, r in records.items()}
    # A caller who got through and hung up is an unfinished call. One who found every line busy
    # ([agent] max_calls: a call that just hung up may still hold its line while it is saved) is
    # kept as `rejected_busy`, with its own log line.
    counts = collections.Counter(statuses.values())
    assert set(counts) <= {"unfinished_call", "rejected_busy"} and counts["unfinished_call"], counts
    busy = {e["call_id"] for e in daemon.events("call_rejected_busy")}
    assert {c for c, s in statuses.items() if s == "rejected_busy"} <= busy
    # Each hangup is one call_ended line with the call_id bound, whichever way the caller left.
    ended = {e["call_id"]: e for e in daemon.events("call_ended") if e.get("call_id") in statuses}
    assert len(ended) == HANGUP_CALLS
    assert {e["by"] for c, e in ended.items() if statuses[c] == "unfinished_call"} == {"caller"}
    assert daemon.running()


# -- 2. Redis killed and restarted mid-call -----------------------------------------------------
async def test_redis_killed_and_restarted_mid_call_the_calls_go_on_and_contexts_resync(
    daemon: DaemonProcess, redis: RedisServer, voice: EnginePool
) -> None:
    turns = [await say(voice, "What are your opening hours?"), await say(voice, "I want to book an appointment.")]
    opts = CallerOptions(
        port=daemon.port, agi=("127.0.0.1", daemon.agi_port), agi_secret=AGI_SECRET, reply_timeout_s=30.0
    )
    degraded_before = len(daemon.events("context_store_degraded"))

    async def outage() -> None:
        await asyncio.sleep(2.5)  # the greetings are playing
        await asyncio.to_thread(redis.kill)
        await asyncio.sleep(6.0)  # the first turns are heard and answered without Redis
        await asyncio.to_thread(redis.start)

    chaos = asyncio.create_task(outage())
    reports = await asyncio.gather(*(place_call(turns, opts) for _ in range(2)))
    await chaos

    for report in reports:  # every turn got an answer on the wire, outage or not
        assert [t.latency_ms is not None for t in report.turns] == [True, True], report
    assert len(daemon.events("context_store_degraded")) == degraded_before + 1
    recovered = await asyncio.to_thread(daemon.wait_for, "context_store_recovered", 30.0)
    assert recovered[-1]["resynced"] >= 2, recovered

    call_ids = [r.call_id for r in reports]
    records = await asyncio.to_thread(daemon.wait_records, call_ids, 60.0)
    redis_view = RedisContextStore.from_url(redis.url, 3600)  # what another daemon sharing Redis sees
    try:
        for call_id, record in records.items():
            said = [t["text"].lower() for t in record["context"]["turns"] if t["who"] == "caller"]
            assert len(said) == 2 and "hours" in said[0] and "appointment" in said[1], said
            in_redis = await redis_view.load(call_id)
            assert in_redis is not None and len(in_redis.turns) == len(record["context"]["turns"])
            assert in_redis.status == record["status"]
    finally:
        await redis_view.aclose()
    for call_id in call_ids:  # post-call work enqueued around the outage is done, once per kind
        done = await asyncio.to_thread(daemon.wait_for, "postcall_job_done", 60.0, 3, call_id=call_id)
        assert sorted(e["kind"] for e in done) == ["analytics", "archive", "summary"]


# -- 3. archive disk full -----------------------------------------------------------------------
async def test_a_full_archive_disk_delays_the_archive_until_space_is_back(
    daemon: DaemonProcess, archive_fs: Path | None
) -> None:
    if archive_fs is None:
        pytest.skip("needs root to mount a 64 MiB tmpfs as the archive disk (CI runs as root)")
    filler = await asyncio.to_thread(fill, archive_fs)
    call_ids = await asyncio.gather(*(call_and_hang_up(daemon, 1.5, "close") for _ in range(3)))

    records = await asyncio.to_thread(daemon.wait_records, call_ids, 60.0)  # the calls went on
    assert {r["status"] for r in records.values()} == {"unfinished_call"}
    for call_id in call_ids:  # the disk stays full for more attempts than a job has
        retries = await asyncio.to_thread(
            daemon.wait_for, "postcall_job_retry", 60.0, MAX_ATTEMPTS + 1, call_id=call_id
        )
        for retry in retries:
            assert retry["kind"] == "archive" and "No space left on device" in retry["error"], retry
            assert retry["waiting_for"] == "disk space"
        summary_and_analytics = daemon.events("postcall_job_done", call_id=call_id)
        assert "archive" not in {e["kind"] for e in summary_and_analytics}

    await asyncio.to_thread(filler.unlink)  # the admin frees space
    for call_id in call_ids:
        done = await asyncio.to_thread(daemon.wait_for, "postcall_job_done", 60.0, 3, call_id=call_id)
        assert sorted(e["kind"] for e in done) == ["analytics", "archive", "summary"]
        archived = list(archive_fs.rglob(f"{call_id}.*"))
        assert sorted(p.suffix for p in archived) == [".json", ".wav"], archived
    assert not daemon.events("postcall_job_dead")
    # The error is the retry line itself, once per attempt; nothing else (no traceback) mentions it.
    space = [line for line in daemon.log.read_text().splitlines() if "No space left" in line]
    assert all('"postcall_job_retry"' in line for line in space), space[:3]


# -- 4. SIGTERM with calls up (last: it stops the daemon) ----------------------------------------
async def test_sigterm_with_calls_up_drains_them_and_their_postcall_jobs_survive(
    daemon: DaemonProcess, workdir: Path
) -> None:
    leave = asyncio.Event()
    leaving = asyncio.create_task(call_and_hang_up(daemon, 600.0, "close", hang_up_now=leave))
    staying = asyncio.create_task(call_and_hang_up(daemon, 600.0, "close"))
    started_before = len(daemon.events("call_started"))
    await asyncio.to_thread(daemon.wait_for, "call_started", 30.0, started_before + 2)

    daemon.signal(signal.SIGTERM)
    sent = time.monotonic()
    await asyncio.to_thread(daemon.wait_for, "daemon_draining", 10.0)
    leave.set()  # one caller finishes during the drain; the other is still talking at its end
    leaving_id, staying_id = await asyncio.gather(leaving, staying)
    code = await asyncio.to_thread(daemon.wait, DRAIN_S + 30)
    assert code == 0, daemon.tail()
    assert time.monotonic() - sent >= DRAIN_S - 0.5

    records = daemon.records()
    assert records[leaving_id]["status"] == "unfinished_call"
    assert records[staying_id]["status"] == "unfinished_call"
    ended = {e["call_id"]: e for e in daemon.events("call_ended")}
    assert (ended[leaving_id]["by"], ended[staying_id]["by"], ended[staying_id]["reason"]) == (
        "caller",
        "agent",
        "daemon_shutdown",
    )
    # Whatever post-call work the daemon did not finish before exiting is still queued: a worker does it.
    with Process(["worker"], daemon.env, workdir, "worker.log").start() as worker:
        for call_id in (leaving_id, staying_id):
            done = {e["kind"] for e in daemon.events("postcall_job_done", call_id=call_id)}
            if len(done) < 3:
                await asyncio.to_thread(worker.wait_for, "postcall_job_done", 60.0, 3 - len(done), call_id=call_id)
    jobs = [j for j in postcall_jobs(daemon.db_path) if j["call_id"] in (leaving_id, staying_id)]
    assert all(j["status"] in ("done", "standby") for j in jobs), jobs  # standby: copies of jobs Redis ran

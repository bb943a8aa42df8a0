"""A `sentiric-pbx worker` process SIGKILLed in the middle of a post-call job.

The worker writes the call's summary with an OpenAI-compatible LLM (a real HTTP server that holds the
request open: the job is genuinely mid-flight) and posts it to an HTTP CRM. It is killed while it
waits for the LLM, restarted, and must finish that job once its lease runs out: one summary note in
the CRM, one recording and one transcript in the archive, the recording's source gone — the same
effect as if nothing had happened.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from sentiric_pbx.postcall.archive import archive_paths
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import enqueue_postcall
from tests.crm_server import FakeCrm
from tests.faults.harness import Process, clean_env
from tests.openai_server import FakeOpenAI
from tests.test_postcall_jobs import booking_call, write_stereo_wav

LEASE_S = 2.0


async def until(predicate, what: str, within_s: float, proc: Process | None = None) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if proc is not None and not proc.running():
            raise AssertionError(f"the worker exited while waiting for {what}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within_s} s" + (f":\n{proc.tail()}" if proc else ""))
        await asyncio.sleep(0.05)


async def test_worker_killed_mid_job_finishes_it_after_restart_with_one_effect(tmp_path: Path) -> None:
    llm, crm = await FakeOpenAI(mode="hang").start(), await FakeCrm().start()
    db, archive = tmp_path / "sentiric.db", tmp_path / "archive"
    recording = tmp_path / "recordings" / "call.wav"
    recording.parent.mkdir()
    write_stereo_wav(recording, seconds=2.0)
    ctx = booking_call(started_at=time.time() - 30, recording=recording)
    async with SqliteOutbox(db) as outbox:
        await enqueue_postcall(outbox, ctx)  # summary, archive, analytics — in that order
    env = clean_env(
        SENTIRIC_STORAGE__DB_PATH=str(db),
        SENTIRIC_STORAGE__ARCHIVE_DIR=str(archive),
        SENTIRIC_CRM__KIND="http",
        SENTIRIC_CRM__URL=crm.url,
        SENTIRIC_LLM__FALLBACK_URL=llm.base_url,
        SENTIRIC_POSTCALL__LEASE_S=str(LEASE_S),
    )
    try:
        first = Process(["worker"], env, tmp_path, "worker-1.log").start()
        try:
            await until(lambda: llm.requests, "the summary job asking the LLM", 30, first)
            first.kill()  # mid-job: the summary is being written
        finally:
            first.stop()
        assert not first.events("postcall_job_done")

        llm.mode, llm.words = "ok", ["Ahmet Yilmaz", " booked", " Friday", " 15:00", "."]
        with Process(["worker"], env, tmp_path, "worker-2.log").start() as second:
            async with SqliteOutbox(db) as outbox:

                async def all_done() -> bool:
                    return {j["status"] for j in await outbox.jobs_for(ctx.call_id)} == {"done"}

                done = False
                deadline = time.monotonic() + 30 + LEASE_S
                while not done:
                    assert second.running(), second.tail()
                    assert time.monotonic() < deadline, second.tail()
                    done = await all_done()
                    await asyncio.sleep(0.1)
                jobs = {j["kind"]: j for j in await outbox.jobs_for(ctx.call_id)}
            assert jobs["summary"]["attempts"] == 2  # the killed attempt, then the one that finished
            assert jobs["archive"]["attempts"] == jobs["analytics"]["attempts"] == 1
            assert [e["event"] for e in second.events("postcall_job_reclaimed")] == ["postcall_job_reclaimed"]
    finally:
        await llm.stop()
        await crm.stop()

    posted = [r for r in crm.requests if (r.method, r.path) == ("POST", "/api/calls")]
    assert len(posted) == 1, posted  # exactly one note in the CRM
    assert posted[0].headers["idempotency-key"] == ctx.call_id
    assert posted[0].json()["summary"].startswith("Ahmet Yilmaz booked Friday 15:00")
    wav, transcript = archive_paths(archive, ctx.call_id, ctx.started_at)
    assert sorted(p.name for p in archive.rglob("*") if p.is_file()) == sorted([wav.name, transcript.name])
    assert json.loads(transcript.read_text())["call_id"] == ctx.call_id
    assert not recording.exists()  # moved, not copied twice
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM analytics_calls WHERE call_id = ?", (ctx.call_id,)).fetchone() == (1,)

"""Issue #18's "done when", on loopback: a site of two daemons (A, B: `[postcall] workers = 0`), one
`sentiric-pbx worker` W, a real PostgreSQL (site store), a real Redis (SIGKILLed and restarted while the
calls run) and a real S3-protocol server (moto's, the recordings store).

The same known caller calls A and B at once, asking for the same slot: greeted by name on both (the CRM
is the site's), one booking of that slot (the site calendar's constraint), the other call told it is
taken. `calls list` on either host shows both calls with a summary and a readable recording; every
post-call job ran exactly once (W or a daemon's own worker, never both); no recording is left on A's or
B's disk. A and B share one loaded set of models (one process; the daemons are still two `Daemon`s with
their own ports, data directories and queues), W is a real subprocess.
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from pydantic import SecretStr
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.storage.paths import recordings_dir
from sentiric_pbx.storage.postgres import PostgresDatabase
from sentiric_pbx.tools.caller import CallerOptions
from sentiric_pbx.tools.demo import (
    CALLER_TURNS,
    DEMO_NAME,
    DEMO_PHONE,
    _ensure_demo_caller,
    _free_slot,
    _request_phrase,
    dial_audiosocket,
)
from tests.asterisk_peer import AGI_SECRET
from tests.faults.harness import Process, clean_env
from tests.redis_server import RedisServer
from tests.s3_server import BUCKET, S3Server, running_s3

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def host_settings(tmp: Path, models_dir: Path, **storage: object) -> Settings:
    s = Settings()
    s.agent.mode = "assistant"
    s.stt.engines = {"default": "whisper"}  # type: ignore[assignment]
    s.audiosocket.port = 0
    s.fastagi.port = 0
    s.fastagi.secret = AGI_SECRET  # type: ignore[assignment]
    s.metrics.enabled = False
    s.models.dir = models_dir
    s.storage.db_path = tmp / "sentiric.db"
    s.storage.archive_dir = tmp / "archive"
    s.postcall.workers = 0
    s.postcall.backoff_base_s = 0.5
    s.dialog.no_input_reprompt_s = 30.0
    for key, value in storage.items():
        setattr(s.storage, key, value)
    return s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(models_dir: Path) -> EnginePool:
    pool = EnginePool(host_settings(Path("/nonexistent"), models_dir))
    await pool.start()
    return pool


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with running_s3(monkeypatch) as server:
        yield server


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


async def test_two_hosts_one_worker_one_site(
    engines: EnginePool,
    models_dir: Path,
    tmp_path: Path,
    postgres_url: str,
    redis: RedisServer,
    s3: S3Server,
    logs: list[dict[str, object]],
) -> None:
    shared = {
        "database_url": SecretStr(postgres_url),
        "redis_url": redis.url,
        "recordings_url": f"s3://{BUCKET}/site",
        "recordings_endpoint_url": s3.endpoint,
    }
    a = Daemon(host_settings(tmp_path / "host-a", models_dir, **shared), engines=engines)
    settings_b = host_settings(tmp_path / "host-b", models_dir, **shared)
    settings_b.console.enabled, settings_b.console.host, settings_b.console.port = True, "127.0.0.1", 0
    b = Daemon(settings_b, engines=engines)
    worker = Process(
        ["worker"],
        clean_env(
            SENTIRIC_STORAGE__DATABASE_URL=postgres_url,
            SENTIRIC_STORAGE__REDIS_URL=redis.url,
            SENTIRIC_STORAGE__RECORDINGS_URL=f"s3://{BUCKET}/site",
            SENTIRIC_STORAGE__RECORDINGS_ENDPOINT_URL=s3.endpoint,
            SENTIRIC_STORAGE__DB_PATH=str(tmp_path / "worker-w" / "sentiric.db"),
            SENTIRIC_STORAGE__ARCHIVE_DIR=str(tmp_path / "worker-w" / "archive"),
            SENTIRIC_POSTCALL__BACKOFF_BASE_S="0.5",
        ),
        tmp_path / "worker-w",
        "worker.log",
    ).start()
    await a.start()
    await b.start()
    try:
        await _ensure_demo_caller(a)  # added through A: B must greet him by name too (one CRM)
        now = a.assistant.brain.clock()
        slot = await _free_slot(a, now)
        said = [_request_phrase(slot, now), *CALLER_TURNS["en"]]
        tts = a.assistant.voice_for("en").tts
        turns = [await tts.synthesize_sentence(t) for t in said]

        def opts() -> CallerOptions:
            return CallerOptions(caller_id=DEMO_PHONE, caller_name=DEMO_NAME, greeting_wait_s=3.0, language="en")

        async def kill_redis_mid_call() -> None:
            await asyncio.sleep(4.0)  # both callers are past the greeting
            await asyncio.to_thread(redis.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(redis.start)

        on_a, on_b, _ = await asyncio.gather(
            dial_audiosocket(a, turns, opts()), dial_audiosocket(b, turns, opts()), kill_redis_mid_call()
        )
        calls = {"a": on_a.call_id, "b": on_b.call_id}

        # Every job of both calls done, each once: the ledger in the site store has all six.
        site = await PostgresDatabase.connect(postgres_url)
        try:
            deadline = time.monotonic() + 60
            while True:
                rows = await site.fetchall("SELECT call_id, kind, done_by FROM postcall_done")
                if len(rows) >= 6 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            bookings = await site.fetchall(
                "SELECT call_id, start_ts FROM calendar_bookings WHERE cancelled_at IS NULL"
            )
        finally:
            await site.aclose()
        assert {(r["call_id"], r["kind"]) for r in rows} == {
            (c, k) for c in calls.values() for k in ("summary", "archive", "analytics")
        }, worker.tail()
        await asyncio.sleep(2.0)  # a guard round and a claim more: nothing may run again
        ran = collections.Counter(
            (e["call_id"], e["kind"]) for e in worker.events("postcall_job_done") if e.get("call_id") in calls.values()
        )
        ran.update((e["call_id"], e["kind"]) for e in logs if e["event"] == "postcall_job_done")
        assert set(ran.values()) == {1} and len(ran) == 6, ran

        # Greeted by name on both hosts; one booking of the slot, the other caller told it is taken.
        records = {}
        for host, daemon in (("a", a), ("b", b)):
            ctx = await daemon.assistant.s.store.load(calls[host])
            assert ctx is not None
            records[host] = ctx
            assert "Yilmaz" in ctx.turns[0].text, ctx.turns[0].text
        at_slot = [r for r in bookings if int(r["start_ts"]) == int(slot.timestamp())]
        assert len(at_slot) == 1, bookings
        loser = "b" if at_slot[0]["call_id"] == calls["a"] else "a"
        heard = " ".join(t.text.lower() for t in records[loser].turns if t.who == "agent")
        assert "taken" in heard, heard

        # `calls list` / `calls show` on either host: both calls, a summary, a recording readable there.
        for host, daemon in (("a", a), ("b", b)):
            config = _config_file(tmp_path / f"host-{host}", daemon.settings)
            listed = CliRunner().invoke(app, ["calls", "list", "--json", "--config", str(config)])
            assert listed.exit_code == 0, listed.output
            assert set(calls.values()) <= {c["call_id"] for c in json.loads(listed.stdout)}
            for call_id in calls.values():
                shown = CliRunner().invoke(app, ["calls", "show", call_id, "--json", "--config", str(config)])
                details = json.loads(shown.stdout)
                assert details["summary"] and details["recording_readable"], details
                assert details["recording_path"].startswith(f"s3://{BUCKET}/site/")
        # B's console plays A's call from the bucket (A's disk no longer has it).
        async with aiohttp.ClientSession() as http:
            async with http.get(b.console.url(f"/api/calls/{calls['a']}")) as r:
                assert r.status == 200 and (await r.json())["recording"] is True
            async with http.get(b.console.url(f"/api/calls/{calls['a']}/recording.wav")) as r:
                wav = await r.read()
                assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
        with wave.open(io.BytesIO(wav)) as w:
            assert w.getnchannels() == 2 and w.getnframes() > w.getframerate() * 5  # the whole call, stereo
        # The answering hosts' disks hold no recording once uploaded.
        assert not list(recordings_dir(a.settings).glob("*.wav")) and not list(recordings_dir(b.settings).glob("*.wav"))
    finally:
        await a.stop()
        await b.stop()
        worker.stop()


def _config_file(folder: Path, s: Settings) -> Path:
    st = s.storage
    assert st.database_url is not None
    path = folder / "config.toml"
    path.write_text(
        f'[storage]\ndb_path = "{st.db_path}"\narchive_dir = "{st.archive_dir}"\n'
        f'database_url = "{st.database_url.get_secret_value()}"\nredis_url = "{st.redis_url}"\n'
        f'recordings_url = "{st.recordings_url}"\nrecordings_endpoint_url = "{st.recordings_endpoint_url}"\n'
    )
    path.chmod(0o600)  # a URL with a password: a world-readable file is refused
    return path

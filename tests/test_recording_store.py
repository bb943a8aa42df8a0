"""Recordings in a store every host reads (`[storage] recordings_url`): a real S3-protocol server (moto's,
tests/s3_server.py) and a plain directory (what a shared mount looks like to each host).

What must hold: the answering host's upload is confirmed before its file goes; a store that is down
costs retries, never the recording; a daemon restarted mid-upload finishes it; the archive job, on any
host, waits for the upload instead of archiving a call without its recording; `calls show` and the
console read the recording from the store; credentials never reach the logs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.config import Settings
from sentiric_pbx.console.calls import call_details
from sentiric_pbx.doctor import check_recordings_store
from sentiric_pbx.postcall.erasure import PersonalData
from sentiric_pbx.postcall.jobs import ArchiveJob
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import PostcallWorker, enqueue_postcall
from sentiric_pbx.storage.context_sqlite import SqliteContextStore
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.recording_store import (
    DirectoryStore,
    RecordingStore,
    S3Store,
    open_recording_store,
    read_recording,
)
from sentiric_pbx.storage.recording_upload import RecordingUploader
from tests.s3_server import BUCKET, CREDENTIALS, S3Server, running_s3
from tests.test_postcall_jobs import booking_call, write_stereo_wav


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with running_s3(monkeypatch) as server:
        yield server


@pytest.fixture(params=["s3", "directory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordingStore:
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3")
        return open_recording_store(f"s3://{BUCKET}/site-a/", endpoint_url=server.endpoint)  # type: ignore[return-value]
    return open_recording_store(str(tmp_path / "shared-mount"))  # type: ignore[return-value]


def recordings_of(tmp_path: Path) -> Path:
    folder = tmp_path / "host-a" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_recording_url_names_s3_or_an_absolute_directory(tmp_path: Path) -> None:
    assert isinstance(open_recording_store(str(tmp_path)), DirectoryStore)
    assert isinstance(open_recording_store(f"file://{tmp_path}"), DirectoryStore)
    assert isinstance(open_recording_store("s3://bucket-name/calls", endpoint_url="http://127.0.0.1:9"), S3Store)
    assert open_recording_store(None) is None
    for bad in ("relative/dir", "s3:///no-bucket", "ftp://host/x"):
        with pytest.raises(ValueError, match="recordings_url"):
            open_recording_store(bad)


async def test_the_uploaded_recording_is_confirmed_then_removed_from_the_host(
    store: RecordingStore, tmp_path: Path, logs: list[dict[str, object]]
) -> None:
    recordings = recordings_of(tmp_path)
    left_behind = recordings / "call-left-by-a-killed-daemon.wav"  # a previous run died before uploading it
    frames = write_stereo_wav(left_behind)
    uploader = RecordingUploader(store, recordings)
    uploader.start()
    fresh = recordings / "call-just-ended.wav"
    write_stereo_wav(fresh, seconds=1.0)
    fresh_bytes = fresh.read_bytes()
    uploader.submit(fresh)
    try:
        assert await uploader.wait_idle(20)
    finally:
        await uploader.aclose()

    assert sorted(p.name for p in recordings.iterdir()) == []  # the answering host's disk holds none
    url = uploader.url_of("call-just-ended")
    assert await asyncio.to_thread(read_recording, url, store) == fresh_bytes
    old = await asyncio.to_thread(store.read, uploader.url_of("call-left-by-a-killed-daemon"))
    assert old[-frames.nbytes :] == frames.tobytes()
    uploaded = [e for e in logs if e["event"] == "recording_uploaded"]
    assert {e["call_id"] for e in uploaded} == {"call-just-ended", "call-left-by-a-killed-daemon"}


async def test_an_upload_while_the_s3_server_is_down_is_retried_and_the_file_kept_until_it_is_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, logs: list[dict[str, object]]
) -> None:
    with running_s3(monkeypatch) as server:
        store = open_recording_store(f"s3://{BUCKET}/site-a", endpoint_url=server.endpoint)
        assert store is not None
        server.stop()  # the store goes down before the call ends
        recordings = recordings_of(tmp_path)
        wav = recordings / "call-during-outage.wav"
        write_stereo_wav(wav)
        uploader = RecordingUploader(store, recordings, first_retry_s=0.05)
        uploader.start()
        try:
            deadline = time.monotonic() + 20
            while sum(e["event"] == "recording_upload_retry" for e in logs) < 3:
                assert time.monotonic() < deadline, "no retries while the store was down"
                await asyncio.sleep(0.05)
            assert wav.is_file() and not await uploader.wait_idle(0)  # kept, still owed
            server.start()  # back, with the bucket it had
            assert await uploader.wait_idle(30)
        finally:
            await uploader.aclose()
        assert not wav.exists()
        assert await asyncio.to_thread(store.size, uploader.url_of("call-during-outage")) is not None
    retries = [e for e in logs if e["event"] == "recording_upload_retry"]
    assert all(e["call_id"] == "call-during-outage" and "Connect" in str(e["error"]) for e in retries)
    dumped = json.dumps(logs, default=str)
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in dumped and CREDENTIALS["AWS_ACCESS_KEY_ID"] not in dumped


async def test_the_archive_job_waits_for_the_upload_then_archives_into_the_store(
    store: RecordingStore, tmp_path: Path, logs: list[dict[str, object]]
) -> None:
    """The worker may run on another host before the answering host has uploaded: the job waits (not dead,
    no 'archive_recording_missing'), then archives once the store holds the recording."""
    recordings = recordings_of(tmp_path)
    wav = recordings / "c0ffee-0001.wav"
    write_stereo_wav(wav)
    uploader = RecordingUploader(store, recordings)
    ctx = booking_call(recording=wav)
    ctx.recording_url = uploader.url_of(ctx.call_id)
    worker_db = tmp_path / "worker-host" / "sentiric.db"
    worker_db.parent.mkdir()
    async with SqliteOutbox(worker_db, backoff_base_s=0.05) as outbox:
        await enqueue_postcall(outbox, ctx)
        handler = ArchiveJob(tmp_path / "worker-host" / "archive", worker_db, recordings=store)
        worker = PostcallWorker(outbox, {"archive": handler}, block_s=0.1)
        for _ in range(2):  # summary and analytics have no handler here; archive is tried before the upload
            await worker.run_once(block_s=0.5)
        archive = next(j for j in await outbox.jobs_for(ctx.call_id) if j["kind"] == "archive")
        assert archive["status"] == "pending" and "not in the recordings store yet" in archive["last_error"]

        uploader.start()
        assert await uploader.wait_idle(20)
        await uploader.aclose()
        deadline = time.monotonic() + 20
        while archive["status"] != "done":
            assert time.monotonic() < deadline, archive
            await worker.run_once(block_s=0.2)
            archive = next(j for j in await outbox.jobs_for(ctx.call_id) if j["kind"] == "archive")
    assert not any(e["event"] == "archive_recording_missing" for e in logs)
    transcript = json.loads(await asyncio.to_thread(store.read, store.url_for(f"{ctx.call_id}.json")))
    assert transcript["recording"] == f"{ctx.call_id}.wav" and len(transcript["turns"]) == 6
    assert not (tmp_path / "worker-host" / "archive").exists()  # nothing on the worker's disk


async def test_calls_show_and_the_console_read_the_recording_from_the_store(
    s3: S3Server, tmp_path: Path
) -> None:
    """Host B shows host A's call: the record names the recording by its URL and B reads it from the bucket."""
    url = f"s3://{BUCKET}/site"
    store = open_recording_store(url, endpoint_url=s3.endpoint)
    assert store is not None
    recordings = recordings_of(tmp_path)
    wav = recordings / "c0ffee-0001.wav"
    write_stereo_wav(wav)
    wav_bytes = wav.read_bytes()
    db_file = tmp_path / "host-b" / "sentiric.db"
    db_file.parent.mkdir()
    ctx = booking_call(recording=wav)
    uploader = RecordingUploader(store, recordings)
    ctx.recording_url = uploader.url_of(ctx.call_id)
    db = await Database.open(db_file)
    try:
        await SqliteContextStore(db).save(ctx)
    finally:
        await db.aclose()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\ndb_path = "{db_file}"\nrecordings_url = "{url}"\nrecordings_endpoint_url = "{s3.endpoint}"\n'
    )
    runner = CliRunner()

    def show() -> tuple[dict[str, object], str]:
        as_json = runner.invoke(app, ["calls", "show", ctx.call_id, "--config", str(config), "--json"])
        text = runner.invoke(app, ["calls", "show", ctx.call_id, "--config", str(config)])
        assert as_json.exit_code == 0 and text.exit_code == 0, as_json.output + text.output
        return json.loads(as_json.stdout), text.stdout

    before, text = await asyncio.to_thread(show)  # not uploaded yet
    assert before["recording_path"] == ctx.recording_url and before["recording_readable"] is False
    assert "(not readable from this host)" in text

    uploader.start()
    assert await uploader.wait_idle(20)
    await uploader.aclose()
    after, text = await asyncio.to_thread(show)
    assert after["recording_readable"] is True and "not readable" not in text

    details = await asyncio.to_thread(call_details, db_file, ctx.call_id, None, store)
    assert details is not None and details["recording"] is True
    assert await asyncio.to_thread(read_recording, details["_recording_path"], store) == wav_bytes


async def test_erasing_a_call_deletes_its_recording_and_transcript_from_the_store(
    store: RecordingStore, tmp_path: Path
) -> None:
    recordings = recordings_of(tmp_path)
    wav = recordings / "c0ffee-0001.wav"
    write_stereo_wav(wav)
    ctx = booking_call(recording=wav)
    uploader = RecordingUploader(store, recordings)
    ctx.recording_url = uploader.url_of(ctx.call_id)
    uploader.start()
    assert await uploader.wait_idle(20)
    await uploader.aclose()
    await asyncio.to_thread(store.put_bytes, b"{}", f"{ctx.call_id}.json")
    other = await asyncio.to_thread(store.put_bytes, b"RIFF", "someone-else.wav")
    db = await Database.open(tmp_path / "sentiric.db")
    try:
        await SqliteContextStore(db).save(ctx)
        data = PersonalData(db, tmp_path / "archive", recordings, store=store)
        removed = await data.delete_calls([ctx.call_id])
    finally:
        await db.aclose()
    assert removed["recordings"] == 1 and removed["transcripts"] == 1 and removed["calls"] == 1
    assert await asyncio.to_thread(store.size, ctx.recording_url) is None
    assert await asyncio.to_thread(store.size, other) == 4  # only that call's objects


async def test_a_worker_without_the_recordings_store_does_not_archive_a_call_recorded_into_it(
    tmp_path: Path, logs: list[dict[str, object]]
) -> None:
    """Misconfigured worker: one clear error per attempt naming the setting, never a call archived without
    its recording (the job ends dead after its attempts, as any failing job)."""
    ctx = booking_call()
    ctx.recording_url = "s3://site-recordings/site/c0ffee-0001.wav"
    async with SqliteOutbox(tmp_path / "sentiric.db", max_attempts=1) as outbox:
        await enqueue_postcall(outbox, ctx)
        worker = PostcallWorker(outbox, {"archive": ArchiveJob(tmp_path / "archive", tmp_path / "sentiric.db")})
        while await worker.run_once(block_s=0):
            pass
        archive = next(j for j in await outbox.jobs_for(ctx.call_id) if j["kind"] == "archive")
    assert archive["status"] == "dead" and "[storage] recordings_url" in archive["last_error"]
    assert not (tmp_path / "archive").exists()


async def test_doctor_writes_reads_and_deletes_a_probe_in_the_store(s3: S3Server, tmp_path: Path) -> None:
    settings = Settings()
    settings.storage.recordings_url = f"s3://{BUCKET}/site"
    settings.storage.recordings_endpoint_url = s3.endpoint
    ok = await check_recordings_store(settings)
    assert ok.status == "ok", ok
    store = open_recording_store(settings.storage.recordings_url, endpoint_url=s3.endpoint)
    assert store is not None and await asyncio.to_thread(store.size, store.url_for("doctor-probe.wav")) is None
    settings.storage.recordings_url = "s3://no-such-bucket/site"
    missing = await check_recordings_store(settings)
    assert missing.status == "fail" and "NoSuchBucket" in missing.detail and "bucket" in missing.hint
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in missing.detail
    s3.stop()
    settings.storage.recordings_url = f"s3://{BUCKET}/site"
    down = await check_recordings_store(settings)
    assert down.status == "fail" and "Connect" in down.detail
    settings.storage.recordings_url = "relative/dir"
    assert (await check_recordings_store(settings)).status == "fail"

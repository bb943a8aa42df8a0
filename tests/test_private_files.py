"""Personal data on disk: recordings, transcripts and databases are 0640 in 0750 directories, set explicitly.

The probe that found it: an admin's shell has umask 022, the model store created the data directory
first (0755), and the first call's recording came out 0644 in it — readable by every local user.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.config import Settings
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar
from sentiric_pbx.models.store import ModelStore
from sentiric_pbx.postcall.analytics import analyze_call, save_analytics
from sentiric_pbx.postcall.archive import archive_call
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.storage.db import open_database
from sentiric_pbx.storage.paths import archive_dir, db_path, recordings_dir
from sentiric_pbx.storage.recording import CallRecorder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """An admin's interactive shell, not the unit's UMask=0027."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None) -> Path:
    """The default data directory, created 0755 by the model store before anything else ran."""
    data = tmp_path / "state" / "sentiric-pbx"
    monkeypatch.setenv("STATE_DIRECTORY", str(data))
    with ModelStore(data / "models").lock("bundled:piper-joe"):
        pass
    assert mode(data) == 0o755, "the precondition of the probe: the umask made it world-readable"
    return data


def a_call(recording: Path) -> CallContext:
    ctx = CallContext("c0ffee-0640", caller_id="+905551112233", language="en", started_at=1.75e9, ended_at=1.75e9 + 9)
    ctx.recording_path = str(recording)
    ctx.add_turn(Turn("caller", "My card number is 4111 1111 1111 1111.", 0.5, 3.0))
    ctx.add_turn(Turn("agent", "Thank you.", 3.5, 4.5, latency_ms=500.0))
    return ctx


async def test_recording_transcript_and_archive_are_private_even_under_umask_022(state: Path) -> None:
    settings = Settings()
    db = await open_database(settings)
    await db.aclose()
    assert db_path(settings).parent == state
    assert mode(state) == 0o750, "the data directory the model store left open is closed"
    assert mode(db_path(settings)) == 0o640

    recorder = CallRecorder()
    recorder.caller_frame(np.full(320, 1000, dtype="<i2").tobytes())
    recorder.agent_audio(np.full(320, -1000, dtype="<i2").tobytes())
    spool = recorder.write(recordings_dir(settings) / "c0ffee-0640.wav")
    assert (mode(spool.parent), mode(spool)) == (0o750, 0o640)

    ctx = a_call(spool)
    archived = await archive_call(ctx, archive_dir(settings), db_path(settings))
    assert archived.wav_path is not None
    for path in (archived.wav_path, archived.transcript_path):
        assert mode(path) == 0o640, path
    day = archived.transcript_path.parent
    for folder in (archive_dir(settings), day, day.parent, day.parent.parent):
        assert mode(folder) == 0o750, folder


@pytest.mark.parametrize("writer", ["outbox", "analytics", "calendar"])
async def test_a_database_created_first_by_a_worker_or_the_calendar_is_private(
    tmp_path: Path, loose_umask: None, writer: str
) -> None:
    """`sentiric-pbx worker` may start before the daemon ever ran: whoever creates the file makes it 0640."""
    path = tmp_path / "new" / "sentiric.db"
    if writer == "outbox":
        async with SqliteOutbox(path) as outbox:
            await outbox.enqueue("summary", "c1", {"context": {}})
    elif writer == "analytics":
        await save_analytics(path, analyze_call(a_call(tmp_path / "none.wav")))
    else:
        calendar = SqliteCalendar(path, Settings().business)
        await calendar.bookings_for("+905551112233")
        await calendar.aclose()
    assert mode(path) == 0o640
    assert mode(path.parent) == 0o750, "a directory we created"


async def test_a_world_readable_database_from_an_earlier_version_is_closed(tmp_path: Path, loose_umask: None) -> None:
    settings = Settings()
    settings.storage.db_path = tmp_path / "old.db"
    (tmp_path / "old.db").touch(mode=0o644)
    tmp_path.chmod(0o755)
    db = await open_database(settings)
    await db.aclose()
    assert mode(tmp_path / "old.db") == 0o640
    assert mode(tmp_path) == 0o755, "an explicit db_path's directory is the admin's; it keeps its mode"

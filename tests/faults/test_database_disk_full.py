"""The database's disk is full when a call ends: the record is kept and stored once there is space again.

A real `sentiric-pbx run` with its SQLite database (and so its post-call outbox and recordings spool) on a
real 4 MiB tmpfs, filled to the last byte while a call is up; then the caller hangs up. Before, the finishing
write failed with one `context_finish_failed` line and nothing tried again: the call stayed `active` in
`calls list` for good, without its end, and its summary, archive and analytics were never queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import fill, small_filesystem
from tests.faults.harness import DaemonProcess, assistant_env, call_and_hang_up

pytestmark = pytest.mark.asyncio


@pytest.fixture
def data_fs(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path / "data", "4m") as mounted:
        if mounted is None:
            pytest.skip("needs root to mount a 4 MiB tmpfs as the database's disk (CI runs as root)")
        yield mounted


def on_disk(tmp_path: Path, models_dir: Path, data_fs: Path) -> dict[str, str]:
    """The assistant's environment with its database (and so its outbox and recordings spool) on `data_fs`."""
    return assistant_env(tmp_path, models_dir) | {"SENTIRIC_STORAGE__DB_PATH": str(data_fs / "sentiric.db")}


async def call_ending_on_a_full_disk(daemon: DaemonProcess, data_fs: Path) -> tuple[str, Path]:
    """Start the daemon, call it, fill `data_fs` to the last byte while the call is up, then hang up; return
    the call's id and the file that fills the disk (unlink it to free the space)."""
    daemon.start()
    leave = asyncio.Event()
    calling = asyncio.create_task(call_and_hang_up(daemon, 60.0, "close", hang_up_now=leave))
    await asyncio.to_thread(daemon.wait_for, "call_started", 20.0)
    filler = await asyncio.to_thread(fill, data_fs)
    leave.set()
    return await calling, filler


async def test_a_call_ending_on_a_full_database_disk_is_stored_once_space_is_back(
    tmp_path: Path, models_dir: Path, data_fs: Path
) -> None:
    with DaemonProcess(tmp_path, on_disk(tmp_path, models_dir, data_fs)) as daemon:
        call_id, filler = await call_ending_on_a_full_disk(daemon, data_fs)

        [unsaved] = await asyncio.to_thread(daemon.wait_for, "call_record_unsaved", 20.0, call_id=call_id)
        assert unsaved["level"] == "error" and "full" in unsaved["error"], unsaved
        assert "db_path" in unsaved["fix"], unsaved
        assert daemon.records()[call_id]["status"] == "active"  # what the last mid-call save left
        # The recording could not be written either: no half-written file is left in the spool for it.
        assert not list((data_fs / "recordings").glob("*.tmp")), list((data_fs / "recordings").iterdir())

        await asyncio.to_thread(filler.unlink)  # the admin frees space
        await asyncio.to_thread(daemon.wait_for, "call_record_saved_late", 20.0, call_id=call_id)
        assert daemon.records()[call_id]["status"] == "unfinished_call"
        done = await asyncio.to_thread(daemon.wait_for, "postcall_job_done", 20.0, 3, call_id=call_id)
        assert sorted(e["kind"] for e in done) == ["analytics", "archive", "summary"]

    # One error line for the call, and no traceback or repeated line for every retry.
    assert len(daemon.events("call_record_unsaved", call_id=call_id)) == 1
    assert not daemon.events("context_finish_failed") and not daemon.events("call_record_lost")
    assert "Traceback" not in daemon.log.read_text()


async def test_a_daemon_stopped_while_the_disk_is_still_full_says_which_record_it_could_not_store(
    tmp_path: Path, models_dir: Path, data_fs: Path
) -> None:
    with DaemonProcess(tmp_path, on_disk(tmp_path, models_dir, data_fs)) as daemon:
        call_id, _filler = await call_ending_on_a_full_disk(daemon, data_fs)
        await asyncio.to_thread(daemon.wait_for, "call_record_unsaved", 20.0, call_id=call_id)

        assert daemon.stop() == 0  # systemd's stop: no hang on the record it cannot write
    [lost] = daemon.events("call_record_lost")
    assert lost["call_id"] == call_id and lost["level"] == "error" and "full" in lost["error"], lost
    assert daemon.events("daemon_stopped")
    assert "Traceback" not in daemon.log.read_text()

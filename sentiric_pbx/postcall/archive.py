"""The call archive (seed §5): the recording and the transcript, kept for `retention_days` (retention.py).

Layout: `<archive>/<YYYY>/<MM>/<DD>/<call_id>.wav` and `.json`, dated by the call's start (UTC).
A date in the path, not a file's mtime, decides retention: copying or restoring an archive must not
make an old call look new, and a sweep can drop whole days without opening a file.

The recording is the call's stereo WAV (caller on the left channel, agent on the right) written
while the call ran; it is moved into the archive (`move=True`) or copied. Every write goes to a
temporary name first and is renamed into place, and the source is removed only after both files
exist, so a crash at any point leaves either the old state or the new one and a rerun finishes it.
The archive's location is recorded in the `postcall_archive` table (the `calls show` CLI reads it);
the call's context is deliberately not rewritten here, because the summary job writes it and two
jobs rewriting one context concurrently would lose one of the updates.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import structlog

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.postcall.db import connect
from sentiric_pbx.storage.private import create_private_dirs, make_private_dir, write_private_atomically
from sentiric_pbx.storage.recording_store import RecordingStore

log = structlog.get_logger("sentiric_pbx.postcall.archive")

SCHEMA = """
CREATE TABLE IF NOT EXISTS postcall_archive (
    call_id         TEXT PRIMARY KEY,
    wav_path        TEXT,               -- NULL when the call had no recording
    transcript_path TEXT NOT NULL,
    archived_at     REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class ArchivedCall:
    call_id: str
    wav_path: Path | str | None
    """A path in this host's archive, or the recording's URL in the shared store."""
    transcript_path: Path | str


def archive_paths(archive_dir: Path, call_id: str, started_at: float) -> tuple[Path, Path]:
    """(wav, json) for a call: `<archive>/<YYYY>/<MM>/<DD>/<call_id>.wav|.json`, UTC date of the start."""
    if not call_id or "/" in call_id or "\\" in call_id or call_id.startswith("."):
        raise ValueError(f"call id {call_id!r} cannot be a file name")
    day = datetime.fromtimestamp(started_at, UTC)
    folder = archive_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
    return folder / f"{call_id}.wav", folder / f"{call_id}.json"


def _word(raw: dict[str, Any]) -> dict[str, Any]:
    """STT words as recorded, with one spelling of the keys (engines say start_s; some say start)."""
    start = raw.get("start_s", raw.get("start"))
    end = raw.get("end_s", raw.get("end"))
    word: dict[str, Any] = {"word": raw.get("word", raw.get("text", ""))}
    word["start_s"] = round(float(start), 3) if start is not None else None
    word["end_s"] = round(float(end), 3) if end is not None else None
    if raw.get("confidence") is not None:
        word["confidence"] = round(float(raw["confidence"]), 3)
    return word


def _turn(turn: Turn) -> dict[str, Any]:
    return {
        "who": turn.who,
        "text": turn.text,
        "start_s": round(turn.start_s, 3),
        "end_s": round(turn.end_s, 3),
        "interrupted": turn.interrupted,
        "intent": turn.intent,
        "latency_ms": turn.latency_ms,
        "words": [_word(w) for w in turn.words],
    }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def transcript_document(context: CallContext, wav_name: str | None) -> dict[str, Any]:
    """The transcript JSON: call facts, then every turn with its words and their timings.

    Turn times are seconds from the start of the call; an agent turn's text is what the caller
    actually heard (cut at barge-in, `interrupted: true`).
    """
    return {
        "call_id": context.call_id,
        "caller_id": context.caller_id,
        "caller_name": context.caller_name,
        "called_number": context.called_number,
        "language": context.language,
        "ingress": context.ingress,
        "started_at": _iso(context.started_at),
        "ended_at": _iso(context.ended_at),
        "status": context.status,
        "outcome": context.outcome,
        "recording": wav_name,
        "recording_channels": {"left": "caller", "right": "agent"} if wav_name else None,
        "turns": [_turn(t) for t in context.turns],
    }


def _atomic_write(dest: Path, data: bytes) -> None:
    write_private_atomically(dest, lambda out: out.write(data))


def _atomic_copy(src: Path, dest: Path) -> None:
    def fill(out: IO[bytes]) -> None:
        with src.open("rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)

    write_private_atomically(dest, fill)


def _check_stereo(path: Path, call_id: str) -> None:
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
    except (wave.Error, EOFError) as exc:
        log.warning("archive_recording_unreadable", call_id=call_id, path=str(path), error=str(exc))
        return
    if channels != 2:
        log.warning("archive_recording_not_stereo", call_id=call_id, channels=channels)


def _place_recording(context: CallContext, wav_dest: Path, move: bool) -> Path | None:
    """Copy (then, if `move`, remove) the call's recording into the archive; None when it has none."""
    source = Path(context.recording_path) if context.recording_path else None
    if source is not None and source.resolve() == wav_dest.resolve():
        return wav_dest  # the recording was written straight into the archive
    if source is not None and source.is_file():
        _check_stereo(source, context.call_id)
        _atomic_copy(source, wav_dest)
        return wav_dest
    if wav_dest.is_file():
        return wav_dest  # moved by an earlier run of this job that stopped before recording it
    if source is not None:
        log.warning("archive_recording_missing", call_id=context.call_id, path=str(source))
    return None


def _write_files(
    context: CallContext, archive_dir: Path, wav_dest: Path, json_dest: Path, move: bool
) -> Path | None:
    # Recordings and transcripts are personal data: files 0640, folders 0750, whatever the umask.
    make_private_dir(archive_dir)
    create_private_dirs(wav_dest.parent)
    wav = _place_recording(context, wav_dest, move)
    document = transcript_document(context, wav.name if wav else None)
    _atomic_write(json_dest, json.dumps(document, ensure_ascii=False, indent=1).encode())
    return wav


class RecordingNotUploaded(Exception):
    """The call's recording is not in the shared store yet (its host is still uploading it, or the store
    is down): the job waits, with capped backoff and without using up its attempts, instead of archiving
    a call without its recording."""

    transient = True


async def archive_stored_call(context: CallContext, store: RecordingStore, db_path: Path | str) -> ArchivedCall:
    """Archive a call whose recording is in the shared store: only once the store holds it (this job may
    run on any host, before the answering host's upload is done), with the transcript put beside it.
    Rerunning it rewrites the same transcript object and the same row."""
    url = context.recording_url or ""
    if await asyncio.to_thread(store.size, url) is None:
        raise RecordingNotUploaded(f"{url} is not in the recordings store yet")
    name = url.rsplit("/", 1)[-1]
    document = transcript_document(context, name)
    data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    transcript = await asyncio.to_thread(store.put_bytes, data, f"{context.call_id}.json")
    async with connect(db_path, SCHEMA) as db:
        await db.execute(
            "INSERT OR REPLACE INTO postcall_archive (call_id, wav_path, transcript_path, archived_at)"
            " VALUES (?, ?, ?, ?)",
            (context.call_id, url, transcript, time.time()),
        )
    return ArchivedCall(context.call_id, url, transcript)


async def archive_call(context: CallContext, archive_dir: Path, db_path: Path | str, move: bool = True) -> ArchivedCall:
    """Archive one call's recording and transcript; safe to run again after any crash.

    File work runs in a thread: copying a long recording on the event loop would stall the playout
    clock of every live call when the workers run inside the daemon.
    """
    wav_dest, json_dest = archive_paths(archive_dir, context.call_id, context.started_at)
    wav = await asyncio.to_thread(_write_files, context, archive_dir, wav_dest, json_dest, move)
    async with connect(db_path, SCHEMA) as db:
        await db.execute(
            "INSERT OR REPLACE INTO postcall_archive (call_id, wav_path, transcript_path, archived_at)"
            " VALUES (?, ?, ?, ?)",
            (context.call_id, str(wav) if wav else None, str(json_dest), time.time()),
        )
    source = Path(context.recording_path) if context.recording_path else None
    if move and wav and source is not None and source.resolve() != wav.resolve():
        source.unlink(missing_ok=True)
    return ArchivedCall(context.call_id, wav, json_dest)

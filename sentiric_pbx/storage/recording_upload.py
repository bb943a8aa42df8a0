"""The answering host's uploader: finished recordings → the shared store, then off this host's disk.

Why the recordings folder is the queue: a recording is written whole to `<recordings>/<call_id>.wav`
before the call's record is finished; as long as that file is there, its upload is still owed. So a
daemon restarted (or killed) mid-upload finds the file at start-up and uploads it again under the
same name, and nothing else has to be kept durable. The file is removed only after the store answers
with the whole size (a HEAD, or a stat on a shared mount); a store that is down costs retries with
backoff (capped at `CAP_S`), never the recording. One line per outcome: `recording_uploaded`,
`recording_upload_retry` (with the error and the wait), with the call_id bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.storage.recording_store import RecordingStore

log = structlog.get_logger("sentiric_pbx.storage.recording_upload")

FIRST_RETRY_S = 0.5
CAP_S = 30.0
"""Longest wait between two tries: a store back after an outage gets the backlog within half a minute."""


def recording_key(call_id: str) -> str:
    return f"{call_id}.wav"


class RecordingUploader:
    """Uploads `<recordings>/<call_id>.wav` files to `store` in the background, one at a time, in order.

    `submit(path)` after a call's recording is written; `start()` also queues every recording a previous
    run left behind. `aclose()` stops at once: what is not uploaded yet stays on disk for the next start.
    """

    def __init__(self, store: RecordingStore, recordings: Path, *, first_retry_s: float = FIRST_RETRY_S) -> None:
        self.store = store
        self.recordings = recordings
        self.first_retry_s = first_retry_s
        self._queue: asyncio.Queue[Path] = asyncio.Queue()
        self._queued: set[Path] = set()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def url_of(self, call_id: str) -> str:
        """The URL a call's recording has (or will have) in the store: the call record keeps this."""
        return self.store.url_for(recording_key(call_id))

    def start(self) -> None:
        left = sorted(self.recordings.glob("*.wav")) if self.recordings.is_dir() else []
        for path in left:
            self.submit(path)
        if left:
            log.info("recording_uploads_resumed", recordings=len(left))
        self._task = asyncio.create_task(self._run())

    def submit(self, path: Path) -> None:
        if path in self._queued:
            return
        self._queued.add(path)
        self._idle.clear()
        self._queue.put_nowait(path)

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        """True once every submitted recording is uploaded (for a drain and for tests)."""
        try:
            await within(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            path = await self._queue.get()
            call_id = path.stem
            with structlog.contextvars.bound_contextvars(call_id=call_id):
                await self._upload(path, call_id)
            self._queued.discard(path)
            if self._queue.empty():
                self._idle.set()

    async def _upload(self, path: Path, call_id: str) -> None:
        wait = self.first_retry_s
        attempt = 0
        while True:
            attempt += 1
            try:
                done = await asyncio.to_thread(self._put_and_remove, path, call_id)
            except Exception as exc:
                log.warning("recording_upload_retry", attempt=attempt, error=_brief(exc), retry_in_s=round(wait, 1))
                await asyncio.sleep(wait)
                wait = min(wait * 2, CAP_S)
                continue
            if done is not None:
                log.info("recording_uploaded", url=done[0], bytes=done[1], attempt=attempt)
            return

    def _put_and_remove(self, path: Path, call_id: str) -> tuple[str, int] | None:
        """Upload, confirm (put_file checks the stored size), then remove the local file; None when the
        file is gone already (erased meanwhile by `calls delete` or retention: nothing is owed)."""
        if not path.is_file():
            return None
        size = path.stat().st_size
        url = self.store.put_file(path, recording_key(call_id))
        path.unlink(missing_ok=True)
        return url, size

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _brief(exc: BaseException) -> str:
    """The error without anything a signed request might carry (boto3's messages hold no secrets, but
    a URL with a query string could): its type and first line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text.split('?')[0][:200]}"


__all__ = ["RecordingUploader", "recording_key"]

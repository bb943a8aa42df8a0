"""The call's record as the conversation writes it: turns as they happen, saved after each, stored at the end.

Seed §4: the context is saved after every turn, so a crash or a hangup never loses more than the last
partial utterance; a store that is down costs a warning, never the call. At the end the record gets its
status (`unfinished_call` when the caller left before the conversation's end), the recording is cut to
what the caller heard and written, and the record is finished (store + post-call queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.call.transport import CallInfo, CallTransport
from sentiric_pbx.storage.recording import CallRecorder

log = structlog.get_logger("sentiric_pbx.session")

SaveContext = Callable[[CallContext], Awaitable[None]]


def context_for(info: CallInfo, default_country_code: str) -> CallContext:
    """A new call's record from what the ingress knows of it."""
    return CallContext(
        call_id=info.call_id,
        caller_id=normalize_e164(info.caller_id, default_country_code),
        caller_name=info.caller_name,
        called_number=info.called_number,
        language=(info.language or "en").split("_")[0],
        ingress=info.ingress,
    )


class TranscriptWriter:
    """Turns → the call's record (and the ingress's screen, if it has one); the record and the recording →
    the store. The recording is fed by listening (the caller) and speaking (us); it is written here."""

    def __init__(
        self,
        ctx: CallContext,
        recorder: CallRecorder,
        *,
        save: SaveContext,
        finish: SaveContext,
        recording_path: Path | None = None,
    ) -> None:
        self.ctx = ctx
        self.recorder = recorder
        self._save = save
        self._finish = finish
        self.recording_path = recording_path
        self.on_turn: Callable[[str, str], None] | None = None
        """Told (who, text) of each turn as it is stored: an ingress with a screen shows the transcript live."""
        self._t0 = 0.0

    def start(self) -> None:
        """The call's audio starts now: agent turns are timed from here, on the loop's clock."""
        self._t0 = asyncio.get_running_loop().time()

    def now_s(self) -> float:
        """Seconds since `start()`."""
        return asyncio.get_running_loop().time() - self._t0

    def add(self, turn: Turn) -> None:
        """Store the turn, then tell the ingress (a screen showing the transcript), if it asked to be told."""
        self.ctx.add_turn(turn)
        if self.on_turn is not None:
            try:
                self.on_turn(turn.who, turn.text)
            except Exception as exc:  # a display must never end the call
                log.warning("on_turn_failed", error=repr(exc))

    async def save(self) -> None:
        try:
            await self._save(self.ctx)
        except Exception as exc:
            log.warning("context_save_failed", error=repr(exc))

    async def store(self, transport: CallTransport, *, conversation_done: bool) -> None:
        """The call is over: its status, the recording as the caller heard it, and the finished record."""
        ctx, recorder, recording_path = self.ctx, self.recorder, self.recording_path
        ctx.ended_at = time.time()
        if ctx.status == "active":
            ctx.status = "completed" if conversation_done else "unfinished_call"
        log.info("conversation_ended", status=ctx.status, turns=len(ctx.turns), outcome=ctx.outcome)
        metrics.CALLS_BY_OUTCOME.labels(outcome=ctx.status).inc()
        if transport.closed:
            recorder.drop_agent_tail(transport.unplayed_at_end_ms)
        if recording_path is not None:
            try:
                ctx.recording_path = str(await asyncio.to_thread(recorder.write, recording_path))
            except OSError as exc:
                ctx.recording_error = exc.strerror or str(exc)
                log.error("recording_write_failed", path=str(recording_path), error=str(exc))
        try:
            await self._finish(ctx)
        except Exception as exc:
            log.error("context_finish_failed", error=repr(exc))

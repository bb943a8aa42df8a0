"""Speaking: reply text → sentences → TTS → paced playout, and what the caller actually heard.

    "We are open Monday to Friday, from 9 am to 5 pm. Anything else?"
      → "We are open Monday to Friday," → TTS → play    (the first clause: the caller hears it sooner)
      → "from 9 am to 5 pm."            → TTS → play
      → "Anything else?"                → TTS → play    → Turn("agent", <the words played>)

Each reply runs as its own task, so barge-in is a cancellation: the listening stage calls `interrupt()`,
which flushes the playout and cancels the task. The agent's turn then records only what went out on
the wire before the flush — sentences fully played, plus the played share of the one cut off — and so
does a reply cut short by the caller hanging up (`transport.unplayed_at_end_ms`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.audio.frames import duration_s
from sentiric_pbx.call.record import Turn
from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.dialog.keypad import KeyedTurn
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.dialog.transcript import TranscriptWriter
from sentiric_pbx.dialog.types import CallerTurn
from sentiric_pbx.engines.base import TtsEngine
from sentiric_pbx.engines.priority import set_waiting_since
from sentiric_pbx.engines.tts.sentences import SentenceBuffer, split_first_clause
from sentiric_pbx.storage.recording import CallRecorder

log = structlog.get_logger("sentiric_pbx.session")


def heard_text(sentences: list[tuple[str, float]], unplayed_s: float) -> str:
    """The words of a reply that went out on the wire when its last `unplayed_s` were never played.

    >>> heard_text([("Hello there.", 1.0), ("How can I help you today?", 2.5)], unplayed_s=1.5)
    'Hello there. How can'
    """
    heard: list[str] = []
    remaining = sum(d for _, d in sentences) - unplayed_s
    for text, dur in sentences:
        if remaining >= dur - 0.01:
            heard.append(text)
            remaining -= dur
        elif remaining > 0:
            words = text.split()
            heard.append(" ".join(words[: int(len(words) * remaining / dur)]))
            break
        else:
            break
    return " ".join(h for h in heard if h)


@dataclass(slots=True)
class _Playing:
    sentences: list[tuple[str, float]] = field(default_factory=list)
    """(text, seconds of audio) queued so far for this reply."""
    first_audio_at: float | None = None


class Speaker:
    """One call's voice: `say()` a reply, `interrupt()` it (barge-in); the agent's turns go to the transcript."""

    def __init__(
        self, transport: CallTransport, tts: TtsEngine, recorder: CallRecorder, transcript: TranscriptWriter
    ) -> None:
        self.transport = transport
        self.tts = tts
        self.recorder = recorder
        self.transcript = transcript
        self._task: asyncio.Task[None] | None = None
        self._playing = _Playing()
        self._flushed_ms = 0

    @property
    def playing(self) -> bool:
        """A reply is under way and some of it is still queued for the caller's ear."""
        return self._task is not None and not self._task.done() and self.transport.queued_ms > 0

    def interrupt(self) -> int | None:
        """Barge-in: drop what is queued and stop the reply. The ms dropped, or None if no reply was under way."""
        if self._task is None or self._task.done():
            return None
        self._flushed_ms = self.transport.queued_ms
        self.transport.flush()
        self.recorder.flush_agent()
        self._task.cancel()
        return self._flushed_ms

    async def say(
        self, deltas: AsyncIterator[str], turn: CallerTurn | KeyedTurn | None, filler: tuple[str, float] | None = None
    ) -> bool:
        """Speak a reply to its end (True) or until the caller talks over it (False). TTS errors propagate.

        `filler` = (text, loop time): if the reply's first words are not there by then, say the text first
        ("Just a moment."), so a slow model never leaves the caller in silence."""
        self._task = asyncio.create_task(self._speak(deltas, turn, filler), name="speak")
        try:
            await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled, not just the reply
            return False  # barge-in: the caller talked over us
        finally:
            self._task = None
        return True

    async def _speak(
        self, deltas: AsyncIterator[str], turn: CallerTurn | KeyedTurn | None, filler: tuple[str, float] | None
    ) -> None:
        # This task's TTS jobs go before those of callers who stopped talking later (a greeting: now).
        set_waiting_since(turn.ended_at if turn is not None else asyncio.get_running_loop().time())
        self._playing = _Playing()
        self._flushed_ms = 0
        start_s = self.transcript.now_s()
        splitter = SentenceBuffer()
        tts_ms: list[float] = []
        if filler is not None:  # the filler is the reply's first audio: its TTS time is the reply's
            deltas = self._on_time(deltas, *filler, tts_ms)
        try:
            async for delta in deltas:
                for sentence in splitter.push(delta):
                    await self._say_sentence(sentence, tts_ms)
            tail = splitter.flush()
            if tail:
                await self._say_sentence(tail, tts_ms)
            await self.transport.wait_played()
        except asyncio.CancelledError:
            self._cut_by_hangup()
            self._record_agent_turn(start_s, turn, interrupted=True)
            raise
        finally:
            with contextlib.suppress(Exception):
                await deltas.aclose()  # type: ignore[attr-defined]
        # A caller who hangs up mid-reply ends playout too, and `wait_played` returns: what was still
        # queued then was never heard, and the transcript must not say it was.
        self._record_agent_turn(start_s, turn, interrupted=self._cut_by_hangup())

    async def _on_time(
        self, deltas: AsyncIterator[str], filler: str, at: float, tts_ms: list[float]
    ) -> AsyncIterator[str]:
        """`deltas`, with `filler` said first when the first delta is not there at loop time `at`."""
        loop = asyncio.get_running_loop()
        first: asyncio.Future[str] = asyncio.ensure_future(anext(deltas))
        try:
            done, _ = await asyncio.wait({first}, timeout=max(0.0, at - loop.time()))
            if not done:
                metrics.REPLY_FILLERS.inc()
                log.info("reply_filler", text=filler)
                await self._say_sentence(filler, tts_ms)
            try:
                yield await first
            except StopAsyncIteration:
                return
            async for delta in deltas:
                yield delta
        finally:
            if not first.done():
                first.cancel()
                await asyncio.wait({first})  # the reply's generator ends with the cancellation
            with contextlib.suppress(Exception):
                await deltas.aclose()  # type: ignore[attr-defined]

    def _cut_by_hangup(self) -> bool:
        """Did the call end with part of this reply unplayed? Then that part is what was flushed."""
        unplayed = self.transport.unplayed_at_end_ms if self.transport.closed else 0
        if unplayed <= 0:
            return False
        self._flushed_ms = max(self._flushed_ms, unplayed)
        return True

    async def _say_sentence(self, sentence: str, tts_ms: list[float]) -> None:
        if not tts_ms:  # the reply's first words: say its first clause as soon as it is synthesized
            parts = split_first_clause(sentence)
            if len(parts) > 1:
                for part in parts:
                    await self._say_sentence(part, tts_ms)
                return
        if self.transport.closed:
            return  # the caller is gone: nothing more of this reply will be heard, or synthesized
        loop = asyncio.get_running_loop()
        started = loop.time()
        pcm = b"".join([chunk async for chunk in self.tts.synthesize(sentence)])
        tts_ms.append((loop.time() - started) * 1000)
        if len(tts_ms) == 1:
            timed(self.transcript.ctx, "tts_first_audio_ms", tts_ms[0])
        if not pcm or self.transport.closed:
            return
        self.transport.play(pcm)
        self.recorder.agent_audio(pcm)
        if self._playing.first_audio_at is None:
            self._playing.first_audio_at = loop.time()
        self._playing.sentences.append((sentence, duration_s(pcm)))

    def _record_agent_turn(self, start_s: float, turn: CallerTurn | KeyedTurn | None, interrupted: bool) -> None:
        sentences = self._playing.sentences
        text = heard_text(sentences, self._flushed_ms / 1000.0 if interrupted else 0.0)
        if not text and not sentences:
            return
        latency = None
        if turn is not None and self._playing.first_audio_at is not None:
            latency = round((self._playing.first_audio_at - turn.ended_at) * 1000, 1)
            timed(self.transcript.ctx, "reply_latency_ms", latency)
        self.transcript.add(
            Turn("agent", text, start_s, self.transcript.now_s(), interrupted=interrupted, latency_ms=latency)
        )

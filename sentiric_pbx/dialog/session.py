"""`CallSession`: one call's conversation, as the seed walks it.

    greeting → loop { listen → understand → act → answer } → (hangup) → store → post-call

Four small asyncio tasks joined by queues (DESIGN.md):
  listen     frames → endpointer → utterances; detects barge-in while we speak; starts recognition
             at the caller's first pause and ends the turn when the words allow (dialog/turntaking.py)
  recognize  utterances → STT final → caller turns (in order; never blocks listen)
  think      caller turns → brain (NLU → task → responder) → reply text
  speak      reply text → sentences → TTS → paced playout (cancelled by barge-in)

Barge-in is a cancellation, not a flag: the listen task flushes playout and cancels the speak task;
what the caller actually heard (sentences fully played, plus the played share of the one cut off)
is what the transcript records.

Failure rules (seed §4): the context is saved after every turn; a hangup at any moment ends the call
as `unfinished_call` unless the conversation had reached its end (goodbye, transfer); an engine error
apologises and offers a transfer instead of dropping the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.audio.frames import FRAME_MS, SILENCE_FRAME, duration_s
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted, TurnEnded
from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.call.transport import CallTransport, Dtmf
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.bargein import BargeInDetector, BargeInOptions
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.dialog.turntaking import TurnAttempt, TurnRecognizer, may_end_turn
from sentiric_pbx.engines.base import SttEngine, TtsEngine
from sentiric_pbx.engines.tts.sentences import SentenceBuffer, split_first_clause
from sentiric_pbx.storage.recording import CallRecorder

log = structlog.get_logger("sentiric_pbx.session")


@dataclass(slots=True)
class Reply:
    """What the brain answers: text to speak (streamed) and what to do after saying it."""

    deltas: AsyncIterator[str]
    action: Literal["continue", "end_call", "transfer"] = "continue"
    transfer_target: str | None = None


class Brain(Protocol):
    async def greet(self, ctx: CallContext) -> Reply: ...

    async def respond(self, ctx: CallContext, text: str) -> Reply: ...

    async def reprompt(self, ctx: CallContext, attempt: int) -> Reply: ...

    async def apologise(self, ctx: CallContext) -> Reply: ...


async def text_reply(text: str) -> AsyncIterator[str]:
    yield text


@dataclass(slots=True)
class CallerTurn:
    text: str
    words: list[dict[str, float | str]]
    start_s: float
    end_s: float
    ended_at: float
    """Loop time of the caller's last voiced frame (reply latency starts here)."""


STT_FAILED = CallerTurn("", [], 0.0, 0.0, 0.0)
"""Put on the turn queue when recognition raised: the conversation apologises and offers a transfer."""


@dataclass(slots=True)
class _Playing:
    sentences: list[tuple[str, float]] = field(default_factory=list)
    """(text, seconds of audio) queued so far for this reply."""
    first_audio_at: float | None = None


class CallSession:
    def __init__(
        self,
        settings: Settings,
        transport: CallTransport,
        *,
        stt: SttEngine,
        tts: TtsEngine,
        brain: Brain,
        save: Callable[[CallContext], Awaitable[None]],
        finish: Callable[[CallContext], Awaitable[None]],
        recording_path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.stt = stt
        self.tts = tts
        self.brain = brain
        self._save = save
        self._finish = finish
        info = transport.info
        self.ctx = CallContext(
            call_id=info.call_id,
            caller_id=normalize_e164(info.caller_id, settings.business.default_country_code),
            caller_name=info.caller_name,
            called_number=info.called_number,
            language=(info.language or "en").split("_")[0],
            ingress=info.ingress,
        )
        d = settings.dialog
        self.bargein = BargeInDetector(
            BargeInOptions(sustain_ms=d.barge_in_sustain_ms, echo_margin_db=d.echo_margin_db)
        )
        self.utterances: asyncio.Queue[tuple[TurnEnded, TurnAttempt, float] | None] = asyncio.Queue()
        """(turn, its recognition, loop time of its last voiced frame); None when the caller hung up."""
        self.recognizer = TurnRecognizer(stt)
        self._floor_taken = False
        self.turns: asyncio.Queue[CallerTurn | None] = asyncio.Queue()
        self._speaking: asyncio.Task[None] | None = None
        self._playing = _Playing()
        self._stream_t0 = 0.0
        self.conversation_done = False
        self.hung_up = False
        self._flushed_ms = 0
        self.recorder = CallRecorder()
        self._in_speech = False
        self._recognizing = False
        self.recording_path = recording_path

    # -- the call ----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._stream_t0 = loop.time()
        await self._save_safely()
        listen = asyncio.create_task(self._listen(), name="listen")
        recognize = asyncio.create_task(self._recognize(), name="recognize")
        for task in (listen, recognize):
            task.add_done_callback(self._stage_died)
        try:
            await self._say_reply(await self.brain.greet(self.ctx), None)
            await self._conversation()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session_failed")
            self.ctx.status = "failed"
        finally:
            for task in (listen, recognize, self._speaking):
                if task is not None:
                    task.cancel()
            await asyncio.gather(listen, recognize, return_exceptions=True)
            await self.recognizer.close()
            await self._end()

    def _stage_died(self, task: asyncio.Task[None]) -> None:
        """A stage that dies must not leave the caller talking to nobody: log it and end the call."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("session_stage_failed", stage=task.get_name(), error=repr(task.exception()))
        self.ctx.status = "failed"
        self.turns.put_nowait(None)

    def _caller_busy(self) -> bool:
        """Is the caller talking, or is something they said still being recognized?"""
        return self._in_speech or self._recognizing or not self.utterances.empty() or not self.turns.empty()

    async def _next_turn(self) -> CallerTurn | Literal["silence"] | None:
        """The caller's next turn, or "silence" after `no_input_reprompt_s` of real silence.

        The clock restarts whenever the caller speaks or a recognition is pending: a slow STT on a
        loaded host must not make us ask "are you still there?" of someone who just answered.
        """
        loop = asyncio.get_running_loop()
        wait_s = self.settings.dialog.no_input_reprompt_s
        quiet_since = loop.time()
        while True:
            try:
                async with asyncio.timeout(0.25):
                    return await self.turns.get()
            except TimeoutError:
                if self._caller_busy():
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= wait_s:
                    return "silence"

    async def _conversation(self) -> None:
        reprompts = 0
        while not self.conversation_done:
            turn = await self._next_turn()
            if turn == "silence":
                reprompts += 1
                if reprompts > self.settings.dialog.no_input_max:
                    self.ctx.outcome = "no_input"
                    await self._say_reply(await self.brain.reprompt(self.ctx, reprompts), None)
                    await self._hangup()
                    return
                await self._say_reply(await self.brain.reprompt(self.ctx, reprompts), None)
                continue
            if turn is None:  # the caller hung up
                return
            reprompts = 0
            if turn is STT_FAILED:
                await self._say_reply(await self.brain.apologise(self.ctx), None, recovering=True)
                continue
            assert isinstance(turn, CallerTurn)
            await self._handle_turn(turn)

    async def _handle_turn(self, turn: CallerTurn) -> None:
        self._add_turn(Turn("caller", turn.text, turn.start_s, turn.end_s, words=turn.words))  # type: ignore[arg-type]
        await self._save_safely()
        started = time.perf_counter()
        try:
            reply = await self.brain.respond(self.ctx, turn.text)
        except Exception as exc:
            log.error("brain_failed", error=repr(exc))
            reply = await self.brain.apologise(self.ctx)
        timed(self.ctx, "think_ms", (time.perf_counter() - started) * 1000)
        if self.ctx.turns[-1].who == "caller" and self.ctx.intents:
            self.ctx.turns[-1].intent = self.ctx.intents[-1]
        await self._say_reply(reply, turn)

    async def _say_reply(self, reply: Reply, turn: CallerTurn | None, *, recovering: bool = False) -> None:
        self._speaking = asyncio.create_task(self._speak(reply.deltas, turn), name="speak")
        try:
            await self._speaking
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled, not just the reply
            return  # barge-in: the caller talked over us; listen for what they say
        except Exception as exc:
            # TTS or the reply's text stream failed. Never leave the caller in silence: apologise (the
            # apology is pre-synthesized, so it plays even when TTS is down) and hand over to a human.
            log.error("speak_failed", error=repr(exc))
            if recovering:
                raise
            self._speaking = None
            await self._say_reply(await self.brain.apologise(self.ctx), None, recovering=True)
            return
        finally:
            self._speaking = None
        await self._save_safely()
        if reply.action == "end_call":
            self.conversation_done = True
            self.ctx.outcome = self.ctx.outcome or "completed"
            await self._hangup()
        elif reply.action == "transfer":
            self.conversation_done = True
            self.ctx.outcome = "transferred"
            self.ctx.status = "transferred"
            await self.transport.wait_played()
            await self.transport.transfer(reply.transfer_target or self.settings.business.transfer_target)

    async def _hangup(self) -> None:
        await self.transport.wait_played()
        await self.transport.hangup()

    # -- speak -------------------------------------------------------------------------------
    async def _speak(self, deltas: AsyncIterator[str], turn: CallerTurn | None) -> None:
        loop = asyncio.get_running_loop()
        self._playing = _Playing()
        self._flushed_ms = 0
        start_s = loop.time() - self._stream_t0
        splitter = SentenceBuffer()
        tts_ms: list[float] = []
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
        started = time.perf_counter()
        pcm = b"".join([chunk async for chunk in self.tts.synthesize(sentence)])
        tts_ms.append((time.perf_counter() - started) * 1000)
        if len(tts_ms) == 1:
            timed(self.ctx, "tts_first_audio_ms", tts_ms[0])
        if not pcm or self.transport.closed:
            return
        self.transport.play(pcm)
        self.recorder.agent_audio(pcm)
        if self._playing.first_audio_at is None:
            self._playing.first_audio_at = asyncio.get_running_loop().time()
        self._playing.sentences.append((sentence, duration_s(pcm)))

    def _heard_text(self, interrupted: bool) -> str:
        """The part of the reply that went out on the wire before a flush."""
        sentences = self._playing.sentences
        if not interrupted:
            return " ".join(s for s, _ in sentences)
        unplayed_s = self._flushed_ms / 1000.0
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

    def _record_agent_turn(self, start_s: float, turn: CallerTurn | None, interrupted: bool) -> None:
        text = self._heard_text(interrupted)
        if not text and not self._playing.sentences:
            return
        loop = asyncio.get_running_loop()
        latency = None
        if turn is not None and self._playing.first_audio_at is not None:
            latency = round((self._playing.first_audio_at - turn.ended_at) * 1000, 1)
            timed(self.ctx, "reply_latency_ms", latency)
        self._add_turn(
            Turn("agent", text, start_s, loop.time() - self._stream_t0, interrupted=interrupted, latency_ms=latency)
        )

    def _add_turn(self, turn: Turn) -> None:
        """Store the turn, then tell the ingress (a screen showing the transcript), if it asked to be told."""
        self.ctx.add_turn(turn)
        on_turn = self.transport.info.on_turn
        if on_turn is not None:
            try:
                on_turn(turn.who, turn.text)
            except Exception as exc:  # a display must never end the call
                log.warning("on_turn_failed", error=repr(exc))

    # -- listen ------------------------------------------------------------------------------
    async def _listen(self) -> None:
        vad = self.settings.vad
        # The endpointer's own end of turn is only the ceiling; `may_end_turn` ends most turns sooner.
        ceiling = max(vad.end_of_turn_silence_ms, vad.unfinished_end_of_turn_ms, vad.early_end_of_turn_ms)
        endpointer = Endpointer(vad.model_copy(update={"end_of_turn_silence_ms": ceiling}))
        loop = asyncio.get_running_loop()
        frames_seen = 0
        attempt: TurnAttempt | None = None
        async for frame in self.transport.frames():
            frames_seen += 1
            self.recorder.caller_frame(frame)
            self.bargein.played(self.recorder.agent_frame_now())
            # What is only our own echo is silence to the endpointer and the STT (bargein.hear()).
            heard = SILENCE_FRAME if self.bargein.hear(frame) else frame
            events = endpointer.process(heard)
            self._in_speech = endpointer.in_turn
            if self.bargein.decide(endpointer.last_frame_voiced, self._agent_speaking()):
                self._barge_in()
            if any(isinstance(e, SpeechStarted) for e in events):
                attempt = self.recognizer.begin(endpointer.turn_audio(), self.ctx.language)
            elif attempt is not None and endpointer.in_turn:
                attempt.frame(heard)
                ended = self._turn_taking(endpointer, attempt)
                if ended is not None:
                    events.append(ended)
            for event in events:
                if isinstance(event, TurnEnded) and attempt is not None:
                    tail_s = (frames_seen * FRAME_MS - event.last_voiced_ms) / 1000
                    self.utterances.put_nowait((event, attempt, loop.time() - tail_s))
                    attempt = None
        self.hung_up = True
        self.utterances.put_nowait(None)

    def _turn_taking(self, endpointer: Endpointer, attempt: TurnAttempt) -> TurnEnded | None:
        """Start recognition at the first pause; end the turn as soon as silence and words agree."""
        silence = endpointer.trailing_silence_ms
        if silence == 0:
            if attempt.paused:
                attempt.resume()
            return None
        vad = self.settings.vad
        if not attempt.paused and silence >= vad.preview_after_ms:
            attempt.pause(endpointer.turn_audio())
        if not may_end_turn(silence, attempt.preview, vad, self.ctx.language):
            return None
        if self._floor_taken and silence < vad.end_of_turn_silence_ms:
            return None  # a caller who talked over us gets to finish: no early end for that turn
        self._floor_taken = False
        timed(self.ctx, "end_of_turn_ms", silence)
        return endpointer.end_turn()

    def _agent_speaking(self) -> bool:
        return self._speaking is not None and not self._speaking.done() and self.transport.queued_ms > 0

    def _barge_in(self) -> None:
        if self._speaking is None or self._speaking.done():
            return
        self._flushed_ms = self.transport.queued_ms
        self.transport.flush()
        self.recorder.flush_agent()
        self._speaking.cancel()
        self._floor_taken = True
        self.bargein.reset()
        log.info("barge_in", flushed_ms=self._flushed_ms)
        metrics.BARGE_INS.inc()

    # -- recognize ---------------------------------------------------------------------------
    async def _recognize(self) -> None:
        while True:
            item = await self.utterances.get()
            if item is None:
                self.turns.put_nowait(None)
                return
            utterance, attempt, ended_at = item
            started = time.perf_counter()
            self._recognizing = True
            try:
                result = await attempt.final(utterance.audio)
            except Exception as exc:
                log.error("stt_failed", error=repr(exc))
                self.turns.put_nowait(STT_FAILED)
                continue
            finally:
                self._recognizing = False
            # With the preview, most of the STT ran during the end-of-turn silence: this is what is left.
            timed(self.ctx, "stt_ms", (time.perf_counter() - started) * 1000)
            text = result.text.strip()
            log.info("caller_said", text=text, audio_s=round(duration_s(utterance.audio), 2))
            if not text:
                continue
            words = [{"word": w.word, "start": w.start_s, "end": w.end_s} for w in result.words]
            self.turns.put_nowait(
                CallerTurn(text, words, utterance.started_ms / 1000, utterance.last_voiced_ms / 1000, ended_at)
            )

    # -- end ---------------------------------------------------------------------------------
    async def _end(self) -> None:
        self.ctx.ended_at = time.time()
        if self.ctx.status == "active":
            self.ctx.status = "completed" if self.conversation_done else "unfinished_call"
        log.info("conversation_ended", status=self.ctx.status, turns=len(self.ctx.turns), outcome=self.ctx.outcome)
        metrics.CALLS_BY_OUTCOME.labels(outcome=self.ctx.status).inc()
        if self.transport.closed:
            self.recorder.drop_agent_tail(self.transport.unplayed_at_end_ms)
        if self.recording_path is not None:
            try:
                self.ctx.recording_path = str(await asyncio.to_thread(self.recorder.write, self.recording_path))
            except OSError as exc:
                log.error("recording_write_failed", path=str(self.recording_path), error=str(exc))
        try:
            await self._finish(self.ctx)
        except Exception as exc:
            log.error("context_finish_failed", error=repr(exc))

    async def _save_safely(self) -> None:
        try:
            await self._save(self.ctx)
        except Exception as exc:
            log.warning("context_save_failed", error=repr(exc))

    def on_dtmf(self, event: Dtmf) -> None:
        log.info("dtmf", digit=event.digit)

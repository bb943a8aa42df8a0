"""Listening: the caller's frames → utterances, and barge-in while we speak.

    frame ─► our echo? → silence (bargein.hear) ─► endpointer ─► turn-taking ─► Utterance ─► queue
                                                       └─► barge-in? ─► speaker.interrupt()

One frame per 20 ms of the call (the transport fills the caller's silence: silence is time, not frames),
each also written to the recording. Recognition starts at the caller's first pause and the turn ends
as soon as the silence, the words so far and (with one) the turn model agree (dialog/turntaking.py); the
recognizing stage then
finishes the transcript, so a slow STT never holds up this loop — nor the barge-in it decides.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.audio.frames import FRAME_MS, SILENCE_FRAME
from sentiric_pbx.audio.silero import SileroEndpointer, SileroVad
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted, TurnEnded
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.bargein import BargeInDetector
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.dialog.turntaking import TurnAttempt, TurnRecognizer, may_end_turn
from sentiric_pbx.engines.priority import waiting_since
from sentiric_pbx.engines.turn import TurnModel
from sentiric_pbx.storage.recording import CallRecorder

log = structlog.get_logger("sentiric_pbx.session")


@dataclass(slots=True)
class Utterance:
    """One caller turn as heard, before its final transcript."""

    turn: TurnEnded
    attempt: TurnAttempt
    """Its recognition, started at the caller's first pause."""
    ended_at: float
    """Loop time of its last voiced frame."""


class Playback(Protocol):
    """What listening needs of the speaking stage: is a reply being heard, and stop it."""

    @property
    def playing(self) -> bool: ...

    def interrupt(self) -> int | None: ...


class Listener:
    """Frames in, `Utterance`s out on `utterances` (then None when the caller hangs up)."""

    def __init__(
        self,
        vad: VadConfig,
        *,
        transport: CallTransport,
        recognizer: TurnRecognizer,
        bargein: BargeInDetector,
        playback: Playback,
        recorder: CallRecorder,
        ctx: CallContext,
        utterances: asyncio.Queue[Utterance | None],
        turn_model: TurnModel | None = None,
        silero: SileroVad | None = None,
    ) -> None:
        self.vad = vad
        self.turn_model = turn_model
        """Asked at the first pause whether the turn sounds finished (None: silence and words alone decide)."""
        self.silero = silero
        """The voice detector when `[vad] engine = "silero"` (loaded once by the engine pool)."""
        self.transport = transport
        self.recognizer = recognizer
        self.bargein = bargein
        self.playback = playback
        self.recorder = recorder
        self.ctx = ctx
        self.utterances = utterances
        self.in_speech = False
        """The caller is in the middle of a turn (the no-input timer waits)."""
        self.hung_up = False
        self._floor_taken = False

    async def run(self) -> None:
        vad = self.vad
        # The endpointer's own end of turn is only the ceiling; `may_end_turn` ends most turns sooner.
        ceiling = max(vad.end_of_turn_silence_ms, vad.unfinished_end_of_turn_ms, vad.early_end_of_turn_ms)
        if self.turn_model is not None:
            ceiling = max(ceiling, vad.turn_model_wait_ms)
        options = vad.model_copy(update={"end_of_turn_silence_ms": ceiling})
        if vad.engine == "silero":
            if self.silero is None:
                raise RuntimeError('[vad] engine = "silero" but no Silero VAD was loaded for this call')
            endpointer: Endpointer = SileroEndpointer(options, stream=self.silero.stream())
        else:
            endpointer = Endpointer(options)
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
            self.in_speech = endpointer.in_turn
            if self.bargein.decide(endpointer.last_frame_voiced, self.playback.playing):
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
                    tail_ms = frames_seen * FRAME_MS - event.last_voiced_ms
                    self._turn_ended(event, tail_ms)
                    self.utterances.put_nowait(Utterance(event, attempt, loop.time() - tail_ms / 1000))
                    attempt = None
        self.hung_up = True
        self.utterances.put_nowait(None)

    def _turn_taking(self, endpointer: Endpointer, attempt: TurnAttempt) -> TurnEnded | None:
        """Start recognition at the first pause; end the turn as soon as silence and words agree."""
        silence = endpointer.trailing_silence_ms
        if silence == 0:
            if attempt.paused or attempt.asked:
                attempt.resume()
            return None
        vad = self.vad
        preview = not attempt.paused and silence >= vad.preview_after_ms
        model = self.turn_model
        ask = model is not None and not attempt.asked and silence >= vad.turn_model_after_ms
        if preview or ask:
            # The preview and the turn model's answer may end this turn: their jobs are due since the caller
            # went quiet, like the final decode, so a caller pausing now goes before later ones.
            with waiting_since(asyncio.get_running_loop().time() - silence / 1000):
                if preview:
                    attempt.pause(endpointer.turn_audio())
                if ask and model is not None:
                    attempt.ask(model)
        if not may_end_turn(silence, attempt.preview, vad, self.ctx.language, attempt.completion):
            return None
        if self._floor_taken and silence < vad.end_of_turn_silence_ms:
            return None  # a caller who talked over us gets to finish: no early end for that turn
        return endpointer.end_turn()

    def _turn_ended(self, turn: TurnEnded, silence_ms: int) -> None:
        """Whoever ended the turn — the words early, or the endpointer at its ceiling (words that sound
        unfinished, no words yet): the floor rule was for this turn only, and its silence is timed."""
        self._floor_taken = False
        if not turn.truncated:  # a turn cut at max_turn_s ended without any silence
            timed(self.ctx, "end_of_turn_ms", silence_ms)

    def _barge_in(self) -> None:
        flushed_ms = self.playback.interrupt()
        if flushed_ms is None:
            return
        self._floor_taken = True
        self.bargein.reset()
        log.info("barge_in", flushed_ms=flushed_ms)
        metrics.BARGE_INS.inc()

"""`CallSession`: one call's conversation, as the seed walks it.

    greeting → loop { listen → understand → act → answer } → (hangup) → store → post-call

Small stages joined by queues (DESIGN.md), each in its own module and each buildable alone:
  listening    frames → echo suppression → endpointer → turn-taking → utterances; barge-in   (listening.py)
  recognizing  utterances → STT final → caller turns, in order; never blocks listening       (recognizing.py)
  thinking     caller turn → brain (NLU → task → responder) → reply                          (thinking.py)
  speaking     reply → sentences → TTS → paced playout; what the caller heard                (speaking.py)
  transcript   turns → the call's record, saved after each; stored at the end                (transcript.py)
  keypad       DTMF events → barge-in and typed turns ("0": a person; digits: a slot)       (keypad.py)

Listening, recognizing and the keypad run as tasks for the whole call; this class runs the conversation
on top. Barge-in is a cancellation, not a flag: listening (a voice) and the keypad (a key) ask speaking
to `interrupt()` the reply's task.

Failure rules (seed §4): the context is saved after every turn; a hangup at any moment ends the call
as `unfinished_call` unless the conversation had reached its end (goodbye, transfer); an engine error
apologises and offers a transfer instead of dropping the caller; a stage that dies ends the call as failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import structlog

from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.bargein import BargeInDetector, BargeInOptions
from sentiric_pbx.dialog.keypad import KeyedTurn, Keypad
from sentiric_pbx.dialog.listening import Listener, Utterance
from sentiric_pbx.dialog.recognizing import Recognizing
from sentiric_pbx.dialog.speaking import Speaker
from sentiric_pbx.dialog.thinking import Thinker
from sentiric_pbx.dialog.transcript import SaveContext, TranscriptWriter, context_for
from sentiric_pbx.dialog.turntaking import TurnRecognizer
from sentiric_pbx.dialog.types import Brain, CallerTurn, Reply, SttFailed
from sentiric_pbx.engines.base import SttEngine, TtsEngine
from sentiric_pbx.storage.recording import CallRecorder

log = structlog.get_logger("sentiric_pbx.session")


class CallSession:
    def __init__(
        self,
        settings: Settings,
        transport: CallTransport,
        *,
        stt: SttEngine,
        tts: TtsEngine,
        brain: Brain,
        save: SaveContext,
        finish: SaveContext,
        recording_path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.brain = brain
        self.ctx = context_for(transport.info, settings.business.default_country_code)
        self.recorder = CallRecorder()
        self.transcript = TranscriptWriter(
            self.ctx, self.recorder, save=save, finish=finish, recording_path=recording_path
        )
        self.transcript.on_turn = transport.info.on_turn
        self.utterances: asyncio.Queue[Utterance | None] = asyncio.Queue()
        self.turns: asyncio.Queue[CallerTurn | KeyedTurn | SttFailed | None] = asyncio.Queue()
        self.recognizer = TurnRecognizer(stt)
        self.speaker = Speaker(transport, tts, self.recorder, self.transcript)
        d = settings.dialog
        self.listener = Listener(
            settings.vad,
            transport=transport,
            recognizer=self.recognizer,
            bargein=BargeInDetector(BargeInOptions(sustain_ms=d.barge_in_sustain_ms, echo_margin_db=d.echo_margin_db)),
            playback=self.speaker,
            recorder=self.recorder,
            ctx=self.ctx,
            utterances=self.utterances,
        )
        self.recognizing = Recognizing(self.ctx, self.utterances, self.turns)  # type: ignore[arg-type]
        self.keypad = Keypad(
            transport, self.turns, barge_in=self._key_barge_in, now_s=self.transcript.now_s, pause_s=d.dtmf_pause_s  # type: ignore[arg-type]
        )
        self.thinker = Thinker(brain, self.ctx)
        self.conversation_done = False

    async def run(self) -> None:
        self.transcript.start()
        await self.transcript.save()
        stages = [
            asyncio.create_task(self.listener.run(), name="listen"),
            asyncio.create_task(self.recognizing.run(), name="recognize"),
            asyncio.create_task(self.keypad.run(), name="keypad"),
        ]
        for task in stages:
            task.add_done_callback(self._stage_died)
        try:
            await self._say(await self.brain.greet(self.ctx), None)
            await self._conversation()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session_failed")
            self.ctx.status = "failed"
        finally:
            self.keypad.close()
            for task in stages:
                task.cancel()
            await asyncio.gather(*stages, return_exceptions=True)
            await self.recognizer.close()
            await self.transcript.store(self.transport, conversation_done=self.conversation_done)

    def _stage_died(self, task: asyncio.Task[None]) -> None:
        """A stage that dies must not leave the caller talking to nobody: log it and end the call."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("session_stage_failed", stage=task.get_name(), error=repr(task.exception()))
        self.ctx.status = "failed"
        self.turns.put_nowait(None)

    async def _conversation(self) -> None:
        reprompts = 0
        while not self.conversation_done:
            turn = await self.recognizing.next_turn(
                self.settings.dialog.no_input_reprompt_s, lambda: self.listener.in_speech or self.keypad.typing
            )
            if turn == "silence":
                reprompts += 1
                if reprompts > self.settings.dialog.no_input_max:
                    self.ctx.outcome = "no_input"
                    await self._say(await self.brain.reprompt(self.ctx, reprompts), None)
                    await self._hangup()
                    return
                await self._say(await self.brain.reprompt(self.ctx, reprompts), None)
                continue
            if turn is None:  # the caller hung up
                return
            reprompts = 0
            if isinstance(turn, SttFailed):
                await self._say(await self.brain.apologise(self.ctx), None, recovering=True)
                continue
            assert isinstance(turn, CallerTurn | KeyedTurn)
            self.transcript.add(turn.as_record())
            await self.transcript.save()
            await self._reply_to(turn)

    async def _reply_to(self, turn: CallerTurn | KeyedTurn) -> None:
        """Think and speak as one: the reply's text is awaited by the speaker, so a reply not started
        `[llm] call_filler_after_s` after the caller stopped — a slow model, a slow task — opens with the
        cached filler. Thinking is shielded: a caller talking over the filler does not undo a booking."""
        thinking = asyncio.create_task(self.thinker.think(turn), name="think")
        thinking.add_done_callback(self._expect_digits)

        async def deltas() -> AsyncIterator[str]:
            reply = await asyncio.shield(thinking)
            async for delta in reply.deltas:
                yield delta

        filler = (self.brain.filler(self.ctx), turn.ended_at + self.settings.llm.call_filler_after_s)
        await self._say(Reply(deltas()), turn, filler=filler, thinking=thinking)

    async def _say(
        self,
        reply: Reply,
        turn: CallerTurn | KeyedTurn | None,
        *,
        recovering: bool = False,
        filler: tuple[str, float] | None = None,
        thinking: asyncio.Task[Reply] | None = None,
    ) -> None:
        """Speak `reply`, then do what it says (end the call, transfer). With `thinking`, the reply's action
        is the thought-out reply's, known once its text has been spoken."""
        try:
            if not await self.speaker.say(reply.deltas, turn, filler):
                return  # barge-in: the caller talked over us; listen for what they say
            if thinking is not None:
                reply = thinking.result()
        except Exception as exc:
            # TTS or the reply's text stream failed. Never leave the caller in silence: apologise (the
            # apology is pre-synthesized, so it plays even when TTS is down) and hand over to a human.
            log.error("speak_failed", error=repr(exc))
            if recovering:
                raise
            await self._say(await self.brain.apologise(self.ctx), None, recovering=True)
            return
        await self.transcript.save()
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

    def _expect_digits(self, thinking: asyncio.Task[Reply]) -> None:
        """As soon as a reply is thought out, the keypad knows whether it asks for digits (a key typed
        while the question is still being said belongs to it)."""
        if not thinking.cancelled() and thinking.exception() is None:
            self.keypad.slot = thinking.result().digits_slot

    def _key_barge_in(self) -> None:
        """A key press stops our reply as the caller's voice does (dialog/keypad.py)."""
        flushed_ms = self.speaker.interrupt()
        if flushed_ms is not None:
            log.info("barge_in", flushed_ms=flushed_ms, by="keypad")

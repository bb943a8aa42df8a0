"""Recognizing: utterances → STT final → caller turns, in the order they were spoken.

    Utterance(audio, attempt) ─► attempt.final() ─► CallerTurn("what are your hours", words, …)
                                        └─ raises ─► SttFailed          (the session apologises)
                                        └─ ""     ─► nothing            (a cough, a breath)

Its own task, so a slow recognition never stalls the listening loop (barge-in, the recording). The
conversation takes the turns with `next_turn()`, which also keeps the no-input clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

import structlog

from sentiric_pbx.audio.frames import duration_s
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.dialog.listening import Utterance
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.dialog.types import CallerTurn, SttFailed
from sentiric_pbx.engines.priority import waiting_since
from sentiric_pbx.logging import caller_content

log = structlog.get_logger("sentiric_pbx.session")


class Recognizing:
    """`Utterance`s in (None: the caller hung up), `CallerTurn | SttFailed` out on `turns` (then None)."""

    def __init__(
        self,
        ctx: CallContext,
        utterances: asyncio.Queue[Utterance | None],
        turns: asyncio.Queue[CallerTurn | SttFailed | None],
    ) -> None:
        self.ctx = ctx
        self.utterances = utterances
        self.turns = turns
        self.busy = False
        """A recognition is running (the no-input timer waits)."""

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self.utterances.get()
            if item is None:
                self.turns.put_nowait(None)
                return
            started = loop.time()
            self.busy = True
            try:
                with waiting_since(item.ended_at):  # Whisper serves the caller who stopped talking first
                    result = await item.attempt.final(item.turn.audio)
            except Exception as exc:
                log.error("stt_failed", error=repr(exc))
                self.turns.put_nowait(SttFailed(repr(exc)))
                continue
            finally:
                self.busy = False
            # With the preview, most of the STT ran during the end-of-turn silence: this is what is left.
            timed(self.ctx, "stt_ms", (loop.time() - started) * 1000)
            text = result.text.strip()
            log.info("caller_said", **caller_content(text=text), audio_s=round(duration_s(item.turn.audio), 2))
            if not text:
                continue
            words: list[dict[str, float | str]] = [
                {"word": w.word, "start": w.start_s, "end": w.end_s} for w in result.words
            ]
            utterance = item.turn
            self.turns.put_nowait(
                CallerTurn(text, words, utterance.started_ms / 1000, utterance.last_voiced_ms / 1000, item.ended_at)
            )

    async def next_turn(
        self, no_input_s: float, caller_talking: Callable[[], bool]
    ) -> CallerTurn | SttFailed | Literal["silence"] | None:
        """The caller's next turn, or "silence" after `no_input_s` of real silence (None: they hung up).

        The clock restarts whenever the caller speaks or a recognition is pending: a slow STT on a
        loaded host must not make us ask "are you still there?" of someone who just answered.
        """
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            try:
                async with asyncio.timeout(0.25):
                    return await self.turns.get()
            except TimeoutError:
                if caller_talking() or self.busy or not self.utterances.empty() or not self.turns.empty():
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= no_input_s:
                    return "silence"

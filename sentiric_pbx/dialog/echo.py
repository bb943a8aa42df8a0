"""The echo agent: plays each caller turn back after the caller stops talking.

It is the first agent and stays as the admin's line test: if a caller hears themselves, the whole
media path works (AGI registration, AudioSocket framing, resampling both ways, the endpointer and
paced playout), with no model involved.
"""

from __future__ import annotations

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.audio.frames import duration_s
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted, TurnEnded
from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.config import VadConfig

log = structlog.get_logger("sentiric_pbx.echo")


class EchoAgent:
    def __init__(self, vad: VadConfig) -> None:
        self.vad = vad

    async def __call__(self, transport: CallTransport) -> None:
        endpointer = Endpointer(self.vad)
        turns = 0
        async for frame in transport.frames():
            for event in endpointer.process(frame):
                if isinstance(event, SpeechStarted):
                    log.debug("speech_started", at_ms=event.at_ms)
                elif isinstance(event, TurnEnded):
                    turns += 1
                    metrics.TURNS_TOTAL.inc()
                    log.info(
                        "turn_ended",
                        turn=turns,
                        audio_s=round(duration_s(event.audio), 3),
                        started_ms=event.started_ms,
                        last_voiced_ms=event.last_voiced_ms,
                        truncated=event.truncated,
                    )
                    transport.play(event.audio)
        log.info("echo_agent_done", turns=turns)

"""`CallIO`: the half of a `CallTransport` that is the same on every edge.

Why it exists: AudioSocket, ARI's RTP, FreeSWITCH's mod_audio_stream, Twilio Media Streams and the
browser phone differ only at the wire — how bytes arrive, how a frame is encoded, how the call is
hung up. What the agent sees of them was written five times: a bounded queue of 640-byte 16 kHz
frames (dropping, and counting, what an agent too slow to read cannot take), a queue of call events,
`end()` that wakes both exactly once, and playout through `PacedOutput` + `PlayoutClock`. Five copies
drift (one `end()` could not wake a reader whose queue was full); one copy cannot.

A subclass calls `super().__init__(info)` first, then builds its wire side and sets `clock` and
`_out` (the `PacedOutput` feeding that clock) before the call starts. It cuts inbound audio into
frames and hands each to `deliver`, passes DTMF to `on_event`, calls `end(Hangup(...))` once the call
is over, and implements `hangup` and `transfer`. Per-transport extras at the end of a call go in
`_on_end`; a wire with its own far-end buffer (Twilio's marks, FreeSWITCH's files) overrides `play`,
`flush`, `wait_played` or `queued_ms`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from sentiric_pbx.audio.frames import FRAME_MS, SILENCE_FRAME
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.call.transport import CallControl, CallEvent, CallInfo, Hangup

log = structlog.get_logger("sentiric_pbx.edge")


INBOUND_QUEUE_FRAMES = 1500
"""30 s of 20 ms frames waiting for the agent; an agent that falls this far behind is broken."""
FRAME_S = FRAME_MS / 1000
SILENCE_AFTER_S = 0.1
"""No inbound frame for this long past the stream's position means the caller is silent, not late: the
gap is filled with silent frames. Longer than any jitter of a healthy loop (Asterisk's frames come
20.0 ± 0.4 ms apart), far shorter than the shortest end-of-turn silence, which it does not delay: the
filled frames cover the whole gap at once."""


class CallIO:
    """Inbound frames, call events, the end of the call and default paced playout for one call."""

    clock: PlayoutClock
    """Set by the subclass: ticks wire frames out, one per period."""
    _out: PacedOutput
    """Set by the subclass: 16 kHz PCM → wire frames on `clock`."""

    def __init__(self, info: CallInfo, inbound_frames: int = INBOUND_QUEUE_FRAMES) -> None:
        self.info = info
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue(inbound_frames)
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.ended: Hangup | None = None
        """The first `end()`: how the call really ended. A 0x00 or BYE we sent makes the peer close its side,
        and whatever the wire sees after that (a close, a reset) is the echo of our hang-up, not the cause."""
        self.frames_in = 0
        """Counted by the subclass in its wire's unit (a packet, a message, a frame)."""
        self.dropped_inbound = 0
        """640-byte frames dropped because the agent's queue was full."""
        self.silence_frames = 0
        """Silent frames the stream gained because the caller sent nothing (`frames()`)."""
        self.unplayed_at_end_ms = 0
        """Our audio still queued when the call ended: the caller never heard it (hung up mid-reply)."""

    # -- fed by the wire side ----------------------------------------------------------------
    def deliver(self, pcm: bytes) -> None:
        """Queue one 640-byte 16 kHz frame for the agent; if it has fallen 30 s behind, drop and count it."""
        try:
            self._inbound.put_nowait(pcm)
        except asyncio.QueueFull:
            self.dropped_inbound += 1

    def on_event(self, event: CallEvent) -> None:
        self._events.put_nowait(event)

    @property
    def closed(self) -> bool:
        """The call is over (`end()` has run): derived from `ended`, so the two can never disagree."""
        return self.ended is not None

    def end(self, event: Hangup) -> None:
        """The call is over: stop playout and wake the agent's frame iterator and event wait, once."""
        if self.closed:
            return
        self.ended = event
        self.unplayed_at_end_ms = self.queued_ms
        self.clock.flush()
        self._on_end()
        self._events.put_nowait(event)
        try:
            self._inbound.put_nowait(None)
        except asyncio.QueueFull:  # the end must reach the reader: it matters more than the oldest frame
            self._inbound.get_nowait()
            self._inbound.put_nowait(None)

    def _on_end(self) -> None:
        """Per-transport extras of `end`, after playout stopped and before the agent is woken."""

    # -- CallTransport -----------------------------------------------------------------------
    async def frames(self) -> AsyncIterator[bytes]:
        """The caller's audio as an unbroken 20 ms stream on the call's clock: silence is time, not frames.

        Asterisk sends audio only while the other side produces it (a Local channel in Wait(), a phone
        with silence suppression or DTX, a two-party bridge: fixtures fact 8). A caller who stops talking
        may simply stop sending, and everything downstream — the end of the turn, the no-input timer,
        barge-in, the recording, the transcript's times — counts 20 ms frames. So when no frame has
        arrived `SILENCE_AFTER_S` past the stream's position, the missing time is yielded as silent
        frames, and from then on one per 20 ms until audio comes back. The stream's position tracks the
        wall clock (never behind it by more than that grace, never ahead by more than a burst of late
        frames); real frames are never dropped or reordered.
        """
        loop = asyncio.get_running_loop()
        covered = loop.time()  # the loop time up to which the yielded frames account for the call
        grace = SILENCE_AFTER_S
        while True:
            try:
                pcm = self._inbound.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout_at(covered + grace):
                        pcm = await self._inbound.get()
                except TimeoutError:
                    gap = int((loop.time() - covered) / FRAME_S)
                    for _ in range(max(1, gap)):
                        covered += FRAME_S
                        self.silence_frames += 1
                        yield SILENCE_FRAME
                    grace = FRAME_S  # in a silence: keep the stream moving frame by frame
                    continue
            if pcm is None:
                return
            covered = max(covered + FRAME_S, loop.time() - FRAME_S)
            grace = SILENCE_AFTER_S
            yield pcm

    async def next_event(self) -> CallEvent:
        return await self._events.get()

    def play(self, pcm: bytes, final: bool = True) -> None:
        if not self.closed:
            self._out.play(pcm, final)

    def flush(self) -> None:
        self._out.flush()

    async def wait_played(self) -> None:
        await self.clock.wait_idle()

    @property
    def queued_ms(self) -> int:
        """Audio queued for playout and not yet sent (what a barge-in flush would drop)."""
        return self._out.queued_ms


class ControlledCallIO(CallIO):
    """A transport whose call is hung up and transferred by a control plane (ARI, FreeSWITCH's Event Socket), not
    by its media socket.

    The subclass sets `control` before the call starts.
    """

    control: CallControl

    async def hangup(self) -> None:
        if self.closed:
            return
        await self.control.hangup()
        self.end(Hangup("agent", "agent_hangup"))

    async def transfer(self, target: str) -> None:
        if self.closed:
            return
        await self.control.transfer(target)
        self.end(Hangup("agent", "transferred"))


__all__ = ["INBOUND_QUEUE_FRAMES", "CallIO", "ControlledCallIO"]

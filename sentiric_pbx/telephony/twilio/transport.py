"""One Twilio Media Stream as a `CallTransport`: μ-law 8 kHz JSON frames ↔ 16 kHz 20 ms PCM.

Outbound audio goes through the same `PacedOutput` + `PlayoutClock` as every transport, one `media`
message per 20 ms tick, so Twilio's playout buffer holds only network jitter and a barge-in `clear`
has almost nothing left to discard. When nothing is queued we send nothing (Twilio plays silence by
itself; 50 silent messages a second would be wasted bandwidth), but the clock keeps its rhythm.

After each sentence (`play(..., final=True)`) a `mark` follows its last frame. Twilio echoes a mark
once the audio before it has played on the call (or at once when a `clear` dropped it), so
`wait_played` means "the caller heard it", not merely "we sent it" — which is what lets the session
record an agent turn as complete before it hangs up or transfers. `queued_ms` counts our own queue
only: with pacing, what is sent is being played.

Nothing here does I/O: messages go into `outbox`, which the connection's writer task sends in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.transport import CallInfo
from sentiric_pbx.config import TwilioConfig
from sentiric_pbx.telephony.edge import CallIO
from sentiric_pbx.telephony.twilio.protocol import (
    MULAW_RATE,
    ProtocolError,
    clear_message,
    mark_message,
    media_message,
)

log = structlog.get_logger("sentiric_pbx.twilio")


class TwilioTransport(CallIO):
    """`CallTransport` over one Media Stream; `end_stream` closes the WebSocket (hangup and transfer)."""

    def __init__(
        self,
        info: CallInfo,
        stream_sid: str,
        cfg: TwilioConfig,
        end_stream: Callable[[str, str | None], Awaitable[None]],
    ) -> None:
        super().__init__(info)
        self.stream_sid = stream_sid
        self.cfg = cfg
        self._end_stream = end_stream
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self._in_rs = StreamResampler(MULAW_RATE, 16000)
        self._in_frames = Reframer(FRAME_BYTES)
        wire_frame = frame_bytes(MULAW_RATE)
        self._silence = ulaw_encode(bytes(wire_frame))
        self.clock = PlayoutClock(self._send_frame, self._silence)
        self._out = PacedOutput(self.clock, MULAW_RATE, wire_frame, ulaw_encode)
        # Marks: `_queued` and `_sent` count audio frames since the call began (flushed ones leave
        # `_queued`), so a mark placed "after frame N" goes out right after the N-th frame is sent.
        self._queued = 0
        self._sent = 0
        self._marks_to_send: deque[tuple[int, str]] = deque()
        self._marks_out: set[str] = set()
        self._all_marks_back = asyncio.Event()
        self._all_marks_back.set()
        self._mark_names = itertools.count(1)
        self.marks_played = 0
        self.clears_sent = 0
        self.end_requested: str | None = None

    # -- wire side ---------------------------------------------------------------------------
    def _push(self, message: str) -> None:
        if self.outbox.qsize() >= self.cfg.send_queue_frames:
            raise ProtocolError("peer_not_reading", f"{self.outbox.qsize()} messages unsent; Twilio stopped reading")
        self.outbox.put_nowait(message)

    def _send_frame(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("Media Stream closed")
        if frame is not self._silence:
            self._push(media_message(self.stream_sid, frame))
            self._sent += 1
        while self._marks_to_send and self._marks_to_send[0][0] <= self._sent:
            name = self._marks_to_send.popleft()[1]
            self._marks_out.add(name)
            self._all_marks_back.clear()
            self._push(mark_message(self.stream_sid, name))

    def on_media(self, mulaw: bytes) -> None:
        if self.closed:
            return
        self.frames_in += 1
        for pcm in self._in_frames.push(self._in_rs.process(ulaw_decode(mulaw))):
            self.deliver(pcm)

    def on_mark(self, name: str) -> None:
        """Twilio played (or a `clear` dropped) everything before our mark `name`."""
        if name not in self._marks_out:
            log.debug("twilio_unknown_mark", name=name[:40])
            return
        self._marks_out.discard(name)
        self.marks_played += 1
        if not self._marks_out:
            self._all_marks_back.set()

    def _on_end(self) -> None:
        """The stream is over: no mark will come back, so nothing may wait for one."""
        self._all_marks_back.set()

    # -- CallTransport: marks and `clear` on top of CallIO's playout ---------------------------
    def play(self, pcm: bytes, final: bool = True) -> None:
        if self.closed:
            return
        before = self.clock.queued
        self._out.play(pcm, final)
        self._queued += self.clock.queued - before
        if final:
            self._marks_to_send.append((self._queued, f"{self.info.call_id[-8:]}-{next(self._mark_names)}"))

    def flush(self) -> None:
        """Barge-in: drop our queue and have Twilio drop its buffer (`clear`); it echoes pending marks."""
        self._out.flush()
        self._queued = self._sent
        self._marks_to_send.clear()
        if not self.closed:
            with contextlib.suppress(ProtocolError):  # a peer that stopped reading ends at the next tick
                self._push(clear_message(self.stream_sid))
                self.clears_sent += 1

    async def wait_played(self) -> None:
        """Until everything queued is sent and Twilio has echoed its marks (at most `mark_timeout_s` more)."""
        await self.clock.wait_idle()
        if self.closed or self._all_marks_back.is_set():
            return
        try:
            async with asyncio.timeout(self.cfg.mark_timeout_s):
                await self._all_marks_back.wait()
        except TimeoutError:
            log.warning("twilio_mark_timeout", waited_s=self.cfg.mark_timeout_s, marks_pending=len(self._marks_out))

    async def hangup(self) -> None:
        """Close the stream: `<Connect>` ends and the TwiML's `<Redirect>` asks us what next (`<Hangup/>`)."""
        if self.closed:
            return
        self.end_requested = "agent_hangup"
        await self._end_stream("agent_hangup", None)

    async def transfer(self, target: str) -> None:
        """Close the stream with a transfer target: the `<Redirect>` after `<Connect>` is answered with `<Dial>`."""
        if self.closed:
            return
        self.end_requested = "transferred"
        await self._end_stream("transferred", target)

"""The playout clock: exactly one 20 ms frame per tick, on a monotonic clock, for as long as the call is up.

Why a clock and not "write when we have audio": Asterisk's `AudioSocket()` hangs up after 2 s without
audio from us, and chan_audiosocket can stall a channel while it polls for our next header (see
`shared/fixtures/asterisk/README.md`). So we send silence whenever nothing is queued.

Why the deadline is clamped: if the event loop was held up (a GC pause, a burst of new calls), the
naive loop sends every missed frame back to back to "catch up". The far end's jitter buffer then
overflows and drops them, which is worse than the gap. When we fall a whole frame behind we re-anchor
the deadline to now and go on at 50 frames/s; the lateness is counted, not hidden.

`flush()` (barge-in) empties the queue synchronously, so the next tick, at most 20 ms later, is
already silence.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sentiric_pbx import metrics
from sentiric_pbx.audio.frames import FRAME_MS, Reframer
from sentiric_pbx.audio.resample import StreamResampler, resample


@dataclass(slots=True)
class PlayoutStats:
    frames_sent: int = 0
    audio_frames_sent: int = 0
    silence_frames_sent: int = 0
    late_ticks: int = 0
    """Ticks that found us a whole frame or more behind; the clock re-anchored instead of bursting."""
    underruns: int = 0
    """Ticks with nothing queued while a talkspurt promised more audio (the producer was too slow)."""
    flushed_frames: int = 0


class PlayoutClock:
    """Paces wire-ready frames out through `send`, one per `frame_ms`.

    `send` is synchronous (a non-blocking socket write); it may raise to stop the clock, e.g.
    when the peer has stopped reading.
    """

    def __init__(self, send: Callable[[bytes], None], silence: bytes, frame_ms: int = FRAME_MS) -> None:
        self._send = send
        self.silence = silence
        self.period = frame_ms / 1000.0
        self._queue: deque[bytes] = deque()
        self._more_coming = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = PlayoutStats()

    def enqueue(self, frames: Iterable[bytes], more_coming: bool = False) -> None:
        """Queue frames for playout. `more_coming=True` while a reply is still being produced."""
        self._queue.extend(frames)
        self._more_coming = more_coming
        # Idle means "nothing queued and nothing promised". A talkspurt may well end with an empty
        # last chunk (`play(b"", final=True)` after the queue already drained): that must wake
        # wait_idle() just as end_talkspurt() would, not leave it waiting for a frame that never comes.
        if self._queue or more_coming:
            self._idle.clear()
        else:
            self._idle.set()

    @property
    def more_coming(self) -> bool:
        """A reply is still being produced (its next chunk has not been queued yet)."""
        return self._more_coming

    def end_talkspurt(self) -> None:
        """The producer has nothing more for this reply; an empty queue is no longer an underrun."""
        self._more_coming = False
        if not self._queue:
            self._idle.set()

    def flush(self) -> int:
        """Drop everything queued (barge-in). Returns how many frames were dropped."""
        dropped = len(self._queue)
        self._queue.clear()
        self._more_coming = False
        self.stats.flushed_frames += dropped
        self._idle.set()
        return dropped

    @property
    def queued(self) -> int:
        return len(self._queue)

    def requeue(self, convert: Callable[[list[bytes]], list[bytes]]) -> None:
        """Replace what is queued by `convert(queued)`, in place: the same audio in another wire format."""
        self._queue = deque(convert(list(self._queue)))
        if not self._queue and not self._more_coming:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until everything queued has gone out on the wire."""
        await self._idle.wait()

    def _tick(self) -> None:
        if self._queue:
            frame = self._queue.popleft()
            self.stats.audio_frames_sent += 1
            if not self._queue and not self._more_coming:
                self._idle.set()
        else:
            frame = self.silence
            self.stats.silence_frames_sent += 1
            if self._more_coming:
                self.stats.underruns += 1
                metrics.PLAYOUT_UNDERRUNS.inc()
        self.stats.frames_sent += 1
        self._send(frame)

    async def run(self) -> None:
        """Tick until cancelled (the call's end) or until `send` raises."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        lateness = metrics.PLAYOUT_LATENESS_MS.observe
        while True:
            lateness(max(0.0, loop.time() - deadline) * 1000)
            self._tick()
            deadline += self.period
            now = loop.time()
            if now - deadline >= self.period:
                self.stats.late_ticks += 1
                deadline = now
            await asyncio.sleep(max(0.0, deadline - now))


class PacedOutput:
    """A transport's outbound half: 16 kHz PCM → the wire's rate → whole wire frames → the clock.

    Every transport (AudioSocket, RTP) does exactly this; only the frame `encode` differs (an
    AudioSocket header, a codec). `final=True` ends a reply: the resampler's tail is flushed and the
    last frame padded, so the next reply starts from a clean filter state.
    """

    def __init__(self, clock: PlayoutClock, out_rate: int, wire_frame_bytes: int, encode: Callable[[bytes], bytes]):
        self.clock = clock
        self.encode = encode
        self._resampler = StreamResampler(16000, out_rate)
        self._frames = Reframer(wire_frame_bytes)

    def play(self, pcm: bytes, final: bool = True) -> None:
        wire = self._frames.push(self._resampler.process(pcm, last=final))
        if final:
            wire += self._frames.flush()
            self._resampler.reset()
        encode = self.encode
        self.clock.enqueue((encode(f) for f in wire), more_coming=not final)

    def flush(self) -> None:
        """Barge-in: drop what is queued and what the resampler and reframer still hold."""
        self.clock.flush()
        self._frames.clear()
        self._resampler.reset()

    def retarget(
        self, out_rate: int, wire_frame_bytes: int, encode: Callable[[bytes], bytes], decode: Callable[[bytes], bytes]
    ) -> None:
        """The wire's rate changed mid-call: re-frame what is queued at the new rate instead of dropping it.

        AudioSocket learns the caller's rate from Asterisk's first audio frame, which `Dial(AudioSocket/…
        /c(slin16))` sends ~15 ms after the UUID — after a cached greeting was queued at the default rate.
        `decode` turns one queued wire frame back into PCM at the old rate.
        """
        old_rate = self._resampler.out_rate
        tail = self._frames.take()  # a reply still being produced leaves part of a frame here
        self._resampler = StreamResampler(16000, out_rate)
        self._frames = Reframer(wire_frame_bytes)
        self.encode = encode

        def convert(queued: list[bytes]) -> list[bytes]:
            pcm = b"".join(decode(f) for f in queued) + tail
            wire = self._frames.push(resample(pcm, old_rate, out_rate)) if pcm else []
            if self.clock.more_coming:
                return [encode(f) for f in wire]  # the rest of the last frame comes with the next chunk
            return [encode(f) for f in wire + self._frames.flush()]

        self.clock.requeue(convert)

    @property
    def queued_ms(self) -> int:
        return self.clock.queued * FRAME_MS

"""The playout clock on a real event loop: one frame per 20 ms tick, silence in between, no bursts.

Every assertion is about counts, order and relations between send times (with generous margins),
never about how late a single tick was, so a loaded 2-core CI box does not make these flaky.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable

import pytest

from sentiric_pbx.audio.playout import PlayoutClock

PERIOD = 0.020
SILENCE = b"\xff" * 160  # one 20 ms μ-law frame of silence, as on an 8 kHz AudioSocket call


def _frame(n: int) -> bytes:
    return n.to_bytes(2, "big") * 80  # distinct, same size as the silence


class Recorder:
    """The clock's `send`: keeps (loop.time(), frame) for every frame put on the wire."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self._loop = asyncio.get_running_loop()
        self._ticked = asyncio.Event()

    def __call__(self, frame: bytes) -> None:
        self.sent.append((self._loop.time(), frame))
        self._ticked.set()

    async def until(self, condition: Callable[[], bool], within: float = 3.0) -> None:
        """Wait (tick by tick) until `condition` holds; every state change here comes with a send."""
        async with asyncio.timeout(within):
            while not condition():
                self._ticked.clear()
                await self._ticked.wait()

    @property
    def frames(self) -> list[bytes]:
        return [f for _, f in self.sent]

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.sent]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clock(recorder: Recorder) -> PlayoutClock:
    return PlayoutClock(recorder, SILENCE)


@contextlib.asynccontextmanager
async def running(clock: PlayoutClock) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(clock.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- pacing -----------------------------------------------------------------------------------------
async def test_one_frame_per_tick_on_average(clock: PlayoutClock, recorder: Recorder) -> None:
    async with running(clock):
        await asyncio.sleep(1.0)
    times = recorder.times
    assert len(times) >= 25, "the clock must have been running for most of the second"
    span = times[-1] - times[0]
    expected = span / PERIOD + 1
    assert abs(len(times) - expected) <= 2, f"{len(times)} frames over {span:.3f} s"
    assert clock.stats.frames_sent == len(times)


async def test_silence_goes_out_when_nothing_is_queued(clock: PlayoutClock, recorder: Recorder) -> None:
    async with running(clock):
        await recorder.until(lambda: len(recorder.sent) >= 5)
    assert set(recorder.frames) == {SILENCE}
    assert clock.stats.silence_frames_sent == clock.stats.frames_sent == len(recorder.sent)
    assert clock.stats.audio_frames_sent == 0
    assert clock.stats.underruns == 0, "silence between replies is not an underrun"


async def test_queued_frames_go_out_in_order_then_silence(clock: PlayoutClock, recorder: Recorder) -> None:
    clock.enqueue(_frame(i) for i in range(6))
    async with running(clock):
        await recorder.until(lambda: clock.queued == 0)
        clock.enqueue(_frame(i) for i in range(6, 10))
        await recorder.until(lambda: len(recorder.sent) >= 14)
    frames = recorder.frames
    audio = [f for f in frames if f != SILENCE]
    assert audio == [_frame(i) for i in range(10)]
    # The first batch goes out back to back from the first tick; the second follows it.
    assert frames[:6] == [_frame(i) for i in range(6)]
    assert frames[-1] == SILENCE
    assert clock.stats.audio_frames_sent == 10
    # One frame per tick even when audio is queued: the 6 first frames took 5 periods, not 0.
    assert recorder.times[5] - recorder.times[0] >= 5 * PERIOD * 0.5


async def test_a_stalled_loop_re_anchors_instead_of_bursting(clock: PlayoutClock, recorder: Recorder) -> None:
    loop = asyncio.get_running_loop()
    stall: dict[str, float] = {}

    def block_the_loop() -> None:
        stall["start"] = loop.time()
        time.sleep(0.1)  # five ticks' worth
        stall["end"] = loop.time()

    async with running(clock):
        await recorder.until(lambda: len(recorder.sent) >= 10)
        loop.call_soon(block_the_loop)
        await recorder.until(lambda: "end" in stall)
        await recorder.until(lambda: recorder.times[-1] >= stall["end"] + 0.3)

    after = [t for t in recorder.times if t >= stall["end"]]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    # A naive clock sends the five missed frames back to back; this one sends at most one extra.
    close = [g for g in gaps[:10] if g < PERIOD / 2]
    assert len(close) <= 1, f"gaps after the stall (ms): {[round(g * 1000, 1) for g in gaps[:10]]}"
    assert len([t for t in after if t < stall["end"] + PERIOD / 2]) <= 2
    assert clock.stats.late_ticks >= 1
    # Nothing was sent while the loop was blocked, and the missed frames were not made up for later:
    # 300 ms after the stall holds about 15 frames, not 20.
    assert not [t for t in recorder.times if stall["start"] < t < stall["end"]]
    window = [t for t in after if t < stall["end"] + 0.3]
    assert len(window) <= 0.3 / PERIOD + 3


# --- barge-in -------------------------------------------------------------------------------------
async def test_flush_empties_the_queue_and_the_next_frame_is_silence(clock: PlayoutClock, recorder: Recorder) -> None:
    clock.enqueue((_frame(i) for i in range(100)), more_coming=True)
    async with running(clock):
        await recorder.until(lambda: clock.stats.audio_frames_sent >= 3)
        queued = clock.queued
        sent_before = len(recorder.sent)
        flushed_at = asyncio.get_running_loop().time()
        dropped = clock.flush()
        assert dropped == queued > 0
        assert clock.queued == 0
        await recorder.until(lambda: len(recorder.sent) >= sent_before + 5)
    after_flush = recorder.frames[sent_before:]
    assert after_flush[0] == SILENCE, "the very next tick after flush() is already silence"
    # ...and that tick is the next one on the clock, not some later point (generous bound: 5 ticks).
    assert recorder.times[sent_before] - flushed_at < 5 * PERIOD
    assert set(after_flush) == {SILENCE}
    assert clock.stats.flushed_frames == dropped
    assert clock.stats.audio_frames_sent == sent_before - recorder.frames[:sent_before].count(SILENCE)
    assert clock.stats.underruns == 0, "after a flush the talkspurt is over: silence is not an underrun"


async def test_flush_of_an_empty_queue_drops_nothing(clock: PlayoutClock) -> None:
    assert clock.flush() == 0
    assert clock.stats.flushed_frames == 0


# --- underruns ------------------------------------------------------------------------------------
async def test_underruns_count_when_more_was_promised_and_the_queue_ran_dry(
    clock: PlayoutClock, recorder: Recorder
) -> None:
    clock.enqueue((_frame(i) for i in range(3)), more_coming=True)
    async with running(clock):
        await recorder.until(lambda: len(recorder.sent) >= 10)
        underruns = clock.stats.underruns
        # Every silent tick after the 3 frames, while more was promised, is an underrun.
        assert underruns == recorder.frames.count(SILENCE) >= 7
        clock.end_talkspurt()
        settled = clock.stats.underruns
        await recorder.until(lambda: len(recorder.sent) >= 16)
    assert clock.stats.underruns == settled, "after end_talkspurt() silence is expected, not an underrun"
    assert settled - underruns <= 1


async def test_no_underruns_when_the_reply_was_complete(clock: PlayoutClock, recorder: Recorder) -> None:
    clock.enqueue(_frame(i) for i in range(3))
    async with running(clock):
        await recorder.until(lambda: len(recorder.sent) >= 10)
    assert clock.stats.underruns == 0
    assert clock.stats.silence_frames_sent == len(recorder.sent) - 3


# --- wait_idle ------------------------------------------------------------------------------------
async def test_wait_idle_returns_once_the_queue_has_drained(clock: PlayoutClock, recorder: Recorder) -> None:
    await asyncio.wait_for(clock.wait_idle(), 1.0)  # nothing queued: idle right away
    clock.enqueue(_frame(i) for i in range(5))
    waiter = asyncio.create_task(clock.wait_idle())
    done, _ = await asyncio.wait([waiter], timeout=0.1)
    assert not done, "the clock is not running: nothing has gone out, so it is not idle"
    async with running(clock):
        await asyncio.wait_for(waiter, 3.0)
        # Idle means on the wire: all five frames were sent when wait_idle returned.
        assert [f for f in recorder.frames if f != SILENCE] == [_frame(i) for i in range(5)]
        assert clock.queued == 0


async def test_wait_idle_waits_for_the_end_of_the_talkspurt(clock: PlayoutClock, recorder: Recorder) -> None:
    clock.enqueue((_frame(i) for i in range(2)), more_coming=True)
    async with running(clock):
        waiter = asyncio.create_task(clock.wait_idle())
        await recorder.until(lambda: clock.stats.underruns >= 2)
        assert not waiter.done(), "the queue is empty but the reply is still being produced"
        clock.enqueue([_frame(2)], more_coming=True)
        await recorder.until(lambda: clock.stats.audio_frames_sent == 3)
        await asyncio.sleep(3 * PERIOD)
        assert not waiter.done()
        clock.end_talkspurt()
        await asyncio.wait_for(waiter, 1.0)


async def test_an_empty_last_chunk_ends_the_talkspurt(clock: PlayoutClock, recorder: Recorder) -> None:
    """A streamed reply whose final chunk produced no whole frame: play(b"", final=True)."""
    clock.enqueue((_frame(i) for i in range(2)), more_coming=True)
    async with running(clock):
        await recorder.until(lambda: clock.stats.underruns >= 1)
        clock.enqueue([], more_coming=False)
        await asyncio.wait_for(clock.wait_idle(), 1.0)
        underruns = clock.stats.underruns
        await recorder.until(lambda: len(recorder.sent) >= 10)
    assert clock.stats.underruns == underruns


async def test_a_promised_reply_with_no_frames_yet_is_not_idle(clock: PlayoutClock) -> None:
    """play(first_chunk, final=False) may yield no whole frame yet; the reply has still begun."""
    clock.enqueue([], more_coming=True)
    waiter = asyncio.create_task(clock.wait_idle())
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.end_talkspurt()
    await asyncio.wait_for(waiter, 1.0)


async def test_wait_idle_returns_after_flush(clock: PlayoutClock) -> None:
    clock.enqueue((_frame(i) for i in range(50)), more_coming=True)
    waiter = asyncio.create_task(clock.wait_idle())
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.flush()
    await asyncio.wait_for(waiter, 1.0)


# --- the wire going away --------------------------------------------------------------------------
async def test_a_send_that_raises_stops_the_clock() -> None:
    calls = 0

    def send(frame: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("peer gone")

    clock = PlayoutClock(send, SILENCE)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(clock.run(), 2.0)
    assert calls == 3


@pytest.mark.parametrize("more_coming", [False, True], ids=["whole-reply-queued", "reply-still-streaming"])
async def test_switching_the_wire_rate_re_frames_what_is_queued(more_coming: bool) -> None:
    """A greeting queued at 8 kHz before the caller's first frame said 16 kHz keeps every millisecond of it,
    now in 640-byte frames, with the same sound (it is not dropped, and not played at the wrong speed)."""
    import numpy as np

    from sentiric_pbx.audio.playout import PacedOutput

    clock = PlayoutClock(lambda _f: None, bytes(320))
    out = PacedOutput(clock, 8000, 320, lambda pcm: b"A" + pcm)
    t = np.arange(16000) / 16000  # one second of a 440 Hz tone at 16 kHz
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
    out.play(tone, final=not more_coming)
    assert clock.queued == 50 - (1 if more_coming else 0)  # a streaming reply keeps its last partial frame back

    out.retarget(16000, 640, lambda pcm: b"B" + pcm, lambda frame: frame[1:])
    queued = list(clock._queue)
    assert all(f[:1] == b"B" and len(f) == 641 for f in queued)
    assert abs(len(queued) - 50) <= 1
    assert clock.more_coming is more_coming
    pcm = np.frombuffer(b"".join(f[1:] for f in queued), dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(pcm[1000:9000]))
    assert abs(np.argmax(spectrum) * 16000 / 8000 - 440) < 5  # still 440 Hz: resampled, not reinterpreted
    out.play(b"", final=True)  # the reply's end still works on the new format
    assert all(f[:1] == b"B" for f in clock._queue)

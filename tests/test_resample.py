"""Streaming resampling (8 kHz <-> 16 kHz as on AudioSocket calls) and the Reframer that cuts frames."""

from __future__ import annotations

import numpy as np
import pytest

from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.resample import StreamResampler, resample


def _sine(freq: float, rate: int, seconds: float, amplitude: float = 12000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def _peak_hz(pcm: bytes, rate: int) -> float:
    x = _samples(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def _level_db(pcm: bytes, rate: int, freq: float) -> float:
    """Level of the component at `freq` relative to a full-scale sine, from the middle of the signal."""
    x = _samples(pcm)
    x = x[len(x) // 4 : 3 * len(x) // 4]
    window = np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x * window)) / (window.sum() / 2)
    bins = np.fft.rfftfreq(len(x), 1 / rate)
    i = int(np.argmin(np.abs(bins - freq)))
    return float(20 * np.log10(spectrum[max(0, i - 3) : i + 4].max() / 32768 + 1e-12))


def _stream(pcm: bytes, in_rate: int, out_rate: int, chunk_ms: int = 20) -> list[bytes]:
    """Feed `pcm` in `chunk_ms` pieces, the last one flagged, as a call would; one output per chunk."""
    rs = StreamResampler(in_rate, out_rate)
    step = frame_bytes(in_rate, chunk_ms)
    return [rs.process(pcm[i : i + step], last=i + step >= len(pcm)) for i in range(0, len(pcm), step)]


RATES = [pytest.param(8000, 16000, id="8k->16k"), pytest.param(16000, 8000, id="16k->8k")]


@pytest.mark.parametrize(("in_rate", "out_rate"), RATES)
@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_sine_keeps_its_frequency_and_level(in_rate: int, out_rate: int, freq: float) -> None:
    pcm = _sine(freq, in_rate, 1.0)
    for out in (resample(pcm, in_rate, out_rate), b"".join(_stream(pcm, in_rate, out_rate))):
        assert len(out) == len(pcm) * out_rate // in_rate
        assert _peak_hz(out, out_rate) == pytest.approx(freq, abs=2.0)
        # 12000/32768 full scale is -8.7 dB; the passband is flat well within a dB.
        assert _level_db(out, out_rate, freq) == pytest.approx(_level_db(pcm, in_rate, freq), abs=0.5)


def test_downsampling_rejects_what_would_alias() -> None:
    # 5 kHz cannot exist at 8 kHz; a naive decimator folds it to 3 kHz.
    out = b"".join(_stream(_sine(5000.0, 16000, 1.0), 16000, 8000))
    assert _level_db(out, 8000, 3000.0) < -80.0
    naive = np.frombuffer(_sine(5000.0, 16000, 1.0), dtype="<i2")[::2].tobytes()
    assert _level_db(naive, 8000, 3000.0) > -20.0  # the check above can tell the difference


def test_upsampling_leaves_no_image() -> None:
    # Zero-stuffing 1 kHz at 8 kHz up to 16 kHz leaves a mirror image at 7 kHz; the filter removes it.
    out = b"".join(_stream(_sine(1000.0, 8000, 1.0), 8000, 16000))
    assert _level_db(out, 16000, 7000.0) < -80.0
    assert _level_db(out, 16000, 1000.0) > -10.0


@pytest.mark.parametrize(("in_rate", "out_rate"), RATES)
def test_streaming_in_20ms_chunks_equals_one_shot(in_rate: int, out_rate: int) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(in_rate) / in_rate
    signal = 8000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1300 * t) + rng.normal(0, 300, t.size)
    pcm = signal.astype("<i2").tobytes()
    one_shot = _samples(resample(pcm, in_rate, out_rate))
    streamed = _samples(b"".join(_stream(pcm, in_rate, out_rate)))
    assert len(streamed) == len(one_shot)
    assert _aligned_similarity(streamed, one_shot) > 0.995
    # A shifted or garbled stream would be far off.
    assert _aligned_similarity(np.roll(streamed, 9), one_shot) < 0.9


def _aligned_similarity(a: np.ndarray, b: np.ndarray, max_shift: int = 3) -> float:
    """Correlation of a and b at the best shift within ±max_shift samples (edges ignored).

    The low-latency stream may sit a fraction of a sample off the one-shot alignment (16k→8k: ~2
    samples at 8 kHz, 0.25 ms); what must hold is that it is the same signal, filtered the same way.
    """
    core = slice(200, -200)
    return max(float(np.corrcoef(np.roll(a, s)[core], b[core])[0, 1]) for s in range(-max_shift, max_shift + 1))


def test_odd_chunk_sizes_join_without_clicks() -> None:
    pcm = _sine(440.0, 8000, 1.0)
    rs = StreamResampler(8000, 16000)
    rng = np.random.default_rng(3)
    pieces, pos = [], 0
    while pos < len(pcm):
        n = 2 * int(rng.integers(1, 200))
        pieces.append(rs.process(pcm[pos : pos + n], last=pos + n >= len(pcm)))
        pos += n
    out = _samples(b"".join(pieces))
    assert len(out) == 16000
    # A click is a jump between neighbouring samples; a clean 440 Hz sine at 16 kHz moves at most
    # 2*pi*440/16000 * 12000 ~ 2100 per sample.
    assert np.max(np.abs(np.diff(out[100:-100]))) < 2300
    assert _aligned_similarity(out, _samples(resample(pcm, 8000, 16000))) > 0.995


def test_same_rate_is_a_passthrough() -> None:
    pcm = _sine(440.0, 16000, 0.1)
    assert StreamResampler(16000, 16000).process(pcm) == pcm
    assert resample(pcm, 8000, 8000) == pcm


def test_reset_drops_what_the_filter_still_holds() -> None:
    loud = _sine(1000.0, 8000, 0.1)
    quiet = bytes(frame_bytes(8000) * 10)

    leaky = StreamResampler(8000, 16000)
    leaky.process(loud)
    tail = _samples(leaky.process(quiet, last=True))
    assert np.max(np.abs(tail)) > 1000, "without reset the buffered sine comes out after it"

    rs = StreamResampler(8000, 16000)
    rs.process(loud)
    rs.reset()
    out = _samples(rs.process(quiet, last=True))
    assert len(out) == 2 * (len(quiet) // 2), "a fresh start: every input sample accounted for"
    assert np.max(np.abs(out)) <= 1


def test_a_stream_can_restart_after_last_and_reset() -> None:
    """The outbound path flushes each reply with last=True, then reset()s for the next one."""
    rs = StreamResampler(16000, 8000)
    first = b"".join(rs.process(c, last=i == 9) for i, c in enumerate(_chunks(_sine(440.0, 16000, 0.2), 640)))
    rs.reset()
    second = b"".join(rs.process(c, last=i == 9) for i, c in enumerate(_chunks(_sine(440.0, 16000, 0.2), 640)))
    assert len(first) == len(second) == 3200
    assert np.max(np.abs(_samples(first) - _samples(second))) <= 4


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(("in_rate", "out_rate"), RATES)
def test_streaming_output_keeps_up_with_the_input(in_rate: int, out_rate: int) -> None:
    rs = StreamResampler(in_rate, out_rate)
    chunk = _sine(440.0, in_rate, 0.02)
    produced = 0
    worst_lag_ms = 0.0
    for i in range(1, 51):
        produced += len(rs.process(chunk)) // 2
        worst_lag_ms = max(worst_lag_ms, i * 20 - produced * 1000 / out_rate)
    assert worst_lag_ms <= 40.0


# --- Reframer ---------------------------------------------------------------------------------------
def test_reframer_cuts_exact_frames_and_keeps_the_remainder() -> None:
    rf = Reframer(FRAME_BYTES)
    stream = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert rf.push(stream[:100]) == []
    assert rf.pending == 100
    frames = rf.push(stream[100:1500])
    assert [len(f) for f in frames] == [FRAME_BYTES, FRAME_BYTES]
    assert b"".join(frames) == stream[:1280]
    assert rf.pending == 1500 - 1280
    frames = rf.push(stream[1500:1920])
    assert frames == [stream[1280:1920]]
    assert rf.pending == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reframer_output_is_the_input_in_order_for_any_chunking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stream = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    rf = Reframer(320)
    out: list[bytes] = []
    pos = 0
    while pos < len(stream):
        n = int(rng.integers(0, 900))
        out += rf.push(stream[pos : pos + n])
        pos += n
    assert all(len(f) == 320 for f in out)
    assert b"".join(out) == stream[: len(out) * 320]
    assert rf.pending == len(stream) % 320


def test_reframer_flush_pads_the_tail_with_silence() -> None:
    rf = Reframer(FRAME_BYTES)
    rf.push(b"\x01\x02" * 150 + b"\x03")
    assert rf.pending == 301
    (tail,) = rf.flush()
    assert len(tail) == FRAME_BYTES
    assert tail[:301] == b"\x01\x02" * 150 + b"\x03"
    assert tail[301:] == bytes(FRAME_BYTES - 301)
    assert rf.pending == 0
    assert rf.flush() == [], "nothing pending: nothing to flush"


def test_reframer_clear_forgets_the_remainder() -> None:
    rf = Reframer(FRAME_BYTES)
    rf.push(b"\x07" * 700)
    rf.clear()
    assert rf.pending == 0
    assert rf.push(b"\x09" * FRAME_BYTES) == [b"\x09" * FRAME_BYTES]


def test_resampled_call_audio_reframes_into_whole_16k_frames() -> None:
    """The inbound path: 8 kHz 20 ms payloads -> 16 kHz -> exact 640-byte frames, nothing lost."""
    pcm = _sine(440.0, 8000, 1.0)
    rs = StreamResampler(8000, 16000)
    rf = Reframer(FRAME_BYTES)
    frames: list[bytes] = []
    for i, chunk in enumerate(_chunks(pcm, frame_bytes(8000))):
        frames += rf.push(rs.process(chunk, last=i == 49))
    frames += rf.flush()
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert len(frames) == 50
    assert _aligned_similarity(_samples(b"".join(frames)), _samples(resample(pcm, 8000, 16000))) > 0.995

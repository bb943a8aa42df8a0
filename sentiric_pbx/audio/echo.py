"""How much of the caller's audio is our own voice coming back? A line-echo estimator.

The echo path. What we play leaves Asterisk as G.711 at 8 kHz; where the call meets a two-wire line
the far end's hybrid reflects part of it, and that reflection travels back to us inside the caller's
stream: band-limited below 4 kHz, μ-law quantised (twice), filtered by the hybrid (an impulse response
of a few ms; ITU-T G.168 Annex D has measured ones), attenuated by the echo return loss (6 dB on a bad
PSTN line, 20–30 dB on a good one, 0 dB for Asterisk's `Echo()`) and late by the line's echo delay
(≤ 128 ms). On top of that comes our own transport: the reference we are handed (the call recorder's
timeline) and the echo in the caller stream are 0–300 ms apart (network, Asterisk's 20 ms framing,
our playout queue), by an amount nobody tells us. So the delay is measured, not configured.

How, per 20 ms tick (16 kHz in, compared in the telephone band at 8 kHz):

* Both streams pass the same 3.4 kHz low-pass and are kept at 8 kHz: our reference for
  `max_delay_ms` + `window_ms`, the caller stream for `window_ms`. Above 4 kHz the echo has nothing.
* Every `estimate_every` frames while we talk, one question about the last `window_ms` of caller
  audio: *is it a linear function of our reference at some delay?* The delay comes from a normalised
  cross-correlation over every lag (three FFTs); the answer from the coherence at that lag: the share
  of the caller window's power that a linear filter of our reference explains (Welch, 32 ms segments).
  Coherence, not the correlation peak, because a hybrid spreads the echo over several ms: a G.168
  hybrid's echo correlates only 0.5–0.7 at its best single lag but is ≥ 0.8 coherent, while two
  unrelated voices correlate up to ~0.6 by chance and are < 0.7 coherent in 99 % of windows. The
  known delay is checked first (one coherence); the full search runs only when it does not explain
  the window.
* A new delay is trusted when two windows 200 ms apart (no audio in common) agree on it, or at once
  when the match is near perfect (a flat echo path: correlation ≥ 0.85, coherence ≥ 0.95). The echo
  gain per band is the caller/reference power ratio of the windows our echo explains.
* The delay is checked again (`EchoState.CHECKING`) when we talk after `recheck_after_ms` of silence
  (our transport's offset may have moved while we listened) and when another delay starts to explain
  the caller stream; a window at the known delay that nothing explains (the caller talking over us)
  settles it too.
* If our voice covered every lag searched and, twice, nothing came close to matching, the line carries
  no linear echo of us (`EchoState.NO_ECHO`); a later match still finds it.
* `residual()` splits the newest frame: band powers of the caller (32 ms, Hann) against our reference
  at the delay (the loudest of five alignments within ±8 ms, the spread of a G.168 hybrid around its
  correlation peak) times the band's echo gain plus `overestimate_db`. Power spectra, not waveform
  subtraction: a one-tap canceller would leave most of a dispersive echo behind.

Pure numpy, small per frame: two 63-tap low-passes (skipped for digital silence), six 256-point FFTs
for a residual, and every `estimate_every` frames a coherence (22 256-point FFTs) and, when the known
delay does not explain the window, a 5760-point correlation (bench/bargein.py measures it).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass

import numpy as np

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SILENCE_FRAME

BAND_RATE = 8000
"""The echo has been through 8 kHz G.711: we compare at 8 kHz."""
_DECIMATE = SAMPLE_RATE // BAND_RATE
_FRAME = BAND_RATE * FRAME_MS // 1000  # 160 samples at 8 kHz
_FULL_SCALE_POWER = 32768.0**2


def _lowpass(taps: int = 63, cutoff_hz: float = 3400.0) -> np.ndarray:
    """Windowed-sinc (Hamming) low-pass at 16 kHz: stopband from ~3.9 kHz, so decimating by 2 folds almost
    nothing back. Both streams pass through it, so its delay (taps // 2 samples) cancels out."""
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff_hz / SAMPLE_RATE * n) * np.hamming(taps)
    return h / h.sum()


_LOWPASS = _lowpass()

_SEGMENT = 256
"""Analysis segment: 32 ms at 8 kHz, Hann, 31.25 Hz bins; for the residual and the coherence alike."""
_HOP = _SEGMENT // 2
_HANN = np.hanning(_SEGMENT)
_BAND_EDGES_HZ = (150, 300, 450, 600, 800, 1000, 1250, 1500, 1800, 2100, 2450, 2800, 3400)
"""Bands for comparing power spectra: narrow where speech has its energy, none below 150 Hz (hum, DC)
or above 3.4 kHz (the echo has been through the telephone band)."""


def _band_matrix() -> np.ndarray:
    """Bins × bands, 1 where a bin of a 256-point spectrum belongs to a band: `power @ _BANDS` sums bands."""
    bands = np.zeros((_SEGMENT // 2 + 1, len(_BAND_EDGES_HZ) - 1))
    for band, (lo, hi) in enumerate(itertools.pairwise(_BAND_EDGES_HZ)):
        bands[round(lo * _SEGMENT / BAND_RATE) : round(hi * _SEGMENT / BAND_RATE), band] = 1.0
    return bands


_BANDS = _band_matrix()
_IN_BAND = _BANDS.sum(axis=1) > 0
_SMEAR = (-64, -32, 0, 32, 64)
"""Reference alignments tried around the delay, in 8 kHz samples (±8 ms in 4 ms steps): a G.168 hybrid puts
echo up to ~8 ms either side of its correlation peak, so at a word's onset the aligned 32 ms segment of
ours may not hold yet what the echo already carries. A 4 ms shift barely changes a 32 ms spectrum."""
_SAME_PATH = 24
"""Lags within 3 ms are one echo path: the correlation peak of a dispersive echo wanders between taps."""
_NOT_OURS = 0.5
"""Below this coherence a caller window is clearly not our echo (two unrelated voices: median 0.2, 90 % below
0.45); between it and `match_coherence` a window decides nothing."""
_QUIET_CALLER_POWER = _FULL_SCALE_POWER * 10 ** (-60.0 / 10)
"""A caller window quieter than −60 dBFS on average holds no echo worth finding."""


class EchoState(enum.Enum):
    UNKNOWN = "unknown"
    """Not enough of our voice played yet to say whether the line echoes it."""
    LOCKED = "locked"
    """Our echo was found and still shows at its delay: `residual()` applies."""
    CHECKING = "checking"
    """An echo delay is known but not yet seen again since we started talking after a silence, or another
    delay has begun to explain the caller stream (on an echo-free line too): not trusted until settled."""
    NO_ECHO = "no_echo"
    """Our voice covered every delay searched and nothing in the caller stream matched it."""


@dataclass(frozen=True, slots=True)
class Residual:
    """The newest caller frame, split into what our echo explains and what it does not."""

    share: float
    """Fraction (0…1) of the frame's telephone-band power that our echo does not explain; 1.0 with no delay."""
    dbfs: float
    """Level of that unexplained part (telephone band), dBFS."""


@dataclass(slots=True)
class EchoOptions:
    max_delay_ms: int = 480
    """Longest echo delay searched: transport offset (0–300 ms) plus line echo (≤ 128 ms) and margin.
    Defaults to 480 ms."""
    window_ms: int = 200
    """Caller audio examined per estimate. Defaults to 200 ms."""
    estimate_every: int = 5
    """Frames between estimates while we talk. Defaults to 5 (100 ms)."""
    match_coherence: float = 0.7
    """Share of a caller window a linear filter of our reference must explain for it to be our echo.
    Echo alone: 0.8–1.0 (flat or G.168 hybrids); two unrelated voices: < 0.7 in 99 % of windows, and a
    new delay needs two windows that agree. Defaults to 0.7."""
    overestimate_db: float = 3.0
    """Our echo is assumed this much louder than measured (estimation error, a frame's share of the
    hybrid's spread). Defaults to 3 dB."""
    recheck_after_ms: int = 1000
    """After this much silence of ours, the delay is checked again before it is trusted (CHECKING).
    Defaults to 1000 ms."""
    no_echo_after: int = 2
    """Conclusive estimates without a match before the line is taken for echo-free. Defaults to 2."""
    voiced_ref_dbfs: float = -50.0
    """Our reference counts as talking above this level (telephone band). Defaults to −50 dBFS."""


class _Band:
    """One stream at 16 kHz → its telephone band at 8 kHz (low-pass, every second sample), with history."""

    def __init__(self, samples: int) -> None:
        self.history = np.zeros(samples)
        self.power = np.zeros(samples // _FRAME + 1)
        """Mean square of each 20 ms frame, oldest first; the last is the newest frame."""
        self._input = np.zeros(len(_LOWPASS) - 1 + _FRAME * _DECIMATE)  # filter tail, then the new frame
        self._silent = True  # the filter tail is all zeros

    def push(self, pcm: bytes | None) -> None:
        h, n = self.history, _FRAME
        h[:-n] = h[n:]
        self.power[:-1] = self.power[1:]
        if not pcm or (self._silent and pcm == SILENCE_FRAME):
            if self._silent:  # digital silence in, silence out: skip the filter (most of every call)
                h[-n:] = 0.0
                self.power[-1] = 0.0
                return
            pcm = b""
        tail = len(_LOWPASS) - 1
        frame = self._input[tail:]
        frame[:] = 0.0  # a short frame (the recorder's timeline ran out mid-frame) is padded with silence
        count = min(len(pcm) // 2, FRAME_BYTES // 2)
        frame[:count] = np.frombuffer(pcm, dtype="<i2", count=count)
        out = np.convolve(self._input, _LOWPASS, "valid")[::_DECIMATE]
        h[-n:] = out
        self.power[-1] = float(out @ out) / n
        self._input[:tail] = self._input[-tail:]
        self._silent = not self._input[:tail].any()


@dataclass(frozen=True, slots=True)
class _Match:
    coherence: float
    """Share of the caller window's in-band power explained by a linear filter of our reference."""
    gains: np.ndarray
    """Caller/reference power per band."""
    gain: float
    """Caller/reference power over the whole band."""


class EchoEstimator:
    """Tracks the echo path from our playout into the caller stream; tells how much of a caller frame is ours.

    >>> est = EchoEstimator()
    >>> est.push(ref=what_we_played_this_tick, caller=caller_frame)   # every 20 ms, always
    >>> est.state, est.delay_ms, est.gain_db                          # LOCKED, 164.0, -10.2
    >>> est.residual()                                                # Residual(share=0.02, dbfs=-71.0)
    """

    def __init__(self, options: EchoOptions | None = None) -> None:
        self.options = o = options or EchoOptions()
        self._window = BAND_RATE * o.window_ms // 1000
        self._max_lag = BAND_RATE * o.max_delay_ms // 1000
        self._ref = _Band(self._window + self._max_lag)
        self._caller = _Band(max(self._window, _SEGMENT))
        self._nfft = _fast_size(self._window + self._max_lag)
        self._segments = np.arange(0, self._window - _SEGMENT + 1, _HOP)[:, None] + np.arange(_SEGMENT)
        """Indices of the half-overlapping 32 ms segments of a window (11 in 200 ms)."""
        self._rows = np.zeros((1 + len(_SMEAR), _SEGMENT))  # the caller's newest segment, then ours at the lag
        self._overestimate = 10 ** (o.overestimate_db / 10)
        self._voiced_ref_power = _FULL_SCALE_POWER * 10 ** (o.voiced_ref_dbfs / 10)
        self._frames = 0
        self._misses = 0
        self._quiet_frames = 0  # our silence so far, in frames
        self._candidate: tuple[int, int] | None = None  # (lag, frame) of a delay seen once, not yet trusted
        self._gains = np.zeros(_BANDS.shape[1])
        self.state = EchoState.UNKNOWN
        self.lag: int | None = None
        """Echo delay in 8 kHz samples (reference → caller stream), once found."""
        self.gain = 0.0
        """Echo power gain (caller/reference) over the telephone band, at the last match."""
        self.correlation = 0.0
        """Peak normalised correlation of the last full search."""

    @property
    def delay_ms(self) -> float | None:
        return None if self.lag is None else self.lag * 1000 / BAND_RATE

    @property
    def gain_db(self) -> float | None:
        return None if self.lag is None else 10 * float(np.log10(max(self.gain, 1e-12)))

    def push(self, ref: bytes | None, caller: bytes) -> None:
        """One 20 ms tick: what we played (b"" or None when nothing) and the caller frame heard meanwhile."""
        self._ref.push(ref)
        self._caller.push(caller)
        self._frames += 1
        if self._ref.power[-1] > self._voiced_ref_power:
            if self._quiet_frames * FRAME_MS >= self.options.recheck_after_ms and self.state is EchoState.LOCKED:
                self.state = EchoState.CHECKING  # we talk again: has the delay moved while we listened?
            self._quiet_frames = 0
        else:
            self._quiet_frames += 1
        if self._frames % self.options.estimate_every == 0 and self._ref.power.max() > self._voiced_ref_power:
            self._estimate()

    def caller_level_dbfs(self) -> float:
        """The newest caller frame's level in the telephone band."""
        return _dbfs(float(self._caller.power[-1]))

    def our_level_dbfs(self, frames: int) -> float:
        """The loudest of our last `frames` frames, in the telephone band."""
        return _dbfs(float(self._ref.power[-frames:].max()))

    def residual(self) -> Residual:
        """Split the newest caller frame into our echo and the rest (call after `push`)."""
        level = float(self._caller.power[-1])
        if self.lag is None or level <= 0.0:
            return Residual(1.0, _dbfs(level))
        ref, n, rows = self._ref.history, len(self._ref.history), self._rows
        rows[0] = self._caller.history[-_SEGMENT:]
        for row, shift in enumerate(_SMEAR, start=1):
            end = min(n - self.lag + shift, n)
            rows[row] = ref[end - _SEGMENT : end]
        rows *= _HANN
        spectra = np.fft.rfft(rows, axis=1)
        bands = (spectra.real**2 + spectra.imag**2) @ _BANDS
        total = float(bands[0].sum())
        if total <= 0.0:
            return Residual(1.0, _dbfs(level))
        echo = bands[1:].max(axis=0) * self._gains * self._overestimate
        share = float(np.maximum(bands[0] - echo, 0.0).sum()) / total
        return Residual(share, _dbfs(level * share))

    # -- estimates --------------------------------------------------------------------------------
    def _estimate(self) -> None:
        """Does the caller window match our reference: at the known delay, or at another one?"""
        caller = self._caller.history[-self._window :]
        if float(caller @ caller) < self._window * _QUIET_CALLER_POWER:
            self._no_match(0.0, at_lag=False)  # a quiet line: no echo of us, and nothing to correlate
            return
        if self.lag is not None and self._talked_at(self.lag):
            match = self._coherence(self.lag)
            if match is not None and match.coherence >= self.options.match_coherence:
                self._follow(self.lag, match)
                return
        lag = self._search()
        match = self._coherence(lag) if self._talked_at(lag) else None
        if match is None or match.coherence < self.options.match_coherence:
            if match is not None:  # (None: too little audio in the window to tell)
                self._no_match(match.coherence, at_lag=self.lag is not None and self._talked_at(self.lag))
        elif self.lag is not None and abs(lag - self.lag) <= _SAME_PATH:
            self._follow(lag, match)
        elif self._trusted(lag, match):
            self._follow(lag, match)
        elif self.state in (EchoState.LOCKED, EchoState.NO_ECHO):
            self.state = EchoState.CHECKING  # another delay explains the caller now: has the path moved?

    def _trusted(self, lag: int, match: _Match) -> bool:
        """A new delay is trusted when near perfect, or when a window 200 ms earlier agreed on it."""
        if match.coherence >= 0.95 and self.correlation >= 0.85:
            return True
        candidate, self._candidate = self._candidate, (lag, self._frames)
        if candidate is None or abs(candidate[0] - lag) > _SAME_PATH:
            return False
        if (self._frames - candidate[1]) * _FRAME < self._window:
            self._candidate = candidate  # overlapping windows share audio: wait for an independent one
            return False
        return True

    def _follow(self, lag: int, match: _Match) -> None:
        """Our echo is at `lag`: lock (or stay locked) and learn its gain per band."""
        first = self.lag is None or abs(lag - self.lag) > _SAME_PATH
        self._gains = match.gains if first else 0.5 * (self._gains + match.gains)
        if first:
            self.lag = lag
        self.gain = match.gain
        self.state = EchoState.LOCKED
        self._candidate = None
        self._misses = 0

    def _no_match(self, coherence: float, at_lag: bool) -> None:
        """The caller window is not our echo at any delay (coherence below `_NOT_OURS`). With a delay known
        and our voice at it (`at_lag`), that is the caller talking, or the echo gone: the lock stands.
        Without one, it counts towards NO_ECHO once our voice has filled every delay searched."""
        if coherence >= _NOT_OURS:
            return  # neither our echo nor clearly not: the next window decides
        if self.lag is not None:
            if self.state is EchoState.CHECKING and at_lag:
                self.state = EchoState.LOCKED
            return
        if self.state is EchoState.NO_ECHO or not self._talked_everywhere():
            return
        self._misses += 1
        if self._misses >= self.options.no_echo_after or self.state is EchoState.CHECKING:
            self.state = EchoState.NO_ECHO  # (CHECKING without a delay: a one-off match that did not repeat)

    def _talked_everywhere(self) -> bool:
        """Did our voice fill (nearly) every window a search tries? Then no match means no echo."""
        frames = self._window // _FRAME
        window_power = np.convolve(self._ref.power[1:], np.ones(frames) / frames, "valid")
        return bool(np.mean(window_power > self._voiced_ref_power) >= 0.9)

    def _talked_at(self, lag: int) -> bool:
        """Was our voice in the reference window that lines up with the caller window at `lag`?"""
        n = len(self._ref.history)
        ref = self._ref.history[n - lag - self._window : n - lag]
        return float(ref @ ref) >= self._window * self._voiced_ref_power

    def _search(self) -> int:
        """The lag of the best normalised cross-correlation between the caller window and our reference."""
        w, lags, ref = self._window, self._max_lag, self._ref.history
        caller = self._caller.history[-w:]
        energy = np.concatenate(([0.0], np.cumsum(ref * ref)))
        ref_energy = energy[w : w + lags + 1] - energy[: lags + 1]  # ref[k : k + w]; k = lags is delay 0
        spectrum = np.fft.rfft(ref, self._nfft) * np.conj(np.fft.rfft(caller, self._nfft))
        xc = np.fft.irfft(spectrum, self._nfft)[: lags + 1]  # xc[k] = Σ caller[j]·ref[j + k]
        rho = np.abs(xc) / np.sqrt(np.maximum(ref_energy, w * self._voiced_ref_power) * float(caller @ caller))
        k = int(np.argmax(rho))
        self.correlation = float(rho[k])
        return lags - k

    def _coherence(self, lag: int) -> _Match | None:
        """How much of the caller window a linear filter of our reference at `lag` explains (Welch, 32 ms).

        None when either side's power sits in too few segments for the figure to mean anything (one
        segment is always perfectly "coherent")."""
        n, w, segments = len(self._ref.history), self._window, len(self._segments)
        both = np.concatenate(
            (self._caller.history[-w:][self._segments], self._ref.history[n - lag - w :][self._segments])
        )
        spectra = np.fft.rfft(both * _HANN, axis=1)
        c, r = spectra[:segments], spectra[segments:]
        c_power, r_power = c.real**2 + c.imag**2, r.real**2 + r.imag**2
        if min(_spread(c_power), _spread(r_power)) < 3.0:
            return None
        cross = (c * r.conj()).sum(axis=0)[_IN_BAND]
        caller_spectrum, our_spectrum = c_power.sum(axis=0), r_power.sum(axis=0)
        our_in_band = np.maximum(our_spectrum[_IN_BAND], 1e-9)
        explained = float((np.abs(cross) ** 2 / our_in_band).sum())
        total = float(caller_spectrum[_IN_BAND].sum())
        caller_bands, our_bands = caller_spectrum @ _BANDS, our_spectrum @ _BANDS
        gain = total / max(float(our_in_band.sum()), 1e-9)
        # A band we hardly played in tells nothing about its gain: it gets the whole band's.
        audible = our_bands > 1e-4 * our_bands.sum()
        gains = np.where(audible, caller_bands / np.maximum(our_bands, 1e-9), gain)
        return _Match(explained / max(total, 1e-9), gains, gain)


def _spread(power: np.ndarray) -> float:
    """Effective number of segments carrying the power (1 when one segment holds it all)."""
    per_segment = power.sum(axis=1)
    return float(per_segment.sum() ** 2 / max(float(per_segment @ per_segment), 1e-30))


def _fast_size(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n: FFT sizes pocketfft does fast (5760 for 5440: a third quicker than 8192)."""
    best = 1 << (n - 1).bit_length()
    for three in (1, 3, 9):
        for five in (1, 5, 25):
            size = three * five
            while size < n:
                size *= 2
            best = min(best, size)
    return best


def _dbfs(power: float) -> float:
    return 10.0 * float(np.log10(power / _FULL_SCALE_POWER)) if power > 0 else float("-inf")

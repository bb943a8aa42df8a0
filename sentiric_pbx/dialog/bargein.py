"""Barge-in: when does the caller's voice mean "stop talking"?

While we speak, the caller's line also carries an echo of our own voice (the far end's hybrid,
Asterisk's `Echo()`), attenuated by the echo return loss (6–30 dB on the PSTN, 0 dB for `Echo()`)
and late by a delay nobody tells us (our transport's 0–300 ms plus the line's ≤ 128 ms). The
endpointer's VAD hears that echo as speech, and a level rule cannot tell a −6 dB echo of a loud word
from a caller talking over a quiet one: with "louder than our level − 12 dB" the agent interrupted
itself about once a second on a line with echo. So we ask another question: *is this caller audio
explained by our own recent playout?* `audio/echo.py` finds the echo path (its delay and gain per
band) and splits each caller frame into our echo and the rest.

While we speak, a caller frame counts towards barge-in when webrtcvad calls it voiced and

* the echo path is known (`EchoState.LOCKED`): the part our echo does not explain is above
  `floor_dbfs` *and* at least `min_residual_share` of the frame. Our echo alone leaves ≤ 0.2 of a
  voiced frame unexplained (99 % of frames ≤ 0.13, on flat μ-law lines and through the G.168 hybrids);
  a caller talking over it leaves 0.6 of the frame (median) when as loud as our echo, 0.8–1.0 when
  louder. 0.4 sits between: twice the worst echo frame, and a caller only as loud as our echo still
  counts in more than half of their voiced frames.
* the line has been found echo-free (`NO_ECHO`: our voice covered every delay searched and nothing
  matched): the level rule of old, louder than our loudest playout of the last `echo_window_ms` minus
  `echo_margin_db`. It still guards against an echo that is not a copy of our waveform (a non-linear
  path the estimator cannot see), and behaves on an echo-free line as before.
* nothing is known yet (`UNKNOWN`: the first ~0.7–1 s of a call's first reply), or the known delay is
  being checked again (`CHECKING`: we talk again after a silence, or another delay shows up): louder
  than anything we played in the last `max_echo_delay_ms`. A PSTN echo is ≥ 6 dB quieter than that and
  even a 0 dB `Echo()` is hardly ever louder, so no echo counts; a caller talking over our first words
  waits for the verdict (tests/test_bargein.py: ≤ 1.5 s).

`sustain_ms` of counting frames (default 240 ms) triggers barge-in; a cough or a click does not. A
frame that does not count takes back half a frame, with one exception. A caller under our voice does
not count in every voiced frame: their quieter syllables fall under the level rule or inside our echo,
and their first word (“Sorry,” “No wait,”) is often 160–200 ms of counting frames before a valley of
such frames and a pause. Taking half a frame back for each of those lost the first word, and the
caller talked 0.4–2 s over us (bench/bargein.py: p90 1.5 s for a caller as loud as us, one in five
callers 6 dB quieter never stopped us). So once `hold_after_ms` have counted, a frame where our voice
may be hiding theirs (webrtcvad hears voice the rules do not count, or `hear()` took it for our echo)
keeps the count for up to `hold_ms`; a quiet frame still takes back half a frame. Our echo alone never
gets that far (its longest run in the bench is one frame), so the hold cannot start on it; a lone cough
decays once the hold ends. The price: two bursts of voice close together count as one (in the bench a
"yeah, yeah" of 2 × 200 ms now stops us once in 14, "mm-hm", coughing and crackle still never).

Line noise. webrtcvad calls steady hiss voiced, and our echo does not explain it (it is not our voice), so
on a line with echo and hiss at −40 dBFS the fixed `floor_dbfs` let it stop us 17–37 times a minute
(bench/bargein.py). A noisy mobile or analog line sets its own floor, so we track it: the quietest caller
frame of the last `line_floor_ms` (2 s, updated on every frame, whether we speak or not; hiss shows in every
frame, a talker and our echo pause within 2 s), and a frame counts only when its level (or, with the echo
path known, the part our echo does not explain) stands `line_floor_margin_db` (6 dB) above it. Steady hiss
at −50 to −35 dBFS then never stops us; a caller rises far above it. On a clean line the floor is digital
silence or our echo's quietest frame and changes nothing. The price: on a hissy echo-free line, a caller
6 dB quieter than us, whose quiet syllables already fail the level rule, stops us in 16 runs of 18 rather
than 18. Hiss whose level drifts ±3 dB over 3 s can still rise 6 dB above a 2 s minimum now and then (0–1
false barge-ins in 24 s of our voice at −40 or −35 dBFS, against 4–32 without the floor). A line that
carries digital silence (no media yet, silence suppression) has no floor: there only `floor_dbfs` applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentiric_pbx.audio.echo import EchoEstimator, EchoOptions, EchoState, Residual
from sentiric_pbx.audio.frames import FRAME_MS


@dataclass(slots=True)
class BargeInOptions:
    sustain_ms: int = 240
    """Caller speech needed while we speak before we stop. Defaults to 240 ms."""
    echo_margin_db: float = 12.0
    """On a line found echo-free, caller audio must be louder than our recent level minus this to count.
    Defaults to 12 dB."""
    echo_window_ms: int = 300
    """On a line found echo-free, how far back "our recent level" looks. Defaults to 300 ms."""
    max_echo_delay_ms: int = 480
    """Longest echo delay looked for: our transport (0–300 ms) + the line (≤ 128 ms) + margin. Until the
    echo path is known, caller audio must be louder than anything we played this far back. Defaults to 480 ms."""
    floor_dbfs: float = -45.0
    """Caller audio (or the part our echo does not explain) quieter than this never counts (line noise).
    Defaults to −45 dBFS."""
    min_residual_share: float = 0.4
    """With the echo path known, the share of a frame's telephone-band power our echo must leave
    unexplained for the frame to count. Defaults to 0.4."""
    hold_after_ms: int = 160
    """Counted caller speech after which frames our voice may be masking stop taking the count back.
    Defaults to 160 ms: longer than our echo alone ever counts, shorter than a caller's first word."""
    hold_ms: int = 500
    """How long such masked frames keep the count after the last counting frame. Defaults to 500 ms."""
    line_floor_ms: int = 2000
    """The caller line's noise floor is its quietest frame (telephone band) of about this long: hiss shows in
    every frame, a talker or our echo pauses within it. Defaults to 2000 ms."""
    line_floor_margin_db: float = 6.0
    """A frame (or the part our echo does not explain) must stand this far above the line's noise floor to
    count: steady hiss stays within ±2 dB of its quietest frame, speech rises far above it. Defaults to 6 dB."""


class BargeInDetector:
    """Per 20 ms tick: `played(ours)` then `caller_frame(frame, voiced, agent_speaking)` → True on barge-in.

    >>> det = BargeInDetector()
    >>> det.played(agent_frame); det.caller_frame(echo_of_agent_frame, voiced=True, agent_speaking=True)
    False     # our echo, explained by what we played
    >>> # … 12 frames of a caller talking over us (240 ms) …
    True
    """

    def __init__(self, options: BargeInOptions | None = None) -> None:
        self.options = options or BargeInOptions()
        self.echo = EchoEstimator(EchoOptions(max_delay_ms=self.options.max_echo_delay_ms))
        self._ref: bytes | None = None
        self._run_ms = 0
        self._masked_ms = 0
        """Masked frames since the last counting frame (see `hold_ms`)."""
        self._our_echo = False
        """Did `hear()` take the newest caller frame for our echo?"""
        self._residual: Residual | None = None
        """The newest frame's `residual()` once computed (LOCKED only)."""
        self.line_floor = _LineFloor(max(1, self.options.line_floor_ms // FRAME_MS))

    def played(self, frame: bytes | None) -> None:
        """What we played during this caller frame (None or b"" when quiet)."""
        self._ref = frame

    def our_level_dbfs(self, window_ms: int) -> float:
        """The loudest frame we played in the last `window_ms` (telephone band)."""
        return self.echo.our_level_dbfs(max(1, window_ms // FRAME_MS))

    def reset(self) -> None:
        """After a barge-in: the count starts again. The echo path stays known (it is the line's, not the reply's)."""
        self._run_ms = 0
        self._masked_ms = 0

    def caller_frame(self, frame: bytes, voiced: bool, agent_speaking: bool) -> bool:
        """Feed one caller frame (after `played()` for the same tick); True when the caller has talked over us."""
        self.hear(frame)
        return self.decide(voiced, agent_speaking)

    def hear(self, frame: bytes) -> bool:
        """Feed one caller frame (after `played()`); True when it is only our own echo.

        The session then gives the endpointer silence instead: without that, a line that returns our voice
        (Asterisk's `Echo()`, a loud hybrid) makes the agent hear its own greeting as a caller turn and
        answer itself, even though it no longer interrupts itself. Only audio that follows our own
        playout within `max_echo_delay_ms` can be echo; a line found echo-free never suppresses anything.
        """
        self._our_echo = self._hear(frame)
        return self._our_echo

    def _hear(self, frame: bytes) -> bool:
        self.echo.push(self._ref, frame)
        self._ref = None
        self._residual = None
        self.line_floor.push(self.echo.caller_level_dbfs())
        o = self.options
        recent = self.our_level_dbfs(o.max_echo_delay_ms)
        if recent == float("-inf"):
            return False
        state = self.echo.state
        if state is EchoState.LOCKED:
            residual = self._split()
            return residual.dbfs <= o.floor_dbfs or residual.share < o.min_residual_share
        if state is EchoState.NO_ECHO:
            return False
        return self.echo.caller_level_dbfs() <= max(o.floor_dbfs, recent)  # UNKNOWN, CHECKING: as in `_counts`

    def decide(self, voiced: bool, agent_speaking: bool) -> bool:
        """After `hear()`: True when the caller has now talked over us for `sustain_ms`."""
        o = self.options
        if not agent_speaking:
            self.reset()
            return False
        if voiced and self._counts():
            self._run_ms += FRAME_MS
            self._masked_ms = 0
            return self._run_ms >= o.sustain_ms
        masked = voiced or self._our_echo  # voice on the line we cannot tell from ours
        if masked and self._run_ms >= o.hold_after_ms and self._masked_ms < o.hold_ms:
            self._masked_ms += FRAME_MS
        else:
            self._run_ms = max(0, self._run_ms - FRAME_MS // 2)
        return self._run_ms >= o.sustain_ms

    def _counts(self) -> bool:
        """Is the newest (voiced) caller frame the caller's own voice rather than our echo?"""
        o = self.options
        floor = max(o.floor_dbfs, self.line_floor.dbfs + o.line_floor_margin_db)
        state = self.echo.state
        if state is EchoState.LOCKED:
            residual = self._split()
            return residual.dbfs > floor and residual.share >= o.min_residual_share
        if state is EchoState.NO_ECHO:
            threshold = self.our_level_dbfs(o.echo_window_ms) - o.echo_margin_db
        else:  # UNKNOWN or CHECKING: whatever the delay, no echo is louder than what we played
            threshold = self.our_level_dbfs(o.max_echo_delay_ms)
        return self.echo.caller_level_dbfs() > max(floor, threshold)

    def _split(self) -> Residual:
        """The newest frame's `EchoEstimator.residual()`, computed once per frame."""
        if self._residual is None:
            self._residual = self.echo.residual()
        return self._residual


class _LineFloor:
    """The quietest caller frame of the last `frames` (in blocks of a quarter: cheap, and as good for a floor).

    Digital silence (no media yet, silence suppression) is no noise floor, but a line that carries it is not
    a steady hiss either: a block mostly of digital silence makes the floor −inf (only `floor_dbfs` applies,
    as on a clean line), a few silent frames in a block of hiss are passed over."""

    def __init__(self, frames: int) -> None:
        self._block = max(1, frames // 4)
        self._mins: list[float] = []
        """The floor of each full block, oldest first (at most 4)."""
        self._current = float("inf")
        self._silent = 0
        self._count = 0
        self.dbfs = float("-inf")
        """The floor: −inf while the window holds a block mostly of digital silence."""

    def push(self, dbfs: float) -> None:
        if dbfs > float("-inf"):
            self._current = min(self._current, dbfs)
        else:
            self._silent += 1
        self._count += 1
        current = float("-inf") if 2 * self._silent > self._count else self._current
        if self._count == self._block:
            self._mins = [*self._mins[-3:], current]
            self._current, self._silent, self._count = float("inf"), 0, 0
        self.dbfs = min([current, *self._mins])

"""A call on a scripted timeline, in virtual time: what tests/test_session_timeline.py drives `CallSession` with.

Which layers are real and which are scripted:

* the session and all its stages, webrtcvad, the endpointer, turn-taking, the barge-in detector with its
  echo estimator, the recorder: real;
* the transport: the real edge half every ingress shares (`telephony.edge.CallIO`: the caller's silence
  filled in as time, paced playout on a `PlayoutClock`, `flush`, `end`), with a scripted far end
  (`ScriptedLine`) in place of a socket — a caller who speaks when the script says, sends nothing when
  quiet if told to (as Asterisk does), hangs up, and may return our own voice as an echo;
* the engines are ours, faked through their interfaces: `FakeStt` reads back the text the script
  attached to the caller's audio (a turn id in the samples' low bits), `FakeTts` makes a voice-like tone
  `SECONDS_PER_WORD` long per word, and `ScriptedBrain` answers from a table, as late as told.

Everything runs on `VirtualClockLoop`, whose clock jumps to the next timer whenever nothing is ready: a
30 s call takes the CPU time of its 1500 frames, and its timeline is the same on every machine.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SILENCE_FRAME
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.call.transport import CallInfo, Dtmf, Hangup
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.brain import phrase
from sentiric_pbx.dialog.session import CallSession
from sentiric_pbx.dialog.types import Reply, text_reply
from sentiric_pbx.engines.base import SttStream, Transcript
from sentiric_pbx.engines.priority import current_due
from sentiric_pbx.telephony.edge import CallIO

T = TypeVar("T")
FRAME_S = FRAME_MS / 1000


# -- virtual time -------------------------------------------------------------------------------------
class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock starts at 0 and, when nothing is ready, jumps to the next timer.

    I/O is still polled (without waiting) on every turn; only a loop with no timer at all blocks for real
    (waiting on a thread or a socket), so the clock never runs ahead of work that is still in flight.
    """

    def __init__(self) -> None:
        super().__init__(selectors.DefaultSelector())
        self._now = 0.0
        poll = self._selector.select

        def select(timeout: float | None = None) -> list[Any]:
            ready = poll(0)
            if ready or timeout == 0:
                return ready
            if timeout is None:
                return poll(None)
            self._now += timeout
            return ready

        self._selector.select = select  # type: ignore[method-assign]

    def time(self) -> float:
        return self._now


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to the end on a fresh `VirtualClockLoop`."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)


# -- audio with a meaning -----------------------------------------------------------------------------
ID_BITS = 0x3F
"""The low 6 bits of every sample carry the id of the scripted utterance it belongs to (0: none)."""
ECHO_ID = ID_BITS
"""The id of our own voice coming back on the line while the caller is quiet."""
OUR_OWN_WORDS = "(our own words)"
"""What the STT hears in our echo: a caller turn saying this is the agent answering itself."""
SECONDS_PER_WORD = 0.2


def voice(seconds: float, f0: float, level_dbfs: float = -20.0) -> np.ndarray:
    """A vowel-like harmonic tone with a 4 Hz syllable rhythm: webrtcvad hears every frame of it as voice."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sig = np.zeros_like(t)
    for k in range(1, int(3800 / f0) + 1):
        gain = sum(np.exp(-((((k * f0) - formant) / 150) ** 2)) for formant in (700, 1200, 2600)) + 0.05
        sig += gain * np.sin(2 * np.pi * k * f0 * t + k)
    sig *= 0.75 + 0.25 * np.sin(2 * np.pi * 4 * t)
    sig *= 32768 * 10 ** (level_dbfs / 20) / np.sqrt(np.mean(sig**2))
    return sig


def stamp(samples: np.ndarray, utterance_id: int) -> np.ndarray:
    """`samples` as int16 with `utterance_id` in their low bits."""
    pcm = np.clip(np.round(samples), -32768, 32767).astype(np.int32)
    return ((pcm & ~ID_BITS) | utterance_id).astype("<i2")


def ids_in(pcm: bytes) -> list[int]:
    """The utterance ids heard in `pcm`, in order of first appearance."""
    ids = np.frombuffer(pcm, dtype="<i2") & ID_BITS
    values, first = np.unique(ids, return_index=True)
    return [int(v) for _, v in sorted(zip(first, values, strict=True)) if v]


# -- the caller's side of the line --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Say:
    """The caller speaks `text` from `at_s` for `seconds` (the STT will hear exactly `text`)."""

    at_s: float
    seconds: float
    text: str


@dataclass(frozen=True, slots=True)
class Key:
    """The caller presses `digit` on the keypad at `at_s` (the ingress forwards it as a `Dtmf` event)."""

    at_s: float
    digit: str


@dataclass(frozen=True, slots=True)
class Echo:
    """The line returns our own voice, `delay_ms` late and `gain_db` down (a hybrid, Asterisk's Echo())."""

    delay_ms: int = 60
    gain_db: float = -6.0


GIVE_UP_AFTER_S = 60.0
"""The caller hangs up this long after the script's last event, if the call has not ended by then."""


class ScriptedLine(CallIO):
    """The real `CallIO` with a scripted far end: the caller's `Say`s, an optional echo, a hangup.

    `wire` keeps every frame of ours the caller received, with its loop time.
    """

    def __init__(
        self,
        says: list[Say],
        *,
        hangup_at_s: float | None = None,
        echo: Echo | None = None,
        sends_when_quiet: bool = True,
        bad_frame_at_s: float | None = None,
        keys: list[Key] | None = None,
    ) -> None:
        super().__init__(CallInfo(call_id="timeline-call", caller_id="05551112233", ingress="test"))
        self.says = says
        self.texts = {i: say.text for i, say in enumerate(says, start=1)} | {ECHO_ID: OUR_OWN_WORDS}
        self.hangup_at_s = hangup_at_s
        self.echo = echo
        self.sends_when_quiet = sends_when_quiet
        self.bad_frame_at_s = bad_frame_at_s
        self.keys = sorted(keys or [], key=lambda k: k.at_s)
        self.clock = PlayoutClock(self._received, SILENCE_FRAME)
        self._out = PacedOutput(self.clock, SAMPLE_RATE, FRAME_BYTES, lambda frame: frame)
        self.wire: list[tuple[float, bytes]] = []
        self.ended_by: Hangup | None = None
        self.transferred_to: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.clock.run()), asyncio.create_task(self._caller())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _received(self, frame: bytes) -> None:
        self.wire.append((asyncio.get_running_loop().time(), frame))

    def _track(self) -> np.ndarray:
        end_s = max([s.at_s + s.seconds for s in self.says] + [self.hangup_at_s or 0.0]) + GIVE_UP_AFTER_S
        track = np.zeros(int(end_s * SAMPLE_RATE), dtype=np.float64)
        self._ids = np.zeros(len(track), dtype=np.int32)
        for i, say in enumerate(self.says, start=1):
            a = int(say.at_s * SAMPLE_RATE)
            sig = voice(say.seconds, f0=120.0)
            track[a : a + len(sig)] += sig
            self._ids[a : a + len(sig)] = i
        return track

    def _echo_at(self, t: float) -> np.ndarray:
        """Our frame that left `delay_ms` before `t`, attenuated: what the line adds to the caller's audio."""
        assert self.echo is not None
        due = t - self.echo.delay_ms / 1000
        frame = next((f for sent, f in reversed(self.wire) if sent <= due + 1e-9), SILENCE_FRAME)
        return np.frombuffer(frame, dtype="<i2") * 10 ** (self.echo.gain_db / 20)

    async def _caller(self) -> None:
        """One frame per 20 ms on the loop clock, delivered when it has been spoken (at its end)."""
        loop = asyncio.get_running_loop()
        track, n = self._track(), FRAME_BYTES // 2
        for i in range(len(track) // n):
            await asyncio.sleep(max(0.0, (i + 1) * FRAME_S - loop.time()))
            now = loop.time()
            if self.hangup_at_s is not None and now >= self.hangup_at_s - 1e-9:
                self.ended_by = Hangup("caller", "hangup")
                self.end(self.ended_by)
                return
            if self.closed:
                return
            while self.keys and now >= self.keys[0].at_s - 1e-9:
                self.on_event(Dtmf(self.keys.pop(0).digit))
            if self.bad_frame_at_s is not None and now >= self.bad_frame_at_s:
                self.bad_frame_at_s = None
                self.deliver(bytes(FRAME_BYTES // 2))  # half a frame: a broken wire decoder
                continue
            samples, utterance = track[i * n : (i + 1) * n], int(self._ids[i * n + n // 2])
            if self.echo is not None:
                echo = self._echo_at(now)
                samples = samples + echo
                utterance = utterance or (ECHO_ID if np.abs(echo).max() > 64 else 0)
            frame = stamp(samples, utterance).tobytes()
            if self.sends_when_quiet or any(frame):
                self.deliver(frame)
        self.ended_by = Hangup("caller", "script_over")  # a test that forgot to end its call still ends
        self.end(self.ended_by)

    async def hangup(self) -> None:
        self.ended_by = Hangup("agent", "agent_hangup")
        self.end(self.ended_by)

    async def transfer(self, target: str) -> None:
        self.transferred_to = target
        self.ended_by = Hangup("agent", "transferred")
        self.end(self.ended_by)

    def _on_end(self) -> None:
        for task in self._tasks[:1]:  # the playout clock; the caller's task returns by itself
            task.cancel()

    # -- what the caller heard ------------------------------------------------------------------------
    def talkspurts(self, gap_s: float = 0.1) -> list[tuple[float, float]]:
        """(start, end) loop times of our audio as received, frames less than `gap_s` apart joined."""
        spurts: list[list[float]] = []
        for t, frame in self.wire:
            if frame == SILENCE_FRAME:
                continue
            if spurts and t - spurts[-1][1] <= gap_s:
                spurts[-1][1] = t + FRAME_S
            else:
                spurts.append([t, t + FRAME_S])
        return [(round(a, 3), round(b, 3)) for a, b in spurts]


# -- our engines, scripted ----------------------------------------------------------------------------
class FakeStt:
    """An utterance engine (like Whisper): the text is read from the ids stamped in the audio."""

    name = "fake-stt"
    streaming = False

    def __init__(self, line: ScriptedLine, latency_s: float = 0.1, fails: bool = False) -> None:
        self.line = line
        self.latency_s = latency_s
        self.fails = fails
        self.calls: list[tuple[float, str]] = []
        """(loop time of the answer, text) per transcription, previews included."""
        self.dues: list[float] = []
        """The engine queue's due time (`priority.current_due`) of each transcription, as asked."""

    def open_stream(self) -> SttStream:
        raise NotImplementedError("an utterance engine")

    async def transcribe(self, pcm: bytes) -> Transcript:
        self.dues.append(current_due())
        await asyncio.sleep(self.latency_s)
        if self.fails:
            raise RuntimeError("stt down")
        text = " ".join(self.line.texts[i] for i in ids_in(pcm) if i in self.line.texts)
        self.calls.append((asyncio.get_running_loop().time(), text))
        return Transcript(text, True)


class FakeTts:
    """`SECONDS_PER_WORD` of voice per word, after `latency_s`; our voice is higher than the caller's."""

    name = "fake-tts"

    def __init__(self, latency_s: float = 0.05, fails_on: str | None = None) -> None:
        self.latency_s = latency_s
        self.fails_on = fails_on
        """Sentences containing this fail to synthesize ("" fails them all)."""
        self.dues: list[tuple[str, float]] = []
        """(text, `priority.current_due`) of each synthesis, as asked."""

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.dues.append((text, current_due()))
        await asyncio.sleep(self.latency_s)
        if self.fails_on is not None and self.fails_on in text:
            raise RuntimeError("tts down")
        yield stamp(voice(len(text.split()) * SECONDS_PER_WORD, f0=210.0), 0).tobytes()


@dataclass(slots=True)
class Answer:
    """How the scripted brain answers one caller text."""

    text: str
    action: Literal["continue", "end_call", "transfer"] = "continue"
    after_s: float = 0.2
    """Thinking time (NLU, a task, the LLM)."""
    fails: bool = False
    slot: str | None = None
    """The slot this reply asks for that keypad digits may fill (`Reply.digits_slot`)."""


GREETING = "Hello, how can I help?"


@dataclass(slots=True)
class ScriptedBrain:
    """A `Brain` answering from a table; reprompts and apologies as `AssistantBrain` says them."""

    answers: dict[str, Answer]
    answers_after_s: float = 0.2
    """Thinking time for a text the table does not know (answered "Sorry, could you say that again?")."""
    no_input_max: int = 2
    heard: list[tuple[float, str]] = field(default_factory=list)
    """(loop time, text) of every caller turn the brain was asked about."""
    keyed: list[tuple[float, str, str | None]] = field(default_factory=list)
    """(loop time, digits, slot) of every keypad string the brain was asked about."""
    dues: list[float] = field(default_factory=list)
    """`priority.current_due` of each `respond`: what its engine jobs (an LLM) would be queued by."""

    async def greet(self, ctx: CallContext) -> Reply:
        return Reply(text_reply(GREETING))

    async def respond(self, ctx: CallContext, text: str) -> Reply:
        self.heard.append((asyncio.get_running_loop().time(), text))
        self.dues.append(current_due())
        answer = self.answers.get(text) or Answer("Sorry, could you say that again?", after_s=self.answers_after_s)
        await asyncio.sleep(answer.after_s)
        if answer.fails:
            raise RuntimeError("task failed")
        ctx.intents.append("scripted")
        return Reply(text_reply(answer.text), action=answer.action, digits_slot=answer.slot)

    async def respond_keys(self, ctx: CallContext, digits: str, slot: str | None) -> Reply:
        """Keys are answered from the table as "keys:<digits>" (slot in `keyed`); "0" alone transfers."""
        self.keyed.append((asyncio.get_running_loop().time(), digits, slot))
        if digits == "0":
            ctx.intents.append("transfer_to_human")
            return Reply(text_reply("Putting you through."), action="transfer", transfer_target="reception")
        return await self.respond(ctx, f"keys:{digits}")

    async def reprompt(self, ctx: CallContext, attempt: int) -> Reply:
        if attempt > self.no_input_max:
            return Reply(text_reply(phrase(ctx.language, "goodbye_no_input")), action="end_call")
        return Reply(text_reply(phrase(ctx.language, "reprompt")))

    def filler(self, ctx: CallContext) -> str:
        return phrase(ctx.language, "filler")

    async def apologise(self, ctx: CallContext) -> Reply:
        return Reply(text_reply(phrase(ctx.language, "apology")), action="transfer", transfer_target="reception")


# -- one call -----------------------------------------------------------------------------------------
@dataclass(slots=True)
class CallRun:
    """A finished call: its record, the line (what the caller heard), what was saved and when."""

    ctx: CallContext
    line: ScriptedLine
    session: CallSession
    saves: list[tuple[float, int]]
    """(loop time, turns in the record) at every save."""
    ended_at: float

    @property
    def turns(self) -> list[tuple[str, str]]:
        return [(t.who, t.text) for t in self.ctx.turns]

    def agent_turn(self, text_start: str) -> Any:
        return next(t for t in self.ctx.turns if t.who == "agent" and t.text.startswith(text_start))


def call(
    line: ScriptedLine,
    brain: ScriptedBrain,
    *,
    stt: FakeStt | None = None,
    tts: FakeTts | None = None,
    settings: Settings | None = None,
    recording: Path | None = None,
) -> CallRun:
    """Run one call to its end in virtual time (the caller gives up `GIVE_UP_AFTER_S` after the script).

    No timeout guards the session here: a timer would let the virtual clock jump ahead while the
    recording is written in a thread."""
    settings = settings or Settings()
    saves: list[tuple[float, int]] = []
    finished: list[CallContext] = []

    async def save(ctx: CallContext) -> None:
        saves.append((asyncio.get_running_loop().time(), len(ctx.turns)))

    async def finish(ctx: CallContext) -> None:
        finished.append(ctx)

    async def main() -> CallRun:
        session = CallSession(
            settings,
            line,
            stt=stt or FakeStt(line),
            tts=tts or FakeTts(),
            brain=brain,
            save=save,
            finish=finish,
            recording_path=recording,
        )
        line.start()
        try:
            await session.run()
        finally:
            await line.stop()
        return CallRun(finished[0], line, session, saves, asyncio.get_running_loop().time())

    return run_virtual(main())

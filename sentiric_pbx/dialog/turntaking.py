"""When has the caller finished? Recognition that starts at the first pause, and an end of turn that
listens to the words as well as the silence.

A fixed end-of-turn silence puts its whole length, plus the STT's time, in front of every reply: with
500 ms of silence and a 0.5 s Whisper decode the caller waits a second before anything can happen.
Here the STT starts on the turn so far as soon as the caller pauses (`preview_after_ms`); if they go
on talking, that result is thrown away (Whisper) or kept as the first segment (a streaming engine,
Vosk, which has been fed every frame all along). The turn then ends after

  * `early_end_of_turn_ms` of silence when the words so far are a complete phrase,
  * `unfinished_end_of_turn_ms` when they end in a number being dictated ("… 0532 555") or a word that
    cannot end a sentence ("… and", "… at the"): callers pause between digit groups and mid-thought,
    and answering then cuts them off,
  * `end_of_turn_silence_ms` when the STT has not answered yet (a busy host must not leave the caller
    in silence waiting for recognition to decide whether they are done).

With a turn model (`[vad] turn_model`, engines/turn/), the sound of the turn has a say too. At
`turn_model_after_ms` of pause it hears the turn so far (its last 8 s, the pause included) and answers
with the probability that the caller has finished:

  * below `turn_model_unfinished_below`: the voice stayed up mid-sentence, so the turn waits at least
    `turn_model_wait_ms`, however complete the words so far look ("I'd like to book an appointment" …
    "for Monday") — the rules above never end such a turn sooner;
  * at or above `turn_model_threshold`: the turn ends at once, even before the words are in, unless they
    are in and say "unfinished" ("… and", a number being read out): the model never overrules those;
  * in between, no answer yet (a busy host), or no model: the rules above alone.

The words' "unfinished" always wins; the model only adds. Out of the box it only holds the floor
(`turn_model_threshold` = 1.0): on phone-band speech (bench/turns.py) it called too many mid-sentence
pauses complete to be let end turns early, while its "not finished" cut the turns ended inside a
300–600 ms pause by a third at no cost to the median. It is asked once per pause; voice again throws its
answer away with the preview's.

A turn ended early that the caller then continues is not lost: their next words are a new turn, and
if the agent is already answering, that is a barge-in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import structlog

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.nlu.normalize import normalize
from sentiric_pbx.engines.base import SttEngine, SttStream, Transcript
from sentiric_pbx.engines.turn import WINDOW_S, TurnModel

log = structlog.get_logger("sentiric_pbx.turntaking")

_CONTINUES = {
    "en": {
        "and", "or", "but", "so", "because", "at", "to", "the", "a", "an", "my", "is", "of", "for", "on", "in",
        "with", "from", "like", "um", "uh", "er", "its", "number", "about", "around", "before", "after", "then",
    },
    "tr": {"ve", "veya", "ama", "ile", "icin", "benim", "saat", "numaram", "numarasi", "yani", "sonra", "once"},
}  # fmt: skip
_OPENERS = {
    "en": {"hi", "hello", "hey", "well", "so", "good morning", "good afternoon", "hi there", "hello there"},
    "tr": {"merhaba", "alo", "iyi gunler", "gunaydin"},
}
"""Said alone, a greeting usually opens a sentence ("Hi, what can you…"): wait for the rest. Not "yes" or
"no": alone they are whole answers to the question the agent just asked, and deserve a quick reply."""
DICTATED_DIGITS = 3
"""A transcript ending in a run of at least this many digits is a number being read out: wait for the rest.
"at 9." is a complete answer; "0532 555" rarely is."""


def sounds_unfinished(text: str, language: str = "en") -> bool:
    """Does this transcript end where a sentence cannot (a connector, a dictated number, a comma)?"""
    stripped = text.rstrip()
    if stripped.endswith((",", "-", "…", "...")):
        return True
    norm = normalize(stripped, language)
    words = norm.words.split()
    if not words:  # only fillers ("um", "uh"): the caller is still thinking
        return any(ch.isalnum() for ch in stripped)
    if words[-1] in _CONTINUES.get(norm.language, set()):
        return True
    if " ".join(words) in _OPENERS.get(norm.language, set()):
        return True
    run = 0
    for token in reversed(norm.digits.split()):
        if not token.isdigit():
            break
        run += len(token)
    return run >= DICTATED_DIGITS


def may_end_turn(
    silence_ms: int, preview: str | None, options: VadConfig, language: str = "en", completion: float | None = None
) -> bool:
    """The end-of-turn rule of the module docstring. `preview` is None while the STT is still working,
    `completion` while the turn model is (or when there is none)."""
    unfinished = preview is not None and sounds_unfinished(preview, language)
    if preview is None:
        needed = options.end_of_turn_silence_ms
    elif unfinished:
        needed = options.unfinished_end_of_turn_ms
    else:
        needed = options.early_end_of_turn_ms
    if completion is not None and not unfinished:
        if completion >= options.turn_model_threshold:
            return True
        if completion < options.turn_model_unfinished_below:
            needed = max(needed, options.turn_model_wait_ms)
    return silence_ms >= needed


@dataclass(slots=True)
class _Cut:
    """A request to the streaming feeder: close the current segment and resolve `done` with its text."""

    done: asyncio.Future[Transcript]


class TurnRecognizer:
    """One call's recognition, turn by turn. `begin()` a turn; the returned `TurnAttempt` takes the frames,
    pauses and resumptions the listen task sees, and gives the final transcript when the turn ends.

    A streaming engine (`stt.streaming`, Vosk) gets one stream for the whole call, fed by a single task
    in frame order (a thread hand-off per frame from the listen task would stall it). An utterance
    engine (Whisper) is called once per pause on the turn so far.
    """

    def __init__(self, stt: SttEngine) -> None:
        self.stt = stt
        self.streaming = bool(getattr(stt, "streaming", False))
        self._stream: SttStream | None = None
        self._queue: asyncio.Queue[bytes | _Cut] = asyncio.Queue()
        self._feeder: asyncio.Task[None] | None = None

    def begin(self, audio: bytes, language: str = "en") -> TurnAttempt:
        """A turn started; `audio` is what the endpointer holds of it (pre-roll and first voiced frames)."""
        if self.streaming and self._feeder is None:
            self._stream = self.stt.open_stream()
            self._feeder = asyncio.create_task(self._feed(), name="stt-feed")
        attempt = TurnAttempt(self, language)
        attempt.frame(audio)
        return attempt

    async def _feed(self) -> None:
        assert self._stream is not None
        while True:
            item = await self._queue.get()
            if isinstance(item, _Cut):
                try:
                    segment = await self._stream.finish()
                except Exception as exc:
                    if not item.done.done():
                        item.done.set_exception(exc)
                    continue
                if not item.done.done():
                    item.done.set_result(segment)
                continue
            try:
                await self._stream.feed(item)
            except Exception as exc:  # the final will fail too, and the session apologises then
                log.warning("stt_feed_failed", error=repr(exc))

    def cut(self) -> asyncio.Future[str]:
        done: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Cut(done))
        return done

    async def close(self) -> None:
        if self._feeder is not None:
            self._feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._feeder
        closer = getattr(self._stream, "close", None)
        if closer is not None:
            closer()


class TurnAttempt:
    """One turn in progress: its segments (streaming) or its preview decode (utterance engines)."""

    def __init__(self, recognizer: TurnRecognizer, language: str) -> None:
        self._r = recognizer
        self.language = language
        self.paused = False
        self._segments: list[asyncio.Future[Transcript]] = []
        self._preview: asyncio.Task[Transcript] | None = None
        self._heard: deque[bytes] = deque(maxlen=WINDOW_S * 1000 // FRAME_MS)
        """The turn's last frames as heard, pauses included: what the turn model listens to."""
        self._verdict: asyncio.Task[float] | None = None

    def frame(self, pcm: bytes) -> None:
        self._heard.extend(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))
        if self._r.streaming and pcm:
            self._r._queue.put_nowait(pcm)

    def ask(self, model: TurnModel) -> None:
        """The caller has paused `turn_model_after_ms`: does the turn so far, pause included, sound finished?"""
        self._verdict = asyncio.create_task(model.completion(b"".join(self._heard)), name="turn-model")
        self._verdict.add_done_callback(_turn_model_done)

    @property
    def asked(self) -> bool:
        """The turn model has been asked during this pause."""
        return self._verdict is not None

    @property
    def completion(self) -> float | None:
        """The turn model's P(complete) for this pause, once it has answered (None if it failed)."""
        task = self._verdict
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    def pause(self, audio: bytes) -> None:
        """The caller has been quiet for `preview_after_ms`: recognise what they said so far."""
        self.paused = True
        if self._r.streaming:
            self._segments.append(self._r.cut())
        else:
            self._preview = asyncio.create_task(self._r.stt.transcribe(audio), name="stt-preview")
            self._preview.add_done_callback(_consume)

    def resume(self) -> None:
        """Voice again after a pause: a Whisper preview and the turn model's answer no longer cover the turn
        (segments stay)."""
        self.paused = False
        self._preview = None
        self._verdict = None

    @property
    def preview(self) -> str | None:
        """The words of the whole turn so far, once recognised and only while the caller stays quiet."""
        if not self.paused:
            return None
        if self._r.streaming:
            if not all(s.done() for s in self._segments) or any(s.exception() for s in self._segments):
                return None
            return " ".join(t for t in (s.result().text.strip() for s in self._segments) if t)
        task = self._preview
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result().text.strip()

    async def final(self, audio: bytes) -> Transcript:
        """The turn's transcript: the preview when the caller said nothing after it, else a fresh one."""
        if self._r.streaming:
            if not self.paused or not self._segments:
                self._segments.append(self._r.cut())
            parts = [await s for s in self._segments]
            text = " ".join(t for t in (p.text.strip() for p in parts) if t)
            return Transcript(text, True, tuple(w for p in parts for w in p.words), self.language)
        task = self._preview
        if self.paused and task is not None:
            with contextlib.suppress(Exception):
                return await task
        return await self._r.stt.transcribe(audio)


def _consume(task: asyncio.Task[Any]) -> None:
    """A discarded preview's failure is reported by `final()` if it matters; never as 'never retrieved'."""
    if not task.cancelled():
        task.exception()


def _turn_model_done(task: asyncio.Task[float]) -> None:
    """A turn model that fails leaves the turn to the silence and the words; say so once per failure."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("turn_model_failed", error=repr(task.exception()))
    elif not task.cancelled():
        log.debug("turn_model_said", completion=round(task.result(), 3))

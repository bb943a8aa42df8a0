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

A turn ended early that the caller then continues is not lost: their next words are a new turn, and
if the agent is already answering, that is a barge-in.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.nlu.normalize import normalize
from sentiric_pbx.engines.base import SttEngine, SttStream, Transcript

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


def may_end_turn(silence_ms: int, preview: str | None, options: VadConfig, language: str = "en") -> bool:
    """The end-of-turn rule of the module docstring; `preview` is None while the STT is still working."""
    if preview is None:
        return silence_ms >= options.end_of_turn_silence_ms
    if sounds_unfinished(preview, language):
        return silence_ms >= options.unfinished_end_of_turn_ms
    return silence_ms >= options.early_end_of_turn_ms


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

    def frame(self, pcm: bytes) -> None:
        if self._r.streaming and pcm:
            self._r._queue.put_nowait(pcm)

    def pause(self, audio: bytes) -> None:
        """The caller has been quiet for `preview_after_ms`: recognise what they said so far."""
        self.paused = True
        if self._r.streaming:
            self._segments.append(self._r.cut())
        else:
            self._preview = asyncio.create_task(self._r.stt.transcribe(audio), name="stt-preview")
            self._preview.add_done_callback(_consume)

    def resume(self) -> None:
        """Voice again after a pause: a Whisper preview no longer covers the turn (segments stay)."""
        self.paused = False
        self._preview = None

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


def _consume(task: asyncio.Task[Transcript]) -> None:
    """A discarded preview's failure is reported by `final()` if it matters; never as 'never retrieved'."""
    if not task.cancelled():
        task.exception()

"""faster-whisper (CTranslate2) STT, utterance by utterance.

Whisper is not a streaming model: it hears the whole utterance the endpointer cut, and answers once.
It gets the same `SttStream` interface (feed buffers, finish transcribes) so the dialog layer does not
care which it has.

Why it does not call `WhisperModel.transcribe`: that always encodes a 30 s window, however short the
caller's turn. The encoder is most of the cost (≈1.5 s of the ≈2.3 s a 3 s turn took on this 2-core
CPU), and a phone turn is 0.5–5 s. CTranslate2's encoder takes a shorter mel window, so we encode
`audio + 1 s` rounded up to 5 s and at least 10 s (`min_context_s`). Measured on 40 Piper sentences of
bench/nlu_labelled.jsonl through the 8 kHz phone band: WER 0.163 with the 30 s window, 0.158 with 10 s,
0.152 with 15 s, at a third of the time. Shorter than ~10 s breaks: the decoder then loops. Guarded like
faster-whisper's own fallback: a transcript that compresses too well (a loop) is redone with the full
window, and a segment Whisper itself calls no-speech is dropped. Word timings (a second decoder pass)
are off by default for the same reason; `word_timestamps=True` turns them back on.

Why batches: eight callers who finish a sentence together queue eight decodes on two cores. A request
that gets Whisper's slot (the one whose caller has waited longest: `engines/priority.py`) takes the other
waiting requests along, up to `max_batch`, as one CTranslate2 batch: one encoder pass over stacked mel
windows, one greedy decode of all prompts. Measured here on a 10 s window: 1 request 0.20 s; 8 in one batch
1.15 s (0.14 s each) instead of 1.6 s one after another. A caller alone waits for nobody.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from sentiric_pbx.engines.base import Transcript, Word
from sentiric_pbx.engines.priority import current_due
from sentiric_pbx.engines.runner import BoundedRunner

log = structlog.get_logger("sentiric_pbx.stt")

SAMPLES_PER_FRAME = 160
"""Whisper's mel hop: one feature frame per 10 ms of 16 kHz audio."""
FULL_CONTEXT_FRAMES = 3000
COMPRESSION_RATIO_MAX = 2.4
"""faster-whisper's default: above it the text is a repetition loop, not speech."""
NO_SPEECH_PROB = 0.6
LOGPROB_MIN = -1.0
NO_SPEECH_CERTAIN = 0.85
"""Above this Whisper's own no-speech token wins outright: digital silence otherwise reads as "you"
(no-speech 0.90, log-prob −0.6), while real one-word turns ("Yes.", "Okay.") measured ≤ 0.05."""


def context_frames(samples: int, min_context_s: float) -> int:
    """The mel window to encode: the audio plus 1 s, rounded up to 5 s, at least `min_context_s`."""
    seconds = max(min_context_s, math.ceil((samples / 16000 + 1.0) / 5.0) * 5.0)
    return min(FULL_CONTEXT_FRAMES, int(seconds * 100))


def compression_ratio(text: str) -> float:
    data = text.encode()
    return len(data) / max(1, len(zlib.compress(data)))


@dataclass(slots=True, eq=False)  # compared by identity: two callers may send the very same audio
class _Request:
    audio: np.ndarray
    due: float
    result: asyncio.Future[Transcript]


class WhisperStt:
    name = "whisper"
    streaming = False
    max_batch = 8
    """Requests decoded together at most (CTranslate2 batch); more wait for the next batch."""

    def __init__(
        self,
        model_dir: Path,
        language: str | None = "en",
        *,
        compute_type: str = "int8",
        beam_size: int = 1,
        cpu_threads: int = 2,
        max_concurrency: int = 1,
        word_timestamps: bool = False,
        min_context_s: float = 10.0,
    ) -> None:
        self.model_dir = model_dir
        self.language = language
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.word_timestamps = word_timestamps
        self.min_context_s = min_context_s
        self.runner = BoundedRunner("stt-whisper", max_concurrency)
        self._model: Any = None
        self._prompt: list[int] = []
        self._pending: list[_Request] = []

    def load(self) -> None:
        from faster_whisper import WhisperModel

        if not (self.model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{self.model_dir} has no model.bin: not a CTranslate2 Whisper model directory")
        self._model = WhisperModel(
            str(self.model_dir), device="cpu", compute_type=self.compute_type, cpu_threads=self.cpu_threads
        )
        if self.language is not None:
            from faster_whisper.tokenizer import Tokenizer

            tok = Tokenizer(self._model.hf_tokenizer, True, task="transcribe", language=self.language)
            self._prompt = [*tok.sot_sequence, tok.no_timestamps]
        log.info("stt_loaded", engine="whisper", model=str(self.model_dir), compute_type=self.compute_type)

    def for_language(self, language: str) -> WhisperStt:
        """The same loaded model, decoding `language` ("tr"): a call in another language than the configured one.

        It shares the weights and the CPU slots (the runner) with this engine, so calls in two languages still
        queue for the same cores; it has its own prompt (the language token) and its own batch, since one
        CTranslate2 batch decodes with one prompt.
        """
        if self._model is None:
            raise RuntimeError("WhisperStt.load() was not called")
        twin = copy.copy(self)
        twin.language = language
        twin._pending = []
        from faster_whisper.tokenizer import Tokenizer

        tok = Tokenizer(self._model.hf_tokenizer, True, task="transcribe", language=language)
        twin._prompt = [*tok.sot_sequence, tok.no_timestamps]
        log.info("stt_language_view", engine="whisper", language=language)
        return twin

    def warmup(self) -> None:
        # Low noise, not a tone: a tone makes Whisper hallucinate to its length limit, and the
        # warm-up then costs seconds instead of one encoder + decoder pass.
        noise = np.random.default_rng(0).normal(0, 200, 8000).astype("<i2").tobytes()
        self.transcribe_blocking(noise)

    def transcribe_blocking(self, pcm: bytes) -> Transcript:
        if self._model is None:
            raise RuntimeError("WhisperStt.load() was not called")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        if self._prompt and not self.word_timestamps:
            return self._decode_batch([audio])[0]
        started = time.perf_counter()
        segments, info = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            word_timestamps=self.word_timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        texts: list[str] = []
        words: list[Word] = []
        for seg in segments:
            texts.append(seg.text.strip())
            words += [Word(w.word.strip(), w.start, w.end, w.probability) for w in seg.words or ()]
        log.debug("stt_done", engine="whisper", ms=round((time.perf_counter() - started) * 1000, 1),
                  audio_s=round(len(audio) / 16000, 2))  # fmt: skip
        return Transcript(" ".join(t for t in texts if t), True, tuple(words), info.language)

    def _decode_batch(self, audios: list[np.ndarray]) -> list[Transcript]:
        """Greedy decode over one mel window sized to the longest turn; a turn whose text loops is redone
        alone with the full window (and dropped if it loops there too)."""
        started = time.perf_counter()
        frames = max(context_frames(len(a), self.min_context_s) for a in audios)
        decoded = self._generate(audios, frames)
        out: list[Transcript] = []
        for audio, (text, ratio) in zip(audios, decoded, strict=True):
            if ratio > COMPRESSION_RATIO_MAX and frames < FULL_CONTEXT_FRAMES:
                log.info("stt_retry_full_context", engine="whisper", context_s=frames / 100, ratio=round(ratio, 2))
                text, ratio = self._generate([audio], FULL_CONTEXT_FRAMES)[0]
            out.append(Transcript("" if ratio > COMPRESSION_RATIO_MAX else text, True, (), self.language))
        log.debug("stt_done", engine="whisper", ms=round((time.perf_counter() - started) * 1000, 1),
                  audio_s=round(max(len(a) for a in audios) / 16000, 2), context_s=frames / 100,
                  batch=len(audios))  # fmt: skip
        return out

    def _generate(self, audios: list[np.ndarray], frames: int) -> list[tuple[str, float]]:
        import ctranslate2

        model = self._model
        mels = []
        for audio in audios:
            padded = np.zeros(frames * SAMPLES_PER_FRAME, dtype=np.float32)
            n = min(len(audio), len(padded))
            padded[:n] = audio[:n]
            mels.append(model.feature_extractor(padded)[:, :frames])
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(mels), dtype=np.float32))
        longest = min(max(len(a) for a in audios), frames * SAMPLES_PER_FRAME)
        max_new = min(220, 16 + int(longest / 16000 * 12))
        results = model.model.generate(
            features,
            [self._prompt] * len(audios),
            beam_size=self.beam_size,
            max_length=len(self._prompt) + max_new,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )
        vocab = model.hf_tokenizer.get_vocab_size()
        out: list[tuple[str, float]] = []
        for result in results:
            tokens = [t for t in result.sequences_ids[0] if t < vocab]
            text = model.hf_tokenizer.decode(tokens).strip()
            logprob = result.scores[0] / max(1, len(tokens) + 1)
            no_speech = result.no_speech_prob
            if no_speech > NO_SPEECH_CERTAIN or (no_speech > NO_SPEECH_PROB and logprob < LOGPROB_MIN):
                out.append(("", 0.0))
            else:
                out.append((text, compression_ratio(text)))
        return out

    async def transcribe(self, pcm: bytes) -> Transcript:
        """Decode one utterance, batched with whatever else is waiting when its turn for the slot comes."""
        if not self._prompt or self.word_timestamps:
            return await self.runner.run(self.transcribe_blocking, pcm)
        loop = asyncio.get_running_loop()
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        request = _Request(audio, current_due(), loop.create_future())
        self._pending.append(request)
        slot = asyncio.ensure_future(self._serve(request))
        try:
            await asyncio.wait({slot, request.result}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not slot.done():
                slot.cancel()  # served in another request's batch: no need for a slot of our own
            if request in self._pending:
                self._pending.remove(request)  # we were cancelled (the caller hung up)
        if slot.done() and not slot.cancelled() and slot.exception() is not None and not request.result.done():
            raise slot.exception()  # type: ignore[misc]
        return await request.result

    async def _serve(self, request: _Request) -> None:
        """Holding the slot: decode `request` and the earliest-due others waiting, as one batch."""
        async with self.runner.slot() as executor:
            if request not in self._pending:
                return  # taken along by another request's batch (its result is on the way): pass the slot on
            others = sorted((r for r in self._pending if r is not request), key=lambda r: r.due)
            batch = [request, *others[: self.max_batch - 1]]
            for r in batch:
                self._pending.remove(r)
            try:
                results = await asyncio.get_running_loop().run_in_executor(
                    executor, self._decode_batch, [r.audio for r in batch]
                )
            except Exception as exc:
                for r in batch:
                    if not r.result.done():
                        r.result.set_exception(exc)
                raise
            for r, transcript in zip(batch, results, strict=True):
                if not r.result.done():
                    r.result.set_result(transcript)

    def open_stream(self) -> WhisperStream:
        return WhisperStream(self)


class WhisperStream:
    """Buffers a call's utterance; `finish()` transcribes it. No partials (Whisper cannot)."""

    def __init__(self, engine: WhisperStt) -> None:
        self.engine = engine
        self._audio = bytearray()

    async def feed(self, pcm: bytes) -> list[Transcript]:
        self._audio += pcm
        return []

    async def finish(self) -> Transcript:
        pcm, self._audio = bytes(self._audio), bytearray()
        if not pcm:
            return Transcript("", True, (), self.engine.language)
        return await self.engine.transcribe(pcm)

    def reset(self) -> None:
        self._audio.clear()

    def close(self) -> None:
        self._audio.clear()

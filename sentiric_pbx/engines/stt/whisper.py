"""faster-whisper (CTranslate2) STT, utterance by utterance.

Whisper is not a streaming model: it hears the whole utterance the endpointer cut, and answers once.
On this 2-core CPU the bundled base model (int8) takes ~0.7 s for a short telephony-band utterance, so
it is the accurate choice, and Vosk the one that gives partials. It gets the same `SttStream`
interface (feed buffers, finish transcribes) so the dialog layer does not care which it has.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from sentiric_pbx.engines.base import Transcript, Word
from sentiric_pbx.engines.runner import BoundedRunner

log = structlog.get_logger("sentiric_pbx.stt")


class WhisperStt:
    name = "whisper"

    def __init__(
        self,
        model_dir: Path,
        language: str | None = "en",
        *,
        compute_type: str = "int8",
        beam_size: int = 1,
        cpu_threads: int = 2,
        max_concurrency: int = 1,
        word_timestamps: bool = True,
    ) -> None:
        self.model_dir = model_dir
        self.language = language
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.word_timestamps = word_timestamps
        self.runner = BoundedRunner("stt-whisper", max_concurrency)
        self._model: Any = None

    def load(self) -> None:
        from faster_whisper import WhisperModel

        if not (self.model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{self.model_dir} has no model.bin: not a CTranslate2 Whisper model directory")
        self._model = WhisperModel(
            str(self.model_dir), device="cpu", compute_type=self.compute_type, cpu_threads=self.cpu_threads
        )
        log.info("stt_loaded", engine="whisper", model=str(self.model_dir), compute_type=self.compute_type)

    def warmup(self) -> None:
        # Low noise, not a tone: a tone makes Whisper hallucinate to its length limit, and the
        # warm-up then costs seconds instead of one encoder + decoder pass.
        noise = np.random.default_rng(0).normal(0, 200, 8000).astype("<i2").tobytes()
        self.transcribe_blocking(noise)

    def transcribe_blocking(self, pcm: bytes) -> Transcript:
        if self._model is None:
            raise RuntimeError("WhisperStt.load() was not called")
        started = time.perf_counter()
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
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

    async def transcribe(self, pcm: bytes) -> Transcript:
        return await self.runner.run(self.transcribe_blocking, pcm)

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

"""Vosk streaming STT: one `KaldiRecognizer` per call on one shared `Model`.

Never `vosk.Model(lang=…)`: that downloads. The model directory comes from the model manager.

Warm-up: a fresh recognizer's first `AcceptWaveform` stalls ~650 ms (graph and i-vector set-up).
Paying that on a caller's first word is not acceptable, so the engine keeps a small pool of
recognizers that have each been fed ~1 s of noise and `Reset()`; a call takes one and gives it back
(reset) when it ends.

Frames are batched (`chunk_ms`, default 100 ms) before going to the engine thread: a thread hand-off
per 20 ms frame per call costs more than the recognition itself.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from sentiric_pbx.audio.frames import SAMPLE_RATE
from sentiric_pbx.engines.base import Transcript, Word
from sentiric_pbx.engines.runner import BoundedRunner

log = structlog.get_logger("sentiric_pbx.stt")


def _transcript(raw: str, final: bool, language: str | None) -> Transcript:
    data: dict[str, Any] = json.loads(raw or "{}")
    text = data.get("text", data.get("partial", ""))
    words = tuple(
        Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
        for w in data.get("result", data.get("partial_result", []))
    )
    return Transcript(text=text, final=final, words=words, language=language)


class VoskStt:
    name = "vosk"
    streaming = True

    def __init__(self, model_dir: Path, language: str | None = None, *, max_concurrency: int = 2,
                 chunk_ms: int = 100, warm_recognizers: int = 2) -> None:  # fmt: skip
        self.model_dir = model_dir
        self.language = language
        self.chunk_bytes = SAMPLE_RATE * 2 * chunk_ms // 1000
        self.runner = BoundedRunner("stt-vosk", max_concurrency)
        self._warm_target = warm_recognizers
        self._model: Any = None
        self._spare: deque[Any] = deque()

    def load(self) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        if not (self.model_dir / "am").is_dir() and not (self.model_dir / "conf").is_dir():
            raise FileNotFoundError(f"{self.model_dir} does not look like a Vosk model (no am/ or conf/)")
        self._model = vosk.Model(str(self.model_dir))
        log.info("stt_loaded", engine="vosk", model=str(self.model_dir))

    def _new_recognizer(self) -> Any:
        import vosk

        rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        rec.SetWords(True)
        rec.SetPartialWords(True)
        return rec

    def _warm(self, rec: Any) -> Any:
        noise = (np.random.default_rng(0).normal(0, 300, SAMPLE_RATE)).astype("<i2").tobytes()
        rec.AcceptWaveform(noise)
        rec.Reset()
        return rec

    def warmup(self) -> None:
        while len(self._spare) < self._warm_target:
            self._spare.append(self._warm(self._new_recognizer()))

    def acquire(self) -> Any:
        if self._spare:
            return self._spare.popleft()
        log.warning("stt_cold_recognizer", engine="vosk", hint="raise warm_recognizers for more concurrent calls")
        return self._warm(self._new_recognizer())

    def release(self, rec: Any) -> None:
        rec.Reset()
        if len(self._spare) < self._warm_target * 4:
            self._spare.append(rec)

    def open_stream(self) -> VoskStream:
        if self._model is None:
            raise RuntimeError("VoskStt.load() was not called")
        return VoskStream(self)

    async def transcribe(self, pcm: bytes) -> Transcript:
        stream = self.open_stream()
        try:
            await stream.feed(pcm)
            return await stream.finish()
        finally:
            stream.close()


class VoskStream:
    """A call's recognizer. Not shared: each call has its own."""

    def __init__(self, engine: VoskStt) -> None:
        self.engine = engine
        self._rec = engine.acquire()
        self._pending = bytearray()
        self._last_partial = ""

    def _accept(self, pcm: bytes) -> list[Transcript]:
        out: list[Transcript] = []
        if self._rec.AcceptWaveform(pcm):
            out.append(_transcript(self._rec.Result(), True, self.engine.language))
            self._last_partial = ""
        else:
            partial = _transcript(self._rec.PartialResult(), False, self.engine.language)
            if partial.text and partial.text != self._last_partial:
                self._last_partial = partial.text
                out.append(partial)
        return out

    async def feed(self, pcm: bytes) -> list[Transcript]:
        self._pending += pcm
        if len(self._pending) < self.engine.chunk_bytes:
            return []
        chunk, self._pending = bytes(self._pending), bytearray()
        return await self.engine.runner.run(self._accept, chunk)

    def _final(self, pcm: bytes) -> Transcript:
        if pcm:
            self._rec.AcceptWaveform(pcm)
        self._last_partial = ""
        return _transcript(self._rec.FinalResult(), True, self.engine.language)

    async def finish(self) -> Transcript:
        chunk, self._pending = bytes(self._pending), bytearray()
        return await self.engine.runner.run(self._final, chunk)

    def reset(self) -> None:
        self._pending.clear()
        self._rec.Reset()

    def close(self) -> None:
        if self._rec is not None:
            self.engine.release(self._rec)
            self._rec = None

"""Pipecat's Smart Turn v3 (ONNX, a Whisper-tiny encoder with a one-logit head): turn completion from audio.

What the model was trained on, and so what it must be fed (read from Pipecat's own inference code and the
model card, not guessed):

  * the last 8 s of the turn at 16 kHz, shorter turns padded with zeros *in front* (the end of the turn,
    where the answer is, always sits at the same place in the window);
  * the waveform normalised to zero mean and unit variance, then Whisper's 80-bin log-mel spectrogram
    (400-sample FFT, 160-sample hop: 800 frames for 8 s). faster-whisper's numpy `FeatureExtractor` computes
    exactly that (checked against Pipecat's to 2e-7), so no `transformers` is needed;
  * one input `input_features` (batch, 80, 800), one output: the sigmoid probability that the turn is
    complete. Pipecat calls > 0.5 complete; `[vad] turn_model_threshold` says what we call it.

Pipecat asks the model once the VAD has heard ~200 ms of silence, on the turn's audio up to that moment
(the pause included); dialog/turntaking.py does the same on our endpointer's pauses.

One inference costs ~45 ms on one core of this 2-core host (bench/turns.py prints it): ONNX Runtime runs
it on a single intra-op thread, so two calls asking at once each keep one core instead of fighting over two.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from sentiric_pbx.audio.frames import SAMPLE_RATE
from sentiric_pbx.engines.runner import BoundedRunner
from sentiric_pbx.engines.turn import WINDOW_S

log = structlog.get_logger("sentiric_pbx.turn")

WINDOW_SAMPLES = WINDOW_S * SAMPLE_RATE
MEL_BINS = 80
NORM_EPS = 1e-7
"""Added to the variance before normalising, as the model's own feature extractor does (silence stays finite)."""


def window(pcm: bytes) -> np.ndarray:
    """The turn's last `WINDOW_S` seconds as float32, zeros in front of a shorter turn."""
    samples = np.frombuffer(pcm, dtype="<i2")[-WINDOW_SAMPLES:].astype(np.float32) / 32768.0
    out = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    out[WINDOW_SAMPLES - len(samples) :] = samples
    return out


class SmartTurn:
    """`completion(pcm)` → P(complete). Load once per process (`EnginePool`); every call shares it."""

    name = "smart-turn-v3"

    def __init__(self, model_path: Path, *, max_concurrency: int = 2) -> None:
        self.model_path = model_path
        self.runner = BoundedRunner("turn", max_concurrency)
        self._session: Any = None
        self._features: Any = None

    def load(self) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        if not self.model_path.is_file():
            raise FileNotFoundError(f"turn model {self.model_path} does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        # ONNX Runtime's arena keeps the peak of every concurrent run for good (~40 MiB at 8 calls finishing
        # together); without it a run at a pause costs ~3 ms more of its ~45 ms.
        opts.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        self._features = FeatureExtractor(feature_size=MEL_BINS, chunk_length=WINDOW_S)
        log.info("turn_model_loaded", model=str(self.model_path))

    def warmup(self) -> None:
        # ONNX Runtime plans its kernels on the first run (~3x slower): not on a caller's pause.
        noise = np.random.default_rng(0).normal(0, 200, SAMPLE_RATE).astype("<i2").tobytes()
        self.completion_blocking(noise)

    def features(self, pcm: bytes) -> np.ndarray:
        """(1, 80, 800) log-mel features of the turn's last 8 s, as the model was trained on."""
        audio = window(pcm)
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + NORM_EPS)
        # padding=0: the window is already 8 s; the extractor's default pad would add an 801st frame.
        mel = self._features(audio, padding=0)[:, : WINDOW_S * 100]
        return np.ascontiguousarray(mel[None], dtype=np.float32)

    def completion_blocking(self, pcm: bytes) -> float:
        if self._session is None:
            raise RuntimeError("SmartTurn.load() was not called")
        started = time.perf_counter()
        (probability,) = self._session.run(None, {"input_features": self.features(pcm)})[0][0]
        log.debug("turn_model_ran", ms=round((time.perf_counter() - started) * 1000, 1),
                  audio_s=round(len(pcm) / 2 / SAMPLE_RATE, 2), probability=round(float(probability), 3))  # fmt: skip
        return float(probability)

    async def completion(self, pcm: bytes) -> float:
        return await self.runner.run(self.completion_blocking, pcm)

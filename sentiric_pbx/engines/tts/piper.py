"""Piper TTS (piper-tts 1.8): text → 16 kHz PCM, one chunk per sentence.

Is Piper safe to call from several threads? Yes, in 1.8: the espeak-ng phonemizer (the C library
that is *not* thread-safe) is guarded by a module-level lock inside piper.voice, and the ONNX
Runtime `InferenceSession.run` it calls is documented thread-safe. We still bound concurrency
(`[tts] max_concurrency`, default 1) because each run already uses all cores' intra-op threads:
two at once on two cores only make both slower. The synthesis runs in the engine's thread, so a
long sentence for one call delays other calls' *replies*, never their playout clocks.

Piper speaks at the voice's own rate (22 050 Hz for medium voices); soxr converts each sentence to
16 kHz in one pass (`audioop.ratecv` aliases audibly).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import structlog

from sentiric_pbx.audio.frames import SAMPLE_RATE
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.engines.runner import BoundedRunner
from sentiric_pbx.engines.tts.sentences import expand_abbreviations, split_sentences

log = structlog.get_logger("sentiric_pbx.tts")


LEAD_IN_LEVEL = 328
"""−40 dBFS: what the test caller (and a listener) counts as voice."""
LEAD_IN_KEEP_S = 0.01


def trim_lead_in(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Drop the near-silence VITS puts before the first phoneme (40–60 ms for the joe voice), keeping 10 ms.

    Every reply starts with it, so it is pure added latency on the wire; the pause *after* a sentence is
    kept, as it is the natural gap before the next one.
    """
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > LEAD_IN_LEVEL)
    if len(loud) == 0:
        return pcm
    start = max(0, int(loud[0]) - int(rate * LEAD_IN_KEEP_S))
    return pcm[start:]


class PiperTts:
    name = "piper"

    def __init__(
        self,
        model_path: Path,
        config_path: Path | None = None,
        *,
        max_concurrency: int = 1,
        length_scale: float = 1.0,
    ) -> None:
        self.model_path = model_path
        self.config_path = config_path
        self.length_scale = length_scale
        self.runner = BoundedRunner("tts", max_concurrency)
        self._voice = None
        self.language = "en"
        self.voice_rate = 22050

    def load(self) -> None:
        """Blocking: load the ONNX voice (≈0.7 s for a medium voice)."""
        from piper import PiperVoice, SynthesisConfig

        self._voice = PiperVoice.load(self.model_path, self.config_path)
        self._syn = SynthesisConfig(length_scale=self.length_scale)
        self.voice_rate = self._voice.config.sample_rate
        self.language = (self._voice.config.espeak_voice or "en").split("-")[0]
        log.info("tts_loaded", engine="piper", model=str(self.model_path), rate=self.voice_rate)

    def warmup(self) -> None:
        self.synthesize_blocking("Hello.")

    def synthesize_blocking(self, sentence: str) -> bytes:
        """One sentence → 16 kHz PCM. Runs in an engine thread."""
        if self._voice is None:
            raise RuntimeError("PiperTts.load() was not called")
        text = expand_abbreviations(sentence, self.language)
        chunks = [c.audio_int16_array for c in self._voice.synthesize(text, syn_config=self._syn)]
        if not chunks:
            return b""
        pcm = np.concatenate(chunks).astype("<i2", copy=False)
        return resample(trim_lead_in(pcm, self.voice_rate).tobytes(), self.voice_rate, SAMPLE_RATE)

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        for sentence in split_sentences(text):
            yield await self.synthesize_sentence(sentence)

    async def synthesize_sentence(self, sentence: str) -> bytes:
        return await self.runner.run(self.synthesize_blocking, sentence)

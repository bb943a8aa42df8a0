"""espeak-ng TTS: the offline voice for a language that has no Piper voice installed.

No Turkish Piper voice ships in any package a PBX host can reach offline; espeak-ng (Debian `espeak-ng`)
speaks some hundred languages, Turkish among them, from a few MB of rules. It sounds robotic, but a Turkish
caller answered in Turkish by a robotic voice is served; one answered in English by a natural voice is not.
`sentiric-pbx models pull tr_TR-dfki-medium` replaces it with a Piper voice for that language.

The `espeak-ng` program, not its C library: piper-tts loads the library in-process for phonemes only and
guards it with its own lock (the library is not thread-safe), so a second in-process user would have to
share that lock. A process per sentence costs ~30 ms and cannot corrupt anything. The text goes in on
stdin (`--stdin`), never on the command line, so a sentence starting with "-" is not an option. espeak-ng
writes a 22 050 Hz WAV on stdout; soxr converts it to the internal 16 kHz as for Piper.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator

import numpy as np
import structlog

from sentiric_pbx.audio.frames import SAMPLE_RATE
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.engines.runner import BoundedRunner
from sentiric_pbx.engines.tts.piper import trim_lead_in
from sentiric_pbx.engines.tts.sentences import expand_abbreviations, split_sentences

log = structlog.get_logger("sentiric_pbx.tts")

PROGRAM = "espeak-ng"
TIMEOUT_S = 10.0
"""One sentence takes ~30–80 ms; a program stuck for 10 s is broken, not slow."""


class EspeakError(RuntimeError):
    """espeak-ng is missing, has no voice for the language, or failed on a sentence."""


def espeak_voices(program: str = PROGRAM) -> set[str]:
    """The language codes espeak-ng has a voice for ("tr", "en-us", …), or an empty set without espeak-ng."""
    path = shutil.which(program)
    if path is None:
        return set()
    try:
        out = subprocess.run([path, "--voices"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    # "Pty Language Age/Gender VoiceName File Other Languages": the second column of each row.
    return {cols[1].lower() for line in out.splitlines()[1:] if len(cols := line.split()) > 1}


class EspeakTts:
    """One language's espeak-ng voice behind the TTS engine protocol (16 kHz PCM, one chunk per sentence)."""

    name = "espeak-ng"

    def __init__(self, language: str, *, speed_wpm: int = 150, max_concurrency: int = 1,
                 program: str = PROGRAM) -> None:  # fmt: skip
        self.language = language.replace("_", "-").lower()
        self.speed_wpm = speed_wpm
        self.program = program
        self.runner = BoundedRunner("tts", max_concurrency)
        self._path: str | None = None

    def load(self) -> None:
        """Blocking: find the program and check it has a voice for the language (its first word, "tr")."""
        path = shutil.which(self.program)
        if path is None:
            raise EspeakError(f"{self.program} is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
        voices = espeak_voices(path)
        if self.language not in voices and self.language.split("-")[0] not in voices:
            raise EspeakError(f"{self.program} has no voice for language {self.language!r}")
        self._path = path
        log.info("tts_loaded", engine="espeak-ng", language=self.language)

    def warmup(self) -> None:
        self.synthesize_blocking("1")

    def synthesize_blocking(self, sentence: str) -> bytes:
        """One sentence → 16 kHz PCM. Runs in an engine thread."""
        if self._path is None:
            raise RuntimeError("EspeakTts.load() was not called")
        text = expand_abbreviations(sentence, self.language.split("-")[0])
        try:
            done = subprocess.run(
                [self._path, "-v", self.language, "-s", str(self.speed_wpm), "--stdin", "--stdout"],
                input=text.encode(),
                capture_output=True,
                timeout=TIMEOUT_S,
                check=True,
            )
            with wave.open(io.BytesIO(done.stdout)) as wav:
                rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
            raise EspeakError(f"{self.program} failed on a sentence: {exc!r}") from exc
        pcm = np.frombuffer(frames, dtype="<i2")
        if len(pcm) == 0:
            return b""
        return resample(trim_lead_in(pcm, rate).tobytes(), rate, SAMPLE_RATE)

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        for sentence in split_sentences(text):
            yield await self.synthesize_sentence(sentence)

    async def synthesize_sentence(self, sentence: str) -> bytes:
        return await self.runner.run(self.synthesize_blocking, sentence)

"""Silero VAD as the endpointer's detector (`[vad] engine = "silero"`), on real speech and on line noise.

The model is bundled:silero-vad, imported from the installed pipecat-ai wheel (nothing is downloaded). The
speech is the repository's espeak sample (tests/test_vad.py), through the 8 kHz phone band.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from sentiric_pbx.audio.frames import FRAME_BYTES, SAMPLE_RATE
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.audio.silero import SileroEndpointer, SileroVad
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted, TurnEnded, TurnEvent
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings, VadConfig
from sentiric_pbx.dialog.bargein import BargeInDetector
from sentiric_pbx.dialog.listening import Listener
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.models import resolve_model
from sentiric_pbx.storage.recording import CallRecorder
from tests.test_vad import SPEECH, SPEECH_END_MS, SPEECH_ONSET_MS, _noise, _stream

LEAD_MS = 1000
VAD = VadConfig(engine="silero", end_of_turn_silence_ms=800)


@pytest.fixture(scope="module")
def silero(tmp_path_factory: pytest.TempPathFactory) -> SileroVad:
    vad = SileroVad(resolve_model("bundled:silero-vad", models_dir=tmp_path_factory.mktemp("models")))
    vad.load()
    return vad


def phone(pcm: bytes) -> bytes:
    return resample(resample(pcm, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)


def hum(ms: int, dbfs: float) -> np.ndarray:
    """Mains hum (50 Hz and harmonics), the noise a badly earthed line carries all call long."""
    t = np.arange(ms * SAMPLE_RATE // 1000) / SAMPLE_RATE
    sig = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3, 5))
    return (sig * 32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(sig**2))).astype("<i2")


def events(endpointer: Endpointer, pcm: bytes) -> list[TurnEvent]:
    out: list[TurnEvent] = []
    for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        out += endpointer.process(pcm[i : i + FRAME_BYTES])
    return out


def test_a_caller_s_turn_starts_near_their_first_word_and_ends_near_their_last(silero: SileroVad) -> None:
    line = phone(_stream(_noise(LEAD_MS, seed=1), SPEECH, _noise(1500, seed=2)))
    got = events(SileroEndpointer(VAD, stream=silero.stream()), line)
    starts = [e for e in got if isinstance(e, SpeechStarted)]
    ends = [e for e in got if isinstance(e, TurnEnded)]
    assert len(starts) == len(ends) == 1
    onset = LEAD_MS + SPEECH_ONSET_MS
    assert onset - 20 <= starts[0].at_ms <= onset + 200
    assert starts[0].at_ms - VAD.pre_roll_ms < onset  # the pre-roll still holds the first syllable
    assert abs(ends[0].last_voiced_ms - (LEAD_MS + SPEECH_END_MS)) <= 250


def test_hum_on_the_line_starts_no_turn_where_webrtcvad_hears_a_voice(silero: SileroVad) -> None:
    """The reason for the option: webrtcvad takes steady hum for voice (a turn that then never ends on the
    caller's silence); Silero does not."""
    line = phone(_stream(hum(4000, -30)))
    assert not events(SileroEndpointer(VAD, stream=silero.stream()), line)
    assert any(isinstance(e, SpeechStarted) for e in events(Endpointer(VadConfig()), line))


def test_clicks_start_no_turn(silero: SileroVad) -> None:
    pops = np.zeros(4 * SAMPLE_RATE)
    decay = np.exp(-np.arange(160) / 25.0)
    for at in np.arange(0.1, 3.9, 0.4):
        i = int(at * SAMPLE_RATE)
        pops[i : i + 160] += 8000 * decay
    assert not events(SileroEndpointer(VAD, stream=silero.stream()), phone(_stream(pops.astype("<i2"))))


async def test_the_pool_loads_it_only_when_configured(tmp_path: Path) -> None:
    settings = Settings()
    settings.models.dir = tmp_path
    settings.stt.engines = {}
    settings.vad.turn_model = "none"
    pool = EnginePool(settings)
    await pool.start(stt=True, tts=False, llm=False)
    assert pool.vad is None
    settings.vad.engine = "silero"
    pool = EnginePool(settings)
    await pool.start(stt=True, tts=False, llm=False)
    assert isinstance(pool.vad, SileroVad)
    assert pool.vad.stream().voiced(bytes(FRAME_BYTES * 2)) is False


async def test_a_listener_told_to_use_silero_without_it_refuses_rather_than_hear_with_webrtcvad() -> None:
    class NoFrames:
        async def frames(self):  # pragma: no cover - never reached
            yield b""

    listener = Listener(
        VAD,
        transport=NoFrames(),  # type: ignore[arg-type]
        recognizer=None,  # type: ignore[arg-type]
        bargein=BargeInDetector(),
        playback=None,  # type: ignore[arg-type]
        recorder=CallRecorder(),
        ctx=CallContext(call_id="silero"),
        utterances=asyncio.Queue(),
    )
    with pytest.raises(RuntimeError, match="silero"):
        await listener.run()

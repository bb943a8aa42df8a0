"""A Turkish call end to end (`sentiric-pbx demo --language tr`): the channel says "tr", as after the dialplan's
`Set(CHANNEL(language)=tr)`, and the caller is greeted and answered in Turkish, in the Turkish voice.

No Turkish Piper voice is installed here (none ships in any package), so the Turkish voice is espeak-ng's.
What the far end heard is checked on the waveform of the caller's own recording (tests/turkish_audio.py):
Whisper base cannot read espeak-ng's Turkish back.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.brain import PHRASES
from sentiric_pbx.engines.tts.espeak import EspeakTts
from sentiric_pbx.engines.tts.sentences import split_sentences
from sentiric_pbx.tools.demo import run_demo
from tests.turkish_audio import heard_said

pytestmark = pytest.mark.asyncio(loop_scope="module")

GREETING = "Merhaba! Ahmet Bey, tekrar hoş geldiniz. Size nasıl yardımcı olabilirim?"


def settings_in(tmp: Path) -> Settings:
    s = Settings()
    s.models.dir = tmp / "models"  # no tr_TR Piper voice: espeak-ng speaks Turkish
    s.storage.db_path = tmp / "sentiric.db"
    s.storage.archive_dir = tmp / "archive"
    s.dialog.no_input_reprompt_s = 30.0
    return s


def agent_side(path: Path) -> tuple[bytes, int]:
    """The agent's channel of the caller's stereo recording: what the far end heard."""
    with wave.open(str(path), "rb") as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return frames[1::2].tobytes(), wav.getframerate()


async def test_a_tr_channel_is_greeted_and_answered_in_turkish_by_the_turkish_voice(tmp_path: Path) -> None:
    result = await run_demo(settings_in(tmp_path), tmp_path / "caller-side.wav", language="tr")
    ctx = result.context
    assert ctx is not None and ctx.language == "tr"
    agent_lines = [t.text for t in ctx.turns if t.who == "agent"]
    assert agent_lines[0] == GREETING  # the CRM knows Ahmet Yilmaz as "Mr.": "Ahmet Bey" in Turkish
    assert len(agent_lines) >= 2, "the agent never answered the caller"
    english = set(PHRASES["en"].values())
    assert not any(line in english or "appointment" in line or "Hello" in line for line in agent_lines)

    heard, rate = agent_side(tmp_path / "caller-side.wav")
    voice = EspeakTts("tr")
    voice.load()

    def said(sentence: str) -> bytes:
        return resample(voice.synthesize_blocking(sentence), 16000, rate)

    # The greeting and the agent's answer to the caller's first turn, in the Turkish voice, on the wire.
    for line in (agent_lines[0], agent_lines[1]):
        last = split_sentences(line)[-1]
        assert heard_said(heard, said(last), rate) > 0.8, (last, heard_said(heard, said(last), rate))
    # …and not something else: a sentence the agent never said, in the same voice, does not match.
    assert heard_said(heard, said("Randevunuz iptal edildi, iyi günler dileriz."), rate) < 0.6

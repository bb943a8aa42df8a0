"""Extension 110 on a real Asterisk: the project dialplan's `Set(CHANNEL(language)=tr)` makes a Turkish call.

Asterisk hands the channel's language to the daemon over FastAGI (`agi_language`); the caller (in the CRM as
"Mr. Ahmet Yilmaz", no language of his own) is greeted "Merhaba! Ahmet Bey, tekrar hoş geldiniz." and
answered in Turkish, in the Turkish voice (espeak-ng's here: no Turkish Piper voice is installed). The same
caller on extension 100 (channel language Asterisk's default "en") is greeted in English: the dialplan, not
the caller, decided. What the far end heard is matched on the waveform (tests/turkish_audio.py), since
Whisper base cannot read espeak-ng's Turkish back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.engines.tts.sentences import split_sentences
from sentiric_pbx.tools.caller import CallerOptions
from tests.pbx.conftest import agent_settings, dial, finished_calls, heard, running
from tests.turkish_audio import heard_said

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPTIONS = CallerOptions(rate=8000, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5)


async def test_extension_110_greets_and_answers_in_turkish_in_the_turkish_voice(
    pbx, ami, farend, engines, models_dir, tmp_path: Path
) -> None:
    turkish = engines.tts_for("tr")
    assert turkish.name == "espeak-ng"

    async def said(sentence: str) -> bytes:
        return resample(await turkish.synthesize_sentence(sentence), 16000, 8000)  # type: ignore[attr-defined]

    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        await daemon.assistant.s.crm.add_customer("+905551112233", "Ahmet Yilmaz", title="Mr.")
        call = await dial(ami, farend, "110")
        report = await call.converse([await said("Evet, lütfen.")], OPTIONS)
        tr_audio = b"".join(pcm for _t, pcm, _v in call.wire.received)
        await call.hang_up()
        english = await dial(ami, farend, "100")
        await english.converse([], OPTIONS)
        en_audio = b"".join(pcm for _t, pcm, _v in english.wire.received)
        await english.hang_up()
        calls = await finished_calls(daemon, count=2)

    tr_call = next(c for c in calls if c.language == "tr")
    en_call = next(c for c in calls if c is not tr_call)
    assert en_call.language == "en"
    assert report.greeting_latency_ms is not None, "the far end heard no greeting"
    assert report.turns[0].latency_ms is not None, "the agent never answered the caller's turn"

    agent_lines = [t.text for t in tr_call.turns if t.who == "agent"]
    assert agent_lines[0].startswith("Merhaba! Ahmet Bey, tekrar hoş geldiniz.")
    assert len(agent_lines) >= 2
    # The far end heard the greeting and the answer in the Turkish voice…
    for line in agent_lines[:2]:
        last = split_sentences(line)[-1]
        score = heard_said(tr_audio, await said(last), 8000)
        assert score > 0.8, (last, score)
    # …and a sentence the agent did not say, in the same voice, does not match (the check can fail).
    assert heard_said(tr_audio, await said("Randevunuz iptal edildi, iyi günler dileriz."), 8000) < 0.6
    # Extension 100, same caller, Asterisk's default channel language: English, in the English voice.
    words = await heard(engines, en_audio, 8000)
    assert "welcome back" in words, words
    assert heard_said(en_audio, await said("Size nasıl yardımcı olabilirim?"), 8000) < 0.6

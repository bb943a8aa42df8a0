"""A call's language (dialplan, CRM, number, default), and the engines that follow it: espeak-ng's Turkish
voice when no Turkish Piper voice is installed, Whisper decoding Turkish with the bundled weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.config import LanguageConfig, Settings
from sentiric_pbx.dialog.brain import PHRASES
from sentiric_pbx.dialog.greeting import _HELLO, _TEMPLATES, greeting_text
from sentiric_pbx.dialog.language import SPOKEN, call_language
from sentiric_pbx.dialog.responder import HELP
from sentiric_pbx.dialog.tasks.phrases import PHRASES as TASK_PHRASES
from sentiric_pbx.dialog.tasks.speech import lang_of
from sentiric_pbx.doctor import check_voices
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.engines.stt.whisper import WhisperStt
from sentiric_pbx.engines.tts.espeak import EspeakError, EspeakTts
from sentiric_pbx.engines.tts.sentences import expand_abbreviations
from sentiric_pbx.integrations.crm.base import CustomerProfile
from tests.turkish_audio import best_match

# -- which language ------------------------------------------------------------------------------


def decide(cfg: LanguageConfig, channel: str | None = None, crm: str | None = None, called: str | None = None,
           caller: str | None = None) -> tuple[str, str]:  # fmt: skip
    got = call_language(cfg, channel=channel, crm=crm, called_number=called, caller_e164=caller)
    return got.code, got.source


def test_the_dialplan_wins_when_it_set_a_language() -> None:
    cfg = LanguageConfig(numbers={"+90": "tr"})
    assert decide(cfg, channel="tr", crm="en", caller="+905551112233") == ("tr", "dialplan")
    assert decide(cfg, channel="tr_TR") == ("tr", "dialplan")


def test_asterisks_default_channel_language_is_not_a_choice() -> None:
    """Every Asterisk channel reports "en" unless set: that must not hide the CRM's or the number's language."""
    cfg = LanguageConfig(numbers={"+90": "tr"})
    assert decide(cfg, channel="en", crm="tr") == ("tr", "crm")
    assert decide(cfg, channel="en", caller="+905551112233") == ("tr", "number")
    assert decide(LanguageConfig(pbx_default=""), channel="en", crm="tr") == ("en", "dialplan")


def test_numbers_exact_called_number_then_longest_caller_prefix() -> None:
    cfg = LanguageConfig(numbers={"5002": "tr", "+90": "tr", "+9021": "en"})
    assert decide(cfg, called="5002", caller="+442071234567") == ("tr", "number")
    assert decide(cfg, caller="+905551112233") == ("tr", "number")
    assert decide(cfg, caller="+902121234567") == ("en", "number")
    assert decide(cfg, called="5001", caller="+442071234567") == ("en", "default")
    assert decide(LanguageConfig(default="tr")) == ("tr", "default")


def test_a_language_we_have_no_words_for_falls_through() -> None:
    assert decide(LanguageConfig(), channel="de", crm="tr") == ("tr", "crm")
    assert decide(LanguageConfig(default="ko"), channel="de") == ("en", "default")


def test_a_language_with_its_own_stt_engine_is_heard_in_it() -> None:
    """[stt] engines.ko = "vosk": a "ko" channel is heard by the Korean model (answered with English words)."""
    got = call_language(LanguageConfig(), channel="ko", crm=None, called_number=None, caller_e164=None, heard=["ko"])
    assert (got.code, got.source) == ("ko", "dialplan")


def test_every_phrase_exists_in_every_spoken_language() -> None:
    for lang in SPOKEN:
        assert set(PHRASES[lang]) == set(PHRASES["en"])
        assert set(TASK_PHRASES[lang]) == set(TASK_PHRASES["en"])
        assert set(_TEMPLATES[lang]) == set(_TEMPLATES["en"]) and lang in _HELLO
        assert lang in HELP and lang_of(lang) == lang


def test_the_turkish_greeting_is_the_seeds() -> None:
    ahmet = CustomerProfile(customer_id="1", name="Ahmet Yilmaz", phone="+905551112233", title="Mr.")
    assert greeting_text(ahmet, "the clinic", "tr").startswith("Merhaba! Ahmet Bey, tekrar hoş geldiniz.")
    assert "the clinic" not in greeting_text(None, "the clinic", "tr")


def test_turkish_times_are_said_as_people_say_them() -> None:
    said = expand_abbreviations("Elbette, yarın saat 15:00 ya da 16:30 uygun mu?", "tr")
    assert said == "Elbette, yarın saat 15 ya da 16:30 uygun mu?"
    assert (
        expand_abbreviations("Pazartesi–Cuma günleri 09:00–17:00 arası açığız.", "tr")
        == "Pazartesi ile Cuma günleri 9 ile 17 arası açığız."
    )
    assert expand_abbreviations("e-posta", "tr") == "e-posta"
    assert expand_abbreviations("Saat 09:30.", "tr") == "Saat 9:30."
    assert expand_abbreviations("at 15:00", "en") == "at 15:00"


# -- espeak-ng, the voice of a language without a Piper voice --------------------------------------


def test_espeak_speaks_turkish_in_the_internal_format() -> None:
    tts = EspeakTts("tr")
    tts.load()
    pcm = tts.synthesize_blocking("Merhaba, size nasıl yardımcı olabilirim?")
    seconds = len(pcm) / 2 / 16000
    assert 1.0 < seconds < 6.0
    # Deterministic: the same sentence is the same audio (what the call tests' waveform match relies on).
    assert best_match(pcm, tts.synthesize_blocking("Merhaba, size nasıl yardımcı olabilirim?")) > 0.99
    assert best_match(pcm, tts.synthesize_blocking("Evet, lütfen.")) < 0.5


def test_espeak_text_is_never_an_option() -> None:
    tts = EspeakTts("tr")
    tts.load()
    pcm = tts.synthesize_blocking("--help")
    assert len(pcm) > 16000 * 2 * 0.2  # spoken ("tire tire help"), not espeak-ng's usage text on stdout


def test_espeak_refuses_a_language_it_has_no_voice_for() -> None:
    with pytest.raises(EspeakError, match="no voice"):
        EspeakTts("xx").load()
    with pytest.raises(EspeakError, match="not installed"):
        EspeakTts("tr", program="espeak-ng-not-here").load()


# -- the pool: a voice and an ear per language -----------------------------------------------------


@pytest.fixture
def pool(engines: EnginePool) -> EnginePool:
    """The session's pool on the default settings: [tts] voices.tr names the Turkish Piper voice, which is in
    no package and so not installed (replaced by the fallback engine)."""
    assert engines.settings.tts.voices == {"tr": "tr_TR-dfki-medium"}
    return engines


@pytest.mark.asyncio(loop_scope="module")
async def test_without_a_turkish_piper_voice_turkish_calls_get_espeak(pool: EnginePool) -> None:
    assert pool.tts_for("tr").name == "espeak-ng"
    assert pool.tts_for("tr_TR").name == "espeak-ng"
    assert pool.tts_for("en").name == "piper"
    assert pool.tts_for(None).name == "piper"


@pytest.mark.asyncio(loop_scope="module")
async def test_whisper_hears_a_turkish_call_in_turkish_with_the_same_weights(pool: EnginePool) -> None:
    english, turkish = pool.stt_for("en"), pool.stt_for("tr")
    assert isinstance(english, WhisperStt) and isinstance(turkish, WhisperStt)
    assert (english.language, turkish.language) == ("en", "tr")
    assert turkish._model is english._model and turkish.runner is english.runner
    assert pool.stt_for("tr") is turkish  # one view per language, not one per call
    voice = pool.tts_for("tr")
    phone = resample(resample(await voice.synthesize_sentence("Evet, lütfen."), 16000, 8000), 8000, 16000)  # type: ignore[attr-defined]
    heard = (await turkish.transcribe(phone)).text
    assert re.search(r"\blütfen\b", heard.lower()), heard  # espeak-ng's "evet" is often heard as "emeh"


async def test_the_shipped_turkish_fallback_is_said_once_at_info_not_warned(tmp_path: Path, logs) -> None:
    """Out of the box tr_TR-dfki-medium is not installed and espeak-ng speaks Turkish: that is how it ships,
    so a daemon start must not warn about it (an admin who sees a warning on every start learns to ignore them)."""
    settings = Settings()
    settings.models.dir = tmp_path
    engines = EnginePool(settings)
    await engines.start(stt=False, tts=True, llm=False)
    missing = [e for e in logs if e["event"] == "tts_voice_missing"]
    assert [(e["log_level"], e["language"], e["using"]) for e in missing] == [("info", "tr", "espeak-ng")]
    assert "models pull tr_TR-dfki-medium" in str(missing[0]["fix"])
    assert not [e for e in logs if e["log_level"] in ("warning", "error")], logs


def test_doctor_says_turkish_calls_use_espeak_until_the_piper_voice_is_pulled(tmp_path: Path) -> None:
    settings = Settings()
    settings.models.dir = tmp_path
    [check] = check_voices(settings)
    assert (check.name, check.status) == ("model tts.tr", "ok")
    assert "spoken by espeak-ng's voice (better: sentiric-pbx models pull tr_TR-dfki-medium)" in check.detail
    settings.tts.fallback = "none"
    [check] = check_voices(settings)
    assert check.status == "warn" and "spoken by the default voice" in check.detail


@pytest.mark.asyncio(loop_scope="module")
async def test_a_configured_piper_voice_speaks_its_language(tmp_path: Path) -> None:
    """[tts] voices.tr names a Piper voice that is installed: Turkish calls get that Piper voice, not espeak-ng.
    (No Turkish Piper voice is installable here; the bundled English one stands in for the mechanics.)"""
    settings = Settings()
    settings.models.dir = tmp_path
    settings.tts.voices = {"tr": "bundled:en_US-joe-medium"}
    engines = EnginePool(settings)
    await engines.start(stt=False, tts=True, llm=False)
    assert engines.tts_for("tr").name == "piper" and engines.tts_for("tr") is not engines.tts

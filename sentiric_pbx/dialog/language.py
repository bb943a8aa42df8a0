"""The language a call is held in, decided once before the first word: dialplan, CRM, number, default.

Everything the caller hears and everything we hear from them follows it: the STT engine (Whisper told
the language, not guessing it per turn), the NLU, the task templates and greeting, and the TTS voice. It
is decided before the session starts because the first thing said, the greeting, is already in it.

Only a language we have words for can win (`SPOKEN`: the greeting, the task phrases and the brain's
phrases all exist in it), or one the admin gave its own STT engine (`[stt] engines.ko = "vosk"`: heard in
Korean, answered with the English words, as before languages were decided here). A channel set to "de" on
a host with neither falls through to the next source with one log line, rather than a German ear and an
English mouth.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import structlog

from sentiric_pbx.config import LanguageConfig

log = structlog.get_logger("sentiric_pbx.language")

SPOKEN = ("en", "tr")
"""Languages the agent can hold a call in (its templates exist in each; tests check every template)."""

Source = Literal["dialplan", "crm", "number", "default"]


@dataclass(frozen=True, slots=True)
class CallLanguage:
    code: str
    """"en", "tr": the short code every stage uses."""
    source: Source
    """Which setting decided it: logged with the call, so an admin can see why a call was in Turkish."""


def short_code(language: str | None) -> str:
    """ "tr_TR", "tr-TR", "TR" → "tr"; None or "" → ""."""
    return (language or "").strip().replace("_", "-").split("-")[0].lower()


def _by_number(cfg: LanguageConfig, called: str | None, caller_e164: str | None) -> str | None:
    if called and called in cfg.numbers:
        return cfg.numbers[called]
    if caller_e164:
        prefixes = [p for p in cfg.numbers if p.startswith("+") and caller_e164.startswith(p)]
        if prefixes:
            return cfg.numbers[max(prefixes, key=len)]
    return None


def call_language(
    cfg: LanguageConfig,
    *,
    channel: str | None,
    crm: str | None,
    called_number: str | None,
    caller_e164: str | None,
    heard: Collection[str] = (),
    call_id: str = "",
) -> CallLanguage:
    """The first of dialplan (when not the PBX default), CRM, number, default that we speak (or, for `heard`
    languages, at least hear with an engine of their own)."""
    dialplan = short_code(channel)
    if dialplan == short_code(cfg.pbx_default) and cfg.pbx_default:
        dialplan = ""
    candidates: list[tuple[Source, str]] = [
        ("dialplan", dialplan),
        ("crm", short_code(crm)),
        ("number", short_code(_by_number(cfg, called_number, caller_e164))),
        ("default", short_code(cfg.default)),
    ]
    for source, code in candidates:
        if not code:
            continue
        if code in SPOKEN or code in heard:
            return CallLanguage(code, source)
        log.warning("call_language_unsupported", call_id=call_id, source=source, language=code, spoken=SPOKEN)
    return CallLanguage("en", "default")

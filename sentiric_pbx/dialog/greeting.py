"""The greeting (seed §2.3): by name for a known caller, plainly for anyone else.

The caller judges the agent by its first word, so the greeting is built to be fast: it opens with
"Hello!", which every greeting shares and which is synthesized once at start-up and cached, so the
first audio goes out as soon as the call connects; the personal part ("Mr. Yilmaz, welcome back…")
is synthesized while "Hello!" plays. For a known caller it may instead be what a model wrote after
their last call (dialog/next_greeting.py, read with the CRM lookup into `WRITTEN`), checked then and
said after the same cached "Hello!"; otherwise, and for everyone else, this template.
"""

from __future__ import annotations

from sentiric_pbx.integrations.crm.base import CustomerProfile

_TEMPLATES = {
    "en": {
        "known": "Hello! {address}, welcome back to {business}. How can I help you today?",
        "unknown": "Hello! Thank you for calling {business}. How can I help you?",
    },
    "tr": {
        # Without the business name: `[business] name` is one string, usually English ("the clinic"),
        # and "the clinic hattına" is neither language. The seed's own words: "Merhaba Ahmet Bey, tekrar
        # hoş geldiniz".
        "known": "Merhaba! {address}, tekrar hoş geldiniz. Size nasıl yardımcı olabilirim?",
        "unknown": "Merhaba! Aradığınız için teşekkürler. Size nasıl yardımcı olabilirim?",
    },
}


def address(profile: CustomerProfile, language: str) -> str:
    """How to address the caller: "Mr. Yilmaz" in English, "Ahmet Bey" in Turkish, else the first name."""
    parts = profile.name.split()
    first, last = (parts[0], parts[-1]) if parts else (profile.name, profile.name)
    title = (profile.title or "").strip()
    if language == "tr":
        suffix = {"bay": "Bey", "mr.": "Bey", "mr": "Bey", "bayan": "Hanım", "ms.": "Hanım", "mrs.": "Hanım"}
        return f"{first} {suffix[title.lower()]}" if title.lower() in suffix else first
    if title:
        return f"{title} {last}"
    return first


WRITTEN = "sentiric_next_greeting"
"""The key in `CustomerProfile.extra` that carries a stored, model-written greeting for this call."""
_HELLO = {"en": "Hello!", "tr": "Merhaba!"}


def greeting_text(profile: CustomerProfile | None, business: str, language: str = "en") -> str:
    templates = _TEMPLATES.get(language, _TEMPLATES["en"])
    if profile is None or not profile.name.strip():
        return templates["unknown"].format(business=business)
    written = profile.extra.get(WRITTEN)
    if isinstance(written, str) and written.strip():
        return f"{_HELLO.get(language, _HELLO['en'])} {written.strip()}"
    return templates["known"].format(address=address(profile, language), business=business)

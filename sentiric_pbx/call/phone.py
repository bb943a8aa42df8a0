"""Phone numbers as the call record keeps them: E.164, or a PBX extension as dialled.

Every path that stores or looks up a caller (the session, the CRM, post-call) normalises the same way,
or a known caller is a stranger on the next call.
"""

from __future__ import annotations

import re

INTERNAL_EXTENSION_MAX_DIGITS = 6
"""A caller ID of at most this many digits, without a + or 00 prefix, is a PBX extension ("1001"): no
national number is that short (E.164 national significant numbers have 7 or more digits)."""


def normalize_e164(number: str | None, default_country_code: str = "90") -> str | None:
    """Caller ID → E.164 ("+905551112233"), or an internal extension as dialled ("1001"). None for
    anonymous/unknown numbers.

    Asterisk hands us whatever the trunk sent: "+90 555 111 22 33", "05551112233", "905551112233",
    "00905551112233". Lookups by phone number only work if every path normalises the same way. A phone on
    the PBX itself calls from its extension; prefixing that with the country code would make it a
    different, fake international number ("+901001").
    """
    if not number:
        return None
    digits = re.sub(r"[^\d+]", "", number)
    if not digits or digits.lower() in {"anonymous", "unknown"}:
        return None
    if digits.isdigit() and not digits.startswith("0") and len(digits) <= INTERNAL_EXTENSION_MAX_DIGITS:
        return digits
    if digits.startswith("+"):
        rest = digits[1:]
    elif digits.startswith("00"):
        rest = digits[2:]
    elif digits.startswith("0"):
        rest = default_country_code + digits[1:]
    elif len(digits) <= 10:
        rest = default_country_code + digits
    else:
        rest = digits
    rest = re.sub(r"\D", "", rest)
    return f"+{rest}" if 6 <= len(rest) <= 15 else None

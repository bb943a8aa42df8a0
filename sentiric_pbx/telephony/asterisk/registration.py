"""The key that binds a FastAGI registration to a call Asterisk really has.

The dialplan computes `SHA1(<secret><uuid>)` with Asterisk's own `SHA1()` function, the secret read from
AstDB (`${DB(sentiric/agi_secret)}`), and passes the hex digest as the AGI's third argument; we compute
the same from `[fastagi] secret` and the UUID in the first argument. A peer without the secret cannot make
a key for a UUID, and a key seen in Asterisk's verbose log is worth nothing: it names one UUID, which
Asterisk registered first (the first registration wins, `CallRegistry.register`).

Why SHA1 of secret-then-UUID and not an HMAC: Asterisk's dialplan has SHA1() and no HMAC function, and the
dialplan is where the key must be made. The usual weakness of a bare hash key, length extension, gives an
attacker only digests of the UUID followed by SHA1 padding and more bytes, which is not a UUID, and the UUID
is parsed strictly before the key is looked at. The comparison is constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

from pydantic import SecretStr


class Verdict(enum.Enum):
    VERIFIED = "verified"
    """The key matches: the caller ID and channel are Asterisk's."""
    UNVERIFIED = "unverified"
    """No secret is configured: the registration is taken, without the caller's identity."""
    MISSING_KEY = "missing_key"
    WRONG_KEY = "wrong_key"

    @property
    def refusal(self) -> str | None:
        """The reason the registration is refused (the metric's label), or None when it is taken."""
        return self.value if self in (Verdict.MISSING_KEY, Verdict.WRONG_KEY) else None


def registration_key(secret: str, call_uuid: str) -> str:
    """What `${SHA1(${DB(sentiric/agi_secret)}${UUID})}` gives in the dialplan (lower-case hex)."""
    return hashlib.sha1((secret + call_uuid).encode()).hexdigest()


def check_registration(secret: SecretStr | None, call_uuid: str, key: str) -> Verdict:
    """`call_uuid` exactly as the dialplan passed it (`agi_arg_1`), `key` as it passed it (`agi_arg_3`)."""
    if secret is None:
        return Verdict.UNVERIFIED
    key = key.strip().lower()
    if not key:
        return Verdict.MISSING_KEY
    expected = registration_key(secret.get_secret_value(), call_uuid)
    return Verdict.VERIFIED if hmac.compare_digest(expected, key) else Verdict.WRONG_KEY


def refusal_problem(refused: str | None, *, ami_enabled: bool) -> str | None:
    """What `SENTIRIC_REFUSED` on a call's channel (set by FastAGI, agi.py) means for the admin, in one line;
    None unless the key was refused. `selftest` reports it: the call itself works, anonymously, and its own
    empty caller ID would otherwise let a PBX whose AstDB secret differs from `[fastagi] secret` PASS."""
    if refused not in ("wrong_key", "missing_key"):
        return None
    what = (
        "the dialplan's key does not match [fastagi] secret (AstDB sentiric/agi_secret holds another secret)"
        if refused == "wrong_key"
        else "the dialplan passes no key: the AGI's third argument must be ${SHA1(${DB(sentiric/agi_secret)}${UUID})}"
        " (asterisk/extensions.conf)"
    )
    effect = (
        "calls take their caller ID from AMI instead, and every one logs fastagi_registration_refused"
        if ami_enabled
        else "calls are answered but anonymously (no caller ID, no greeting by name)"
    )
    return (
        f"registration refused ({refused}): {what}; {effect}: set the same secret on both sides, "
        "asterisk -rx 'database put sentiric agi_secret <the [fastagi] secret>'"
    )

"""`[console]`: the admin's web console (sentiric_pbx/console/), served by the daemon."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, model_validator

from sentiric_pbx.config.base import _Section

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; a wildcard ("0.0.0.0", "::", "") is every address, not loopback."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class ConsoleConfig(_Section):
    """Live calls, past calls with their audio, transcript and timing, in a browser. Read-only.

    Recordings and transcripts are personal data: beyond loopback the console needs a token, and with a
    token set every request must carry it (`Authorization: Bearer …`, or once `?token=…`, which sets a cookie).
    """

    enabled: bool = True
    """Serve the console. Defaults to true (on loopback only)."""
    host: str = "127.0.0.1"
    """Listen address. Anything but loopback needs `token`. Defaults to 127.0.0.1."""
    port: int = Field(8095, ge=0, le=65535)
    """Defaults to 8095."""
    token: SecretStr | None = None
    """The shared secret every request must carry when set; required off loopback. Put it in the environment
    (`SENTIRIC_CONSOLE__TOKEN`) or a 0640 config file. Never logged."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names the console answers to besides its listen address and the loopback names (a name a
    page was loaded under; stops DNS rebinding). Defaults to none."""

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> ConsoleConfig:
        if self.enabled and not is_loopback(self.host) and not self.has_token:
            raise ValueError(
                f"the console would serve recordings and transcripts on {self.host or 'every address'} without "
                "a token: set [console] token (or SENTIRIC_CONSOLE__TOKEN), or host = \"127.0.0.1\""
            )
        return self

    @property
    def has_token(self) -> bool:
        return self.token is not None and bool(self.token.get_secret_value())

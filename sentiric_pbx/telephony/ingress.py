"""The seam between the daemon and each extra way in (Twilio, WebRTC, FreeSWITCH).

AudioSocket is the daemon's own listener; every other ingress is an optional edge that turns its wire
into a `CallTransport` and hands it to the same agent. The daemon only needs to start it, drain it on
SIGTERM, close it and count its calls, so that is all this protocol asks for.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from sentiric_pbx.call.agent import Agent
from sentiric_pbx.config import Settings
from sentiric_pbx.telephony.registry import CallRegistry


@runtime_checkable
class Ingress(Protocol):
    name: str

    async def start(self) -> None:
        """Bind every listener (port 0 → the real port is readable afterwards) or raise."""
        ...

    async def drain(self, timeout_s: float) -> int:
        """Refuse new calls, wait up to `timeout_s` for the active ones; return how many are left."""
        ...

    async def close(self) -> None:
        """End every call (each stored as its agent decides) and release the listeners."""
        ...

    @property
    def calls_active(self) -> int: ...


# config section name → "module:class"; imported only when enabled, so a missing optional
# dependency (aiortc, say) only matters to the admin who turned that ingress on.
INGRESSES: dict[str, str] = {
    "twilio": "sentiric_pbx.telephony.twilio.ingress:TwilioIngress",
    "webrtc": "sentiric_pbx.telephony.webrtc.ingress:WebRtcIngress",
    "freeswitch": "sentiric_pbx.telephony.freeswitch.ingress:FreeswitchIngress",
}


def build_ingresses(settings: Settings, agent: Agent, registry: CallRegistry) -> list[Ingress]:
    """The enabled ingresses, constructed (not started). Each takes `(settings, agent, registry)`."""
    built: list[Ingress] = []
    for section, target in INGRESSES.items():
        if not getattr(settings, section).enabled:
            continue
        module_name, cls_name = target.split(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        built.append(cls(settings, agent, registry))
    return built

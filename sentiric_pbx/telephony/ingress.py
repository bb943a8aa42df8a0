"""Every way a call reaches the agent, in one table the daemon starts from.

An ingress turns its wire into `CallTransport`s and runs each call's life with `lifecycle.CallLife`; the
daemon only starts it, drains it on SIGTERM, closes it, counts its calls and reports where it listens.
`INGRESSES` is the whole list, in start order: FastAGI before AudioSocket (a registration must have
somewhere to go), AMI and ARI after AudioSocket (they attach to it: caller metadata and transfers for
its calls; AudioSocket externalMedia). Drains run in the same order, so FastAGI refuses new calls first
and the dialplan plays its "no service" branch instead of reaching a listener that is going away; stops
run in reverse.

Adding an ingress: a package under `telephony/` whose module has `build(ctx) -> Ingress`, and one line
here. Each is imported only when enabled, so a missing optional dependency (aiortc, say) only matters to
the admin who turned that ingress on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sentiric_pbx.call.agent import Agent
from sentiric_pbx.config import Settings
from sentiric_pbx.telephony.lifecycle import Capacity
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

    def listeners(self) -> dict[str, tuple[str, int]]:
        """Listener name → (host, bound port), for /healthz (read once after start)."""
        ...


@dataclass(slots=True)
class IngressContext:
    """What an ingress is built from; `built` holds the ingresses started before it, by name."""

    settings: Settings
    agent: Agent
    registry: CallRegistry
    capacity: Capacity
    """The daemon's lines (`[agent] max_calls`), shared by the calls of every ingress."""
    built: dict[str, Ingress] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngressSpec:
    name: str
    enabled: Callable[[Settings], bool]
    factory: str
    """"module:function", the function taking an `IngressContext` and returning the (unstarted) ingress."""

    def build(self, ctx: IngressContext) -> Ingress:
        module_name, function = self.factory.split(":")
        ingress: Ingress = getattr(importlib.import_module(module_name), function)(ctx)
        return ingress


def _always(_settings: Settings) -> bool:
    return True


INGRESSES: tuple[IngressSpec, ...] = (
    IngressSpec("fastagi", _always, "sentiric_pbx.telephony.asterisk.agi:build"),
    IngressSpec("audiosocket", _always, "sentiric_pbx.telephony.audiosocket.server:build"),
    IngressSpec("ami", lambda s: s.ami.enabled, "sentiric_pbx.telephony.asterisk.control:build"),
    IngressSpec("ari", lambda s: s.ari.enabled, "sentiric_pbx.telephony.ari.app:build"),
    IngressSpec("twilio", lambda s: s.twilio.enabled, "sentiric_pbx.telephony.twilio.ingress:build"),
    IngressSpec("webrtc", lambda s: s.webrtc.enabled, "sentiric_pbx.telephony.webrtc.ingress:build"),
    IngressSpec("freeswitch", lambda s: s.freeswitch.enabled, "sentiric_pbx.telephony.freeswitch.ingress:build"),
)


def enabled_ingresses(settings: Settings) -> list[IngressSpec]:
    return [spec for spec in INGRESSES if spec.enabled(settings)]


__all__ = ["INGRESSES", "Ingress", "IngressContext", "IngressSpec", "enabled_ingresses"]

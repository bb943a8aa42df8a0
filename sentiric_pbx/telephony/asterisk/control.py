"""AMI as an ingress: the session kept open, and what it does for AudioSocket calls.

AMI carries no audio and places no call of its own here, but it is part of how calls arrive: it gives an
AudioSocket call its caller ID without the FastAGI step (`ami_calls.AmiCallWatcher`) and really transfers
it. It reconnects by itself with backoff, so an Asterisk that is down or restarting does not stop the
daemon: AudioSocket calls keep working and the state changes are logged. Once it is up, it reads the
dialplan and says whether its AudioSocket and FastAGI steps reach our listeners (`dialplan_audit`): a
wrong port there otherwise leaves no trace on our side.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from sentiric_pbx.config import AmiConfig
from sentiric_pbx.telephony.asterisk.ami import AmiClient
from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher
from sentiric_pbx.telephony.asterisk.dialplan_audit import audit_over_ami
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger(__name__)


class AmiControl:
    name = "ami"
    calls_active = 0

    def __init__(
        self, cfg: AmiConfig, registry: CallRegistry, audiosocket: AudioSocketServer | None, listeners: list[Any]
    ) -> None:
        self.client = AmiClient(cfg)
        self.audiosocket = audiosocket
        self.watcher = AmiCallWatcher(self.client, registry, cfg)
        self._listeners = listeners
        """The AudioSocket and FastAGI ingresses, started before us: where the dialplan must send calls."""
        self._audit: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.audiosocket is not None:
            # Metadata only for legs to our own listener; transfers of its calls go through AMI.
            self.watcher.audiosocket_port = self.audiosocket.port
            self.audiosocket.control = self.watcher
        self.watcher.start()
        self.client.start()
        self._audit = asyncio.create_task(self._audit_dialplan(), name="ami-dialplan-audit")

    async def _audit_dialplan(self) -> None:
        """Once, at the first connection: one line saying whether Asterisk sends its calls to us."""
        at: dict[str, tuple[str, int]] = {}
        for ingress in self._listeners:
            at.update(ingress.listeners())
        await self.client.wait_connected(None)
        found = await audit_over_ami(self.client, at)  # type: ignore[arg-type]
        emit = log.info if found.status == "ok" else log.warning
        emit("dialplan_audit", status=found.status, detail=found.detail, hint=found.hint or None)

    async def drain(self, timeout_s: float) -> int:
        return 0  # the calls it helps drain with their own ingress; AMI stays up for their transfers

    async def close(self) -> None:
        self.watcher.stop()
        if self._audit is not None:
            self._audit.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._audit
        await self.client.close()

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {}  # a client of Asterisk's, not a listener


def build(ctx: IngressContext) -> AmiControl:
    """The table's entry (telephony/ingress.py); after AudioSocket, to which it attaches."""
    audiosocket = ctx.built.get("audiosocket")
    server = audiosocket if isinstance(audiosocket, AudioSocketServer) else None
    listeners = [i for name, i in ctx.built.items() if name in ("audiosocket", "fastagi")]
    return AmiControl(ctx.settings.ami, ctx.registry, server, listeners)

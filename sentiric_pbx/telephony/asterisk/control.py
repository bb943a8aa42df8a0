"""AMI as an ingress: the session kept open, and what it does for AudioSocket calls.

AMI carries no audio and places no call of its own here, but it is part of how calls arrive: it gives an
AudioSocket call its caller ID without the FastAGI step (`ami_calls.AmiCallWatcher`) and really transfers
it. It reconnects by itself with backoff, so an Asterisk that is down or restarting does not stop the
daemon: AudioSocket calls keep working and the state changes are logged. Once it is up, it reads the
dialplan and says whether its AudioSocket and FastAGI steps reach our listeners (`dialplan_audit`): a
wrong port there otherwise leaves no trace on our side. It reads it again whenever the dialplan may have
changed (`_audit_loop`) and logs the verdict again when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.config import AmiConfig
from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiEvent
from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher
from sentiric_pbx.telephony.asterisk.dialplan_audit import Audit, audit_over_ami
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger(__name__)

_DIALPLAN_MODULES = frozenset({"pbx_config.so", "All"})
"""Reload events after which the dialplan may differ (the `Module:` field Asterisk 22.10.1 sends)."""
_BOOT_WAIT_S = 5.0
"""After a login, how long to wait for FullyBooted before reading the dialplan anyway."""


class AmiControl:
    name = "ami"
    calls_active = 0

    def __init__(
        self,
        cfg: AmiConfig,
        registry: CallRegistry,
        audiosocket: AudioSocketServer | None,
        listeners: list[Any],
        stasis_app: str | None = None,
    ) -> None:
        self.client = AmiClient(cfg)
        self.audiosocket = audiosocket
        self.watcher = AmiCallWatcher(self.client, registry, cfg)
        self._listeners = listeners
        """The AudioSocket and FastAGI ingresses, started before us: where the dialplan must send calls."""
        self._stasis_app = stasis_app
        """`[ari] app` when ARI is on: the dialplan's Stasis() steps must name it."""
        self._audit: asyncio.Task[None] | None = None
        self.dialplan: Audit | None = None
        """The latest verdict on the dialplan (`/healthz`, the console's banner); None until it is read."""

    async def start(self) -> None:
        if self.audiosocket is not None:
            # Metadata only for legs to our own listener; transfers of its calls go through AMI.
            self.watcher.audiosocket_port = self.audiosocket.port
            self.audiosocket.control = self.watcher
        self.watcher.start()
        self._audit = asyncio.create_task(self._audit_loop(), name="ami-dialplan-audit")  # first: it hears the login
        self.client.start()

    async def _audit_loop(self) -> None:
        """Judge the dialplan whenever it may have changed; log the first verdict and every change.

        When: at each login, once Asterisk has booted (FullyBooted: before it, the dialplan may not be
        loaded yet, and after a reconnect Asterisk may have restarted with another one; a manager user
        without `system` in `read =` never hears it, so `_BOOT_WAIT_S` after a login will do); on a Reload of
        `pbx_config` or of everything (`module reload pbx_config.so`, `core reload`, a manager Reload); and
        every `dialplan_audit_s`, because the CLI's `dialplan reload` sends no event at all (Asterisk 22.10.1).
        An admin who fixes the dialplan sees it said "ok" again without restarting the daemon.
        """
        at: dict[str, tuple[str, int]] = {}
        for ingress in self._listeners:
            at.update(ingress.listeners())
        due = asyncio.Event()

        def on_event(event: AmiEvent) -> None:
            if event.name == "FullyBooted" or (
                event.name == "Reload" and event.fields.get("Module") in _DIALPLAN_MODULES
            ):
                due.set()

        unsubscribe = self.client.subscribe("*", on_event)
        every = self.client.config.dialplan_audit_s or None
        logins = 0
        try:
            while True:
                await self.client.wait_connected(None)
                wait = every
                if self.client.connections != logins:
                    logins, wait = self.client.connections, _BOOT_WAIT_S
                with contextlib.suppress(TimeoutError):
                    await within(due.wait(), wait)
                due.clear()
                if not self.client.connected:
                    continue  # wait for the next login
                found = await audit_over_ami(self.client, at, self._stasis_app)  # type: ignore[arg-type]
                if not self.client.connected:
                    continue  # cut off mid-read says nothing of the dialplan
                said, self.dialplan = self.dialplan, found
                if said is not None and (said.status, said.detail) == (found.status, found.detail):
                    continue  # an unchanged verdict was said
                emit = log.info if found.status == "ok" else log.warning
                emit("dialplan_audit", status=found.status, detail=found.detail, hint=found.hint or None)
        finally:
            unsubscribe()

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
    stasis_app = ctx.settings.ari.app if ctx.settings.ari.enabled else None
    return AmiControl(ctx.settings.ami, ctx.registry, server, listeners, stasis_app)

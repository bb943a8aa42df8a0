"""AMI as an ingress: the session kept open, and what it does for AudioSocket calls.

AMI carries no audio and places no call of its own here, but it is part of how calls arrive: it gives an
AudioSocket call its caller ID without the FastAGI step (`ami_calls.AmiCallWatcher`) and really transfers
it. It reconnects by itself with backoff, so an Asterisk that is down or restarting does not stop the
daemon: AudioSocket calls keep working and the state changes are logged.
"""

from __future__ import annotations

from sentiric_pbx.config import AmiConfig
from sentiric_pbx.telephony.asterisk.ami import AmiClient
from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.registry import CallRegistry


class AmiControl:
    name = "ami"
    calls_active = 0

    def __init__(self, cfg: AmiConfig, registry: CallRegistry, audiosocket: AudioSocketServer | None) -> None:
        self.client = AmiClient(cfg)
        self.audiosocket = audiosocket
        self.watcher = AmiCallWatcher(self.client, registry, cfg)

    async def start(self) -> None:
        if self.audiosocket is not None:
            # Metadata only for legs to our own listener; transfers of its calls go through AMI.
            self.watcher.audiosocket_port = self.audiosocket.port
            self.audiosocket.control = self.watcher
        self.watcher.start()
        self.client.start()

    async def drain(self, timeout_s: float) -> int:
        return 0  # the calls it helps drain with their own ingress; AMI stays up for their transfers

    async def close(self) -> None:
        self.watcher.stop()
        await self.client.close()

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {}  # a client of Asterisk's, not a listener


def build(ctx: IngressContext) -> AmiControl:
    """The table's entry (telephony/ingress.py); after AudioSocket, to which it attaches."""
    audiosocket = ctx.built.get("audiosocket")
    server = audiosocket if isinstance(audiosocket, AudioSocketServer) else None
    return AmiControl(ctx.settings.ami, ctx.registry, server)

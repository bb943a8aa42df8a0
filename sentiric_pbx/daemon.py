"""The daemon: the listeners of one process, started and stopped together.

`Daemon.start()` binds everything before it returns, so a caller (the CLI, a test, the demo) can read
the real ports when the config asked for port 0.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.echo import EchoAgent
from sentiric_pbx.metrics import serve_metrics
from sentiric_pbx.telephony.agi import FastAgiServer
from sentiric_pbx.telephony.audiosocket import Agent, AudioSocketServer
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.daemon")


def build_agent(settings: Settings) -> Agent:
    """The agent every call runs, chosen by `[agent] mode`."""
    if settings.agent.mode == "echo":
        return EchoAgent(settings.vad)
    raise ValueError(f"unknown agent mode {settings.agent.mode!r}")


class Daemon:
    def __init__(self, settings: Settings, agent: Agent | None = None) -> None:
        self.settings = settings
        self.registry = CallRegistry(ttl_s=settings.fastagi.callinfo_ttl_s)
        self.fastagi = FastAgiServer(settings.fastagi, self.registry)
        self.audiosocket = AudioSocketServer(settings.audiosocket, self.registry, agent or build_agent(settings))
        self.metrics_port: int | None = None

    async def start(self) -> None:
        await self.fastagi.start()
        await self.audiosocket.start()
        m = self.settings.metrics
        if m.enabled:
            self.metrics_port = serve_metrics(m.host, m.port)
            log.info("metrics_listening", host=m.host, port=self.metrics_port)
        log.info("daemon_ready", agent=self.settings.agent.mode)

    async def stop(self) -> None:
        await self.audiosocket.close()
        await self.fastagi.close()
        log.info("daemon_stopped")

    async def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT (systemd stop, Ctrl-C), then close every call cleanly."""
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("daemon_stopping", active_calls=self.audiosocket.calls_active)
        await self.stop()

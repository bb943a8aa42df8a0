"""The daemon: the listeners of one process and what the agent needs, started and stopped together.

`Daemon.start()` binds everything before it returns, so a caller (the CLI, a test, the demo) can read
the real ports when the config asked for port 0. In assistant mode it loads every model first
(a daemon that cannot hear or speak must not answer calls) and raises `EngineLoadError` with the
command that fixes it when a model is missing.

Under systemd (`Type=notify`) READY=1 goes out only after `start()`, a watchdog task pings while the
loop runs, and SIGTERM drains: no new calls, the ones in progress get `[daemon] drain_timeout_s` to
finish, the rest are ended (and stored as unfinished) — a restart never cuts a booking mid-sentence
if it can help it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from typing import Any

import structlog

from sentiric_pbx import systemd_notify
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.echo import EchoAgent
from sentiric_pbx.metrics import MetricsServer
from sentiric_pbx.telephony.asterisk.agi import FastAgiServer
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer
from sentiric_pbx.telephony.ingress import Ingress, build_ingresses
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.daemon")

_INGRESS_LISTENERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "twilio": (("twilio", "host", "port"),),
    "webrtc": (("webrtc", "host", "port"),),
    "freeswitch": (
        ("freeswitch stream", "stream_host", "stream_port"),
        ("freeswitch outbound", "outbound_host", "outbound_port"),  # outbound mode only
    ),
}
"""Ingress name → (listener name, its [section] host key, the ingress attribute with the bound port)."""


class Daemon:
    def __init__(self, settings: Settings, agent: Agent | None = None, engines: Any = None) -> None:
        """`engines`: an already started `EnginePool` to share (tests run several daemons on one set of models)."""
        self.settings = settings
        self._engines = engines
        self.engines: Any = engines
        self.registry = CallRegistry(ttl_s=settings.fastagi.callinfo_ttl_s)
        self.fastagi = FastAgiServer(settings.fastagi, self.registry)
        self._agent = agent
        self.audiosocket: AudioSocketServer | None = None
        self.metrics_port: int | None = None
        self._metrics: MetricsServer | None = None
        self.listening: dict[str, tuple[str, int]] = {}
        """Every TCP listener this process holds (real ports), by the name `doctor` checks it under."""
        self._started_at = time.monotonic()
        self.draining = False
        self.assistant: Any = None
        self._closers: list[Any] = []
        self.ari: Any = None
        self.ami: Any = None
        self.ami_calls: Any = None
        self.ingresses: list[Ingress] = []
        self._stop_workers = asyncio.Event()
        self._workers: asyncio.Task[None] | None = None

    async def _build_agent(self) -> Agent:
        if self._agent is not None:
            return self._agent
        if self.settings.agent.mode == "echo":
            return EchoAgent(self.settings.vad)
        return await self._build_assistant()

    async def _build_assistant(self) -> Agent:
        from sentiric_pbx.dialog.assistant import Assistant, Services
        from sentiric_pbx.engines.pool import EnginePool
        from sentiric_pbx.integrations.calendar.factory import build_calendar
        from sentiric_pbx.integrations.crm.factory import build_crm
        from sentiric_pbx.postcall.jobs import build_handlers
        from sentiric_pbx.postcall.runtime import open_queues, serve_workers
        from sentiric_pbx.storage.context_store import build_context_store
        from sentiric_pbx.storage.db import open_database
        from sentiric_pbx.storage.paths import archive_dir, db_path, recordings_dir

        s = self.settings
        engines = self._engines
        if engines is None:
            engines = EnginePool(s)
            await engines.start()
        self.engines = engines
        db = await open_database(s)
        store = await build_context_store(s, db)
        crm = build_crm(s, db)
        calendar = build_calendar(s, db_path(s))
        queue, fallback = open_queues(s, db_path(s))
        self._closers += [queue, fallback, calendar, crm, store, db]
        services = Services(s, engines, store, crm, calendar, queue, fallback, recordings_dir(s))
        assistant = Assistant(services)
        await assistant.start()
        self.assistant = assistant
        self.fastagi.on_registered = assistant.prefetch
        if s.postcall.workers > 0:
            handlers = build_handlers(
                db_path=db_path(s),
                archive_dir=archive_dir(s),
                contexts=store,
                crm=crm,
                llm=engines.llm if s.dialog.llm_capable else None,
                retention_days=s.storage.retention_days,
            )
            self._workers = asyncio.create_task(
                serve_workers(queue, handlers, self._stop_workers, concurrency=s.postcall.workers, fallback=fallback)
            )
        return assistant

    async def start(self) -> None:
        agent = await self._build_agent()
        self.audiosocket = AudioSocketServer(self.settings.audiosocket, self.registry, agent)
        await self.fastagi.start()
        await self.audiosocket.start()
        await self._start_control_plane(agent)
        self.ingresses = build_ingresses(self.settings, agent, self.registry)
        for ingress in self.ingresses:
            await ingress.start()
        m = self.settings.metrics
        if m.enabled:
            self._metrics = MetricsServer(m.host, m.port, self.health).start()
            self.metrics_port = self._metrics.port
            log.info("metrics_listening", host=m.host, port=self.metrics_port)
        self.listening = self._listeners()
        self._started_at = time.monotonic()
        # Everything loaded so far (models, dateparser's tables, engines) lives as long as the process.
        # Freezing it keeps the cyclic GC from walking it: a full collection took ~90 ms with the
        # models loaded, i.e. 4–5 frames missing from every call's audio at once.
        gc.collect()
        gc.freeze()
        log.info("daemon_ready", agent=self.settings.agent.mode)

    async def _start_control_plane(self, agent: Agent) -> None:
        """ARI (a Stasis app whose calls reach us over externalMedia RTP) and AMI, when enabled.

        Both reconnect by themselves with backoff, so an Asterisk that is down or restarting does
        not stop the daemon: AudioSocket calls keep working and the state changes are logged.
        """
        if self.settings.ari.enabled:
            from sentiric_pbx.telephony.ari.app import AriApp

            self.ari = AriApp(self.settings, agent)
            if self.audiosocket is not None:
                self.ari.attach_audiosocket(self.audiosocket)  # [ari] media = "audiosocket"
            await self.ari.start()
        if self.settings.ami.enabled:
            from sentiric_pbx.telephony.asterisk.ami import AmiClient
            from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher

            self.ami = AmiClient(self.settings.ami)
            # AudioSocket calls get caller metadata from AMI events too, and transfers through AMI.
            port = self.audiosocket.port if self.audiosocket is not None else None
            self.ami_calls = AmiCallWatcher(self.ami, self.registry, self.settings.ami, audiosocket_port=port)
            self.ami_calls.start()
            if self.audiosocket is not None:
                self.audiosocket.control = self.ami_calls
            self.ami.start()

    def health(self) -> dict[str, Any]:
        """`/healthz`: read from the metrics thread, so only plain attribute reads here."""
        engines = self.engines
        loaded: dict[str, Any] = {}
        if engines is not None:
            loaded = {"stt": sorted(engines.stt), "tts": engines.tts is not None, "llm": engines.llm is not None}
        return {
            "status": "draining" if self.draining else "ok",
            "agent": self.settings.agent.mode,
            "active_calls": self.calls_active,
            "uptime_s": round(time.monotonic() - self._started_at, 3),
            "engines": loaded,
            # Who holds the ports: `doctor` on this host tells its own daemon from a stranger by these.
            "service": "sentiric-pbx",
            "pid": os.getpid(),
            "listening": {name: list(addr) for name, addr in self.listening.items()},
        }

    def _listeners(self) -> dict[str, tuple[str, int]]:
        """Read once after start: a closed server (drain) has no socket left to ask, the metrics thread no loop."""
        s = self.settings
        out = {"fastagi": (s.fastagi.host, self.fastagi.port)}
        if self.audiosocket is not None:
            out["audiosocket"] = (s.audiosocket.host, self.audiosocket.port)
        if self.metrics_port is not None:
            out["metrics"] = (s.metrics.host, self.metrics_port)
        for ingress in self.ingresses:
            cfg = getattr(s, ingress.name, None)
            for name, host_key, port_attr in _INGRESS_LISTENERS.get(ingress.name, ()):
                with contextlib.suppress(AssertionError, AttributeError, IndexError, StopIteration):
                    out[name] = (getattr(cfg, host_key), int(getattr(ingress, port_attr)))
        return out

    @property
    def calls_active(self) -> int:
        """Calls in progress on every ingress."""
        own = self.audiosocket.calls_active if self.audiosocket else 0
        return own + sum(i.calls_active for i in self.ingresses)

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls at once, give calls in progress up to `timeout_s`; `stop()` ends the rest."""
        self.draining = True
        # FastAGI first: a call arriving now fails registration, and the dialplan plays its
        # "no service" branch instead of reaching an AudioSocket listener that is gone.
        await self.fastagi.close()
        log.info("daemon_draining", active_calls=self.calls_active, timeout_s=timeout_s)
        drains = [i.drain(timeout_s) for i in self.ingresses]
        if self.audiosocket is not None:
            drains.append(self.audiosocket.drain(timeout_s))
        lefts = await asyncio.gather(*drains)
        if any(lefts):
            log.warning("drain_timeout", calls_ended=self.calls_active, timeout_s=timeout_s)

    async def stop(self) -> None:
        if self.ari is not None:
            with contextlib.suppress(Exception):
                await self.ari.stop()
        if self.ami is not None:
            with contextlib.suppress(Exception):
                await self.ami.close()
        for ingress in self.ingresses:
            with contextlib.suppress(Exception):
                await ingress.close()
        if self.audiosocket is not None:
            await self.audiosocket.close()
        await self.fastagi.close()
        self._stop_workers.set()
        if self._workers is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._workers, 10)
        for closable in self._closers:
            if closable is not None:
                with contextlib.suppress(Exception):
                    await closable.aclose()
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.close)
            self._metrics = None
        log.info("daemon_stopped")

    async def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT (systemd stop, Ctrl-C), drain the calls in progress, then stop."""
        await self.start()
        systemd_notify.ready(self._status_line())
        watchdog = asyncio.create_task(systemd_notify.watchdog(), name="sd-watchdog")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
            active = self.calls_active
            log.info("daemon_stopping", active_calls=active)
            systemd_notify.stopping(f"draining {active} call(s)")
            await self.drain(self.settings.daemon.drain_timeout_s)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self.stop()

    def _status_line(self) -> str:
        port = self.audiosocket.port if self.audiosocket else None
        return f"{self.settings.agent.mode}: AudioSocket :{port}, FastAGI :{self.fastagi.port}"

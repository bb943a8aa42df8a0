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
from sentiric_pbx.logging import set_log_transcripts
from sentiric_pbx.metrics import MetricsServer
from sentiric_pbx.telephony.ingress import Ingress, IngressContext, enabled_ingresses
from sentiric_pbx.telephony.lifecycle import Capacity
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.daemon")

class Daemon:
    def __init__(self, settings: Settings, agent: Agent | None = None, engines: Any = None) -> None:
        """`engines`: an already started `EnginePool` to share (tests run several daemons on one set of models)."""
        self.settings = settings
        set_log_transcripts(settings.logging.log_transcripts)  # the daemon's config decides, also when embedded
        self._engines = engines
        self.engines: Any = engines
        self.registry = CallRegistry(ttl_s=settings.fastagi.callinfo_ttl_s)
        self.capacity = Capacity(settings.agent)
        """The lines every ingress's calls share (`[agent] max_calls`)."""
        self._agent = agent
        self.metrics_port: int | None = None
        self._metrics: MetricsServer | None = None
        self.console: Any = None
        """The web console (`[console] enabled`), once started: its `port` and `url()`."""
        self.listening: dict[str, tuple[str, int]] = {}
        """Every TCP listener this process holds (real ports), by the name `doctor` checks it under."""
        self._started_at = time.monotonic()
        self.draining = False
        self.assistant: Any = None
        self._closers: list[Any] = []
        self.ingresses: dict[str, Ingress] = {}
        """Every way in that is enabled, by name, in start order (telephony/ingress.py `INGRESSES`)."""
        self._stop_workers = asyncio.Event()
        self._workers: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        """The daily `[storage] retention_days` sweep (postcall/retention.py), stopped with the workers."""
        self.uploader: Any = None
        """With `[storage] recordings_url`: the `RecordingUploader` of this host's finished recordings."""

    async def _build_agent(self) -> Agent:
        if self._agent is not None:
            return self._agent
        if self.settings.agent.mode == "echo":
            return EchoAgent(self.settings.vad)
        return await self._build_assistant()

    async def _build_assistant(self) -> Agent:
        from sentiric_pbx.dialog.assistant import Assistant, Services
        from sentiric_pbx.dialog.next_greeting import NextGreeting
        from sentiric_pbx.engines.pool import EnginePool
        from sentiric_pbx.integrations.calendar.factory import build_calendar
        from sentiric_pbx.integrations.crm.factory import build_crm
        from sentiric_pbx.postcall.erasure import PersonalData, open_local_store
        from sentiric_pbx.postcall.jobs import build_handlers
        from sentiric_pbx.postcall.ledger import DoneLedger
        from sentiric_pbx.postcall.model import postcall_llm
        from sentiric_pbx.postcall.retention import sweep_daily
        from sentiric_pbx.postcall.runtime import open_queues, serve_workers
        from sentiric_pbx.storage.context_store import build_context_store
        from sentiric_pbx.storage.db import open_database
        from sentiric_pbx.storage.greetings import GreetingStore
        from sentiric_pbx.storage.paths import db_path, recordings_dir
        from sentiric_pbx.storage.recording_store import recording_store
        from sentiric_pbx.storage.recording_upload import RecordingUploader

        s = self.settings
        engines = self._engines
        if engines is None:
            engines = EnginePool(s)
            await engines.start()
        self.engines = engines
        db = await open_database(s)
        store = await build_context_store(s, db)
        crm = build_crm(s, db)
        calendar = build_calendar(s, db_path(s), db)
        queue, fallback = open_queues(s, db_path(s))
        local = await open_local_store(s, db)  # beside the site store: this host's queue and archive records
        personal = PersonalData.from_settings(s, db, local)
        self._closers += [queue, fallback, calendar, crm, store, personal, db, local]
        self._retention = asyncio.create_task(sweep_daily(personal, s.storage.retention_days, self._stop_workers))
        greetings = GreetingStore(db)
        recordings = recording_store(s)
        if recordings is not None:
            self.uploader = RecordingUploader(recordings, recordings_dir(s))
            self.uploader.start()  # also the recordings a previous run left before their upload was confirmed
        services = Services(
            s, engines, store, crm, calendar, queue, fallback, recordings_dir(s), greetings, uploader=self.uploader
        )
        assistant = Assistant(services)
        # First to close: its last try at records the database refused needs the store and the queue still open.
        self._closers.insert(0, assistant.unsaved)
        await assistant.start()
        self.assistant = assistant
        # With Redis, a daemon with `workers = 0` still runs this host's own jobs (its outbox, its standby
        # copies after a Redis restart, archive jobs of recordings only it has): nobody else can.
        if s.postcall.workers > 0 or fallback is not None:
            llm, on_demand = postcall_llm(s, engines)
            self._closers.append(on_demand)
            handlers = build_handlers(
                s,
                contexts=store,
                crm=crm,
                llm=llm,
                after_summary=NextGreeting.configured(s, llm, greetings),
                site=db,
                recordings=recordings,
            )
            self._workers = asyncio.create_task(
                serve_workers(
                    queue,
                    handlers,
                    self._stop_workers,
                    concurrency=s.postcall.workers,
                    fallback=fallback,
                    ledger=DoneLedger(db),
                )
            )
        return assistant

    async def start(self) -> None:
        """Load the engines, open the stores, start the workers and every ingress; on any failure stop what
        was started and raise. A start that failed must not leave the database thread, the post-call workers
        or a listener running: the process would print its error ("cannot start listeners: …") and then
        never exit, and systemd would wait for a daemon that is neither ready nor gone."""
        try:
            await self._start()
        except BaseException as exc:
            if isinstance(exc, Exception):  # also as a log event: alerts read the JSON lines, not the CLI's text
                log.error("daemon_start_failed", error=str(exc))
            await self.stop()
            raise

    async def _start(self) -> None:
        agent = await self._build_agent()
        ctx = IngressContext(self.settings, agent, self.registry, self.capacity, self.ingresses)
        for spec in enabled_ingresses(self.settings):
            ingress = spec.build(ctx)
            self.ingresses[spec.name] = ingress
            await ingress.start()
        m = self.settings.metrics
        if m.enabled:
            self._metrics = MetricsServer(
                m.host, m.port, self.health, max_connections=m.max_connections, request_timeout_s=m.request_timeout_s
            ).start()
            self.metrics_port = self._metrics.port
            log.info("metrics_listening", host=m.host, port=self.metrics_port)
        if self.settings.console.enabled:
            from sentiric_pbx.console.server import ConsoleServer

            self.console = await ConsoleServer(self.settings, self).start()
        self.listening = self._listeners()
        self._started_at = time.monotonic()
        # Everything loaded so far (models, dateparser's tables, engines) lives as long as the process.
        # Freezing it keeps the cyclic GC from walking it: a full collection took ~90 ms with the
        # models loaded, i.e. 4–5 frames missing from every call's audio at once.
        gc.collect()
        gc.freeze()
        log.info("daemon_ready", agent=self.settings.agent.mode, ingresses=list(self.ingresses))

    # -- the ingresses by name (tests, the CLI and the demo read their ports) ------------------------
    @property
    def fastagi(self) -> Any:
        return self.ingresses.get("fastagi")

    @property
    def audiosocket(self) -> Any:
        return self.ingresses.get("audiosocket")

    @property
    def ari(self) -> Any:
        return self.ingresses.get("ari")

    @property
    def ami(self) -> Any:
        """The AMI client (`[ami] enabled`), or None."""
        control = self.ingresses.get("ami")
        return getattr(control, "client", None)

    @property
    def ami_calls(self) -> Any:
        control = self.ingresses.get("ami")
        return getattr(control, "watcher", None)

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
            "ami": self._ami_health(),
            "ari": self._ari_health(),
            "freeswitch": self._freeswitch_health(),
            "dialplan": self._dialplan_health(),
        }

    def _ami_health(self) -> dict[str, Any] | None:
        """Is AMI up? Without it an AudioSocket call cannot be transferred, nor get caller ID without FastAGI."""
        client = self.ami
        if client is None:
            return None
        return {"connected": client.connected, "address": f"{client.config.host}:{client.config.port}"}

    def _ari_health(self) -> dict[str, Any] | None:
        """Is our Stasis app's event WebSocket up? Without it Asterisk answers no call to the app. None when off."""
        app = self.ari
        if app is None:
            return None
        return {"connected": app.connected.is_set(), "address": app.cfg.url, "app": app.cfg.app}

    def _freeswitch_health(self) -> dict[str, Any] | None:
        """Inbound mode: is our Event Socket up? Without it a parked call is never picked up, nor hung up or
        transferred. Outbound mode has no standing connection (each call brings its own), so there is nothing
        to say between calls. None when off."""
        ingress = self.ingresses.get("freeswitch")
        if ingress is None or ingress.cfg.mode == "outbound":
            return None
        esl = ingress.esl
        return {
            "connected": esl.connected.is_set(),
            "state": esl.state,
            "reason": None if esl.connected.is_set() else esl.reason,
            "address": f"{ingress.cfg.esl_host}:{ingress.cfg.esl_port}",
        }

    def _dialplan_health(self) -> dict[str, str] | None:
        """Does Asterisk's dialplan send its calls to us (`dialplan_audit`)? None without AMI or before it is read."""
        found = getattr(self.ingresses.get("ami"), "dialplan", None)
        return None if found is None else {"status": found.status, "detail": found.detail, "hint": found.hint}

    def _listeners(self) -> dict[str, tuple[str, int]]:
        """Read once after start: a closed server (drain) has no socket left to ask, the metrics thread no loop."""
        out: dict[str, tuple[str, int]] = {}
        for ingress in self.ingresses.values():
            with contextlib.suppress(AssertionError, AttributeError, IndexError, StopIteration):
                out.update(ingress.listeners())
        if self.metrics_port is not None:
            out["metrics"] = (self.settings.metrics.host, self.metrics_port)
        if self.console is not None:
            out.update(self.console.listeners())
        return out

    @property
    def calls_active(self) -> int:
        """Calls in progress on every ingress."""
        return sum(i.calls_active for i in self.ingresses.values())

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls at once, give calls in progress up to `timeout_s`; `stop()` ends the rest.

        In table order, FastAGI first: a call arriving now fails registration, and the dialplan plays its
        "no service" branch instead of reaching an AudioSocket listener that is gone.
        """
        self.draining = True
        fastagi = self.ingresses.get("fastagi")
        if fastagi is not None:
            await fastagi.drain(timeout_s)
        log.info("daemon_draining", active_calls=self.calls_active, timeout_s=timeout_s)
        lefts = await asyncio.gather(*(i.drain(timeout_s) for n, i in self.ingresses.items() if n != "fastagi"))
        if any(lefts):
            log.warning("drain_timeout", calls_ended=self.calls_active, timeout_s=timeout_s)

    async def stop(self) -> None:
        """Every ingress closed in reverse start order (ARI/AMI before the AudioSocket they attach to)."""
        if self.console is not None:
            with contextlib.suppress(Exception):
                await self.console.close()
        for ingress in reversed(list(self.ingresses.values())):
            with contextlib.suppress(Exception):
                await ingress.close()
        self._stop_workers.set()
        for task in (self._workers, self._retention):
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=10)  # not wait_for: sentiric_pbx/aio.py
                if not done:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.uploader is not None:
            # A few seconds for the last calls' uploads; what is left is uploaded at the next start.
            with contextlib.suppress(Exception):
                await self.uploader.wait_idle(5.0)
            await self.uploader.aclose()
        for closable in self._closers:
            if closable is not None:
                with contextlib.suppress(Exception):
                    await closable.aclose()
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.close)
            self._metrics = None
        # What start() froze goes back to the collector: a process that starts another daemon after this one
        # (the demo's two calls, the tests) would otherwise keep every stopped daemon's models resident.
        gc.unfreeze()
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
        ports = ", ".join(f"{name} :{port}" for name, (_host, port) in self.listening.items())
        return f"{self.settings.agent.mode}: {ports}"

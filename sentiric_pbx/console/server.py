"""The console's HTTP server: the pages, the JSON API they use (scripts may use it too), and the live push.

    GET /                         live calls and the newest calls
    GET /calls, /calls/{id}       the call list with filters; one call (transcript, audio, latency)
    GET /overview                 calls per hour and outcome, reply latency p50/p95 over time
    GET /api/health               the daemon's health (as /healthz on the metrics port)
    GET /api/calls                ?caller=&status=&outcome=&ingress=&date=YYYY-MM-DD&limit=&offset=
    GET /api/calls/{id}           the stored call; /api/calls/{id}/recording.wav (HTTP Range: the player seeks)
    GET /api/live                 the calls in progress; /api/live/events pushes the same as Server-Sent Events
    GET /api/overview             ?days=7

Served by the daemon with aiohttp (the stack the Twilio ingress uses), read-only. Recordings and
transcripts are personal data, so every response says `Cache-Control: no-store`, the page may only load
its own files (Content-Security-Policy), a request must name one of our host names (DNS rebinding: a
site re-pointing its own name at 127.0.0.1 gets 403), and with `[console] token` set every request must
carry it — wrong or missing → 401 and one `console_unauthorized` line (the token is never logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

import structlog
from aiohttp import web

from sentiric_pbx.aio import within
from sentiric_pbx.config import ConfigError, Settings
from sentiric_pbx.config.console import LOOPBACK_NAMES, is_loopback
from sentiric_pbx.console import calls as store
from sentiric_pbx.console.live import snapshot
from sentiric_pbx.storage.call_reader import CallReaderError
from sentiric_pbx.storage.recording_store import read_recording

log = structlog.get_logger("sentiric_pbx.console")

COOKIE = "sentiric_console"
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
PUSH_EVERY_S = 0.5
"""How often the live push looks for a change (a state flip, a new turn) and sends it."""
KEEPALIVE_S = 15.0
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # wavesurfer.js styles its shadow DOM inline; everything else is our own files.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
    ),
}
PAGES = {"/": "index.html", "/calls": "calls.html", "/overview": "overview.html"}


def _static_dir() -> Path:
    return Path(str(resources.files("sentiric_pbx.console") / "static"))


def _digest(token: str) -> bytes:
    """Both sides hashed first: `compare_digest` then compares equal lengths, whatever was sent."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def _host_name(value: str | None) -> str | None:
    if not value:
        return None
    try:
        name = urlsplit(f"//{value}").hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def console_url(cfg: Any, path: str = "/", port: int | None = None) -> str:
    """Where a browser on this host finds the console (`[console]`, or its real `port` once bound)."""
    host = cfg.host if cfg.host not in WILDCARDS else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port or cfg.port}{path}"


class ConsoleServer:
    """The console on `[console] host:port`. `daemon` gives the health, the live calls and the settings."""

    def __init__(self, settings: Settings, daemon: Any) -> None:
        from sentiric_pbx.storage.db import database_url
        from sentiric_pbx.storage.paths import db_path

        self.settings = settings
        self.cfg = settings.console
        self.daemon = daemon
        self.db_path = db_path(settings)
        self.database_url = database_url(settings)
        """The PostgreSQL site store, when configured: the calls pages then show every host's calls."""
        from sentiric_pbx.storage.recording_store import recording_store

        self.recordings = recording_store(settings)
        """`[storage] recordings_url`: recordings of any host's calls are played from there."""
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        token = self.cfg.token.get_secret_value() if self.cfg.has_token and self.cfg.token else None
        self._token = _digest(token) if token else None
        own = {self.cfg.host.strip("[]").lower()} - WILDCARDS
        self._hosts = LOOPBACK_NAMES | own | {h.lower() for h in self.cfg.allowed_hosts}

    async def start(self) -> ConsoleServer:
        if not is_loopback(self.cfg.host) and self._token is None:
            # The config refuses this too; a Settings built in code (model_construct) must not slip through.
            raise ConfigError(
                f"[console] host = {self.cfg.host!r} is not loopback and no [console] token is set: "
                "recordings and transcripts would be open to the network"
            )
        app = web.Application(middlewares=[self._guard])
        app.on_response_prepare.append(_secure_headers)
        r = app.router
        for path, page in PAGES.items():
            r.add_get(path, self._page(page))
        r.add_get("/calls/{call_id}", self._page("call.html"))
        r.add_get("/api/health", self._health)
        r.add_get("/api/calls", self._calls)
        r.add_get("/api/calls/{call_id}", self._call)
        r.add_get("/api/calls/{call_id}/recording.wav", self._recording)
        r.add_get("/api/live", self._live)
        r.add_get("/api/live/events", self._live_events)
        r.add_get("/api/overview", self._overview)
        r.add_static("/static/", _static_dir(), follow_symlinks=False)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            where = f"[console] {self.cfg.host}:{self.cfg.port}"
            raise OSError(exc.errno, f"{where}: {exc.strerror} (set [console] port, or enabled = false)") from exc
        self.port = int(self._runner.addresses[0][1])
        log.info("console_listening", host=self.cfg.host, port=self.port, token_required=self._token is not None)
        return self

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"console": (self.cfg.host, int(self.port or 0))}

    def url(self, path: str = "/") -> str:
        return console_url(self.cfg, path, self.port)

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- who may look --------------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        peer = request.remote or "?"
        host = _host_name(request.headers.get("Host"))
        if host not in self._hosts:
            log.warning("console_host_refused", peer=peer, host=(request.headers.get("Host") or "")[:100])
            return web.Response(status=403, text="this host name is not in [console] allowed_hosts\n")
        if self._token is None:
            return await handler(request)
        sent, source = self._sent_token(request)
        if sent is None or not hmac.compare_digest(_digest(sent), self._token):
            reason = "missing" if sent is None else "wrong"
            log.warning("console_unauthorized", peer=peer, path=request.path, reason=reason)
            return web.Response(
                status=401, text="a console token is needed\n", headers={"WWW-Authenticate": 'Bearer realm="console"'}
            )
        if source == "query" and request.method == "GET" and not request.path.startswith("/api/"):
            # A link with ?token= becomes a cookie, and the address bar (history) loses the token.
            query = {k: v for k, v in request.query.items() if k != "token"}
            response = web.Response(status=303, headers={"Location": str(request.rel_url.with_query(query))})
            response.set_cookie(COOKIE, sent, httponly=True, samesite="Strict", path="/", secure=request.secure)
            return response
        return await handler(request)

    @staticmethod
    def _sent_token(request: web.Request) -> tuple[str | None, str]:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip(), "header"
        if COOKIE in request.cookies:
            return request.cookies[COOKIE], "cookie"
        if "token" in request.query:
            return request.query["token"], "query"
        return None, ""

    # -- pages ---------------------------------------------------------------------------------------
    def _page(self, name: str) -> Any:
        path = _static_dir() / name

        async def page(_request: web.Request) -> web.StreamResponse:
            return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8"})

        return page

    # -- the API -------------------------------------------------------------------------------------
    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response(self.daemon.health())

    async def _calls(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            f = store.CallFilter(
                caller=q.get("caller") or None,
                status=q.get("status") or None,
                outcome=q.get("outcome") or None,
                ingress=q.get("ingress") or None,
                date=q.get("date") or None,
                limit=max(1, min(500, int(q.get("limit", "50")))),
                offset=max(0, int(q.get("offset", "0"))),
            )
            result = await asyncio.to_thread(store.list_calls, self.db_path, f, self.database_url)
        except ValueError as exc:
            return _bad_request(f"bad query: {exc}")
        except CallReaderError as exc:  # the site store is unreachable: say so, without its password
            return _json({"error": str(exc)}, status=503)
        return _json(result)

    async def _call(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        try:
            details = await asyncio.to_thread(self._details, call_id)
        except CallReaderError as exc:
            return _json({"error": str(exc)}, status=503)
        if details is None:
            return _json({"error": f"no call {call_id}"}, status=404)
        details.pop("_recording_path", None)
        details["timezone"] = self.settings.business.timezone  # a booking is shown in the business's time
        if details["recording"]:
            details["recording_url"] = f"/api/calls/{call_id}/recording.wav"
        return _json(details)

    def _details(self, call_id: str) -> dict[str, Any] | None:
        return store.call_details(self.db_path, call_id, self.database_url, self.recordings)

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        call_id = request.match_info["call_id"]
        details = await asyncio.to_thread(self._details, call_id)
        path = details.get("_recording_path") if details and details["recording"] else None
        if not path:
            return _json({"error": f"no recording for call {call_id}"}, status=404)
        if urlparse(path).scheme == "s3":  # in the shared bucket: fetched whole (a call's WAV is a few MB)
            try:
                data = await asyncio.to_thread(read_recording, path, self.recordings)
            except Exception as exc:
                log.warning("console_recording_unreadable", call_id=call_id, error=type(exc).__name__)
                return _json({"error": f"the recording of call {call_id} cannot be read now"}, status=503)
            return web.Response(body=data, headers={"Content-Type": "audio/wav"})
        # FileResponse answers Range requests (206) itself: the audio element seeks without the whole file.
        return web.FileResponse(urlparse(path).path, headers={"Content-Type": "audio/wav"})

    def _live_now(self) -> dict[str, Any]:
        return {
            "active_calls": self.daemon.calls_active,
            "draining": bool(getattr(self.daemon, "draining", False)),
            "calls": snapshot(getattr(self.daemon, "assistant", None)),
        }

    async def _live(self, _request: web.Request) -> web.Response:
        return _json(self._live_now())

    async def _live_events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: the live view, sent when it changes (durations tick in the page)."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        last = None
        idle = 0.0
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while not self._closing.is_set():
                now = self._live_now()
                key = json.dumps([{**c, "duration_s": 0} for c in now["calls"]] + [now["active_calls"]], default=str)
                if key != last:
                    await response.write(f"data: {json.dumps(now, default=str)}\n\n".encode())
                    last, idle = key, 0.0
                elif idle >= KEEPALIVE_S:
                    await response.write(b": keepalive\n\n")
                    idle = 0.0
                with contextlib.suppress(TimeoutError):
                    await within(self._closing.wait(), PUSH_EVERY_S)
                idle += PUSH_EVERY_S
        return response

    async def _overview(self, request: web.Request) -> web.Response:
        try:
            days = max(1, min(90, int(request.query.get("days", "7"))))
        except ValueError as exc:
            return _bad_request(f"bad query: {exc}")
        data = await asyncio.to_thread(store.overview, self.db_path, days, self.database_url)
        data["process"] = _process_counters()
        data["process"]["uptime_s"] = self.daemon.health()["uptime_s"] if self.daemon is not None else None
        return _json(data)


PROCESS_COUNTERS = {
    "llm_fallbacks": "sentiric_llm_fallbacks_total",
    "reply_fillers": "sentiric_reply_fillers_total",
    "responder_templates": "sentiric_responder_templates_total",
    "barge_ins": "sentiric_barge_ins_total",
}
"""What only this process knows (Prometheus counters since it started): no call record keeps these yet."""


def _process_counters() -> dict[str, float | None]:
    """Each counter summed over its labels."""
    from prometheus_client import REGISTRY

    totals = dict.fromkeys(PROCESS_COUNTERS.values(), 0.0)
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return {key: totals[name] for key, name in PROCESS_COUNTERS.items()}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


def _bad_request(message: str) -> web.Response:
    log.info("console_bad_request", error=message)
    return _json({"error": message}, status=400)


async def _secure_headers(_request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers[name] = value

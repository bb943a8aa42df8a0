"""Prometheus metrics and `/healthz`: what an admin graphs to see that calls flow and audio is paced.

Served on `[metrics] host:port` (loopback by default) by `MetricsServer` (`serve_metrics` for a
fire-and-forget start). One small `http.server` in a thread answers both paths, because a load
balancer's or systemd's health probe and Prometheus should not need two ports, and the event loop
must never be what answers a scrape (a probe that stalls with the loop is useful; one that adds load
to it is not). Latency histograms are in milliseconds, named by pipeline stage, so one dashboard row
reads as one turn: stt → nlu → task → tts first audio, and the caller-perceived reply latency.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

log = structlog.get_logger("sentiric_pbx.metrics")

CALLS_TOTAL = Counter("sentiric_calls_total", "Calls accepted", ["ingress"])
CALLS_ACTIVE = Gauge("sentiric_calls_active", "Calls in progress", ["ingress"])
CALLS_BY_OUTCOME = Counter(
    "sentiric_calls_by_outcome_total",
    "Finished calls by stored outcome (completed, unfinished_call, transferred, failed)",
    ["outcome"],
)
PROTOCOL_ERRORS = Counter(
    "sentiric_protocol_errors_total", "Connections ended because the peer broke the protocol", ["ingress", "reason"]
)
PLAYOUT_LATE_TICKS = Counter(
    "sentiric_playout_late_ticks_total", "Playout ticks a whole frame late (clock re-anchored, no burst)"
)
PLAYOUT_UNDERRUNS = Counter(
    "sentiric_playout_underruns_total", "Ticks with no audio ready in the middle of a reply (the caller hears a gap)"
)
PLAYOUT_LATENESS_MS = Histogram(
    "sentiric_playout_lateness_ms",
    "How late each 20 ms playout tick ran after its deadline: the outbound jitter every caller hears",
    buckets=(1, 2, 5, 10, 20, 40, 80),
)
AGI_REQUESTS = Counter("sentiric_fastagi_requests_total", "FastAGI requests", ["script", "outcome"])
ANONYMOUS_CALLS = Counter(
    "sentiric_anonymous_calls_total",
    "AudioSocket calls taken without a trusted caller: no registration and no AMI metadata (`unregistered`), or "
    "an unkeyed FastAGI registration (`unverified`, no [fastagi] secret); neither is greeted by name",
    ["reason"],
)
TURNS_TOTAL = Counter("sentiric_turns_total", "Caller turns detected by the endpointer")

# Per-stage latency of one turn, in ms. Buckets from 10 ms (NLU on a short turn) to 10 s (a slow LLM).
_MS_BUCKETS = (10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
STT_MS = Histogram("sentiric_stt_ms", "Speech-to-text time of one turn (end of turn → text)", buckets=_MS_BUCKETS)
NLU_MS = Histogram("sentiric_nlu_ms", "Intent + entity extraction time of one turn", buckets=_MS_BUCKETS)
TASK_MS = Histogram("sentiric_task_ms", "Task time (CRM, calendar, transfer…) of one turn", buckets=_MS_BUCKETS)
TTS_FIRST_AUDIO_MS = Histogram(
    "sentiric_tts_first_audio_ms", "Reply text → first synthesized audio", buckets=_MS_BUCKETS
)
REPLY_LATENCY_MS = Histogram(
    "sentiric_reply_latency_ms",
    "Caller's last voiced frame → agent's first voiced frame, as the caller hears it",
    buckets=_MS_BUCKETS,
)

LLM_FALLBACKS = Counter(
    "sentiric_llm_fallbacks_total",
    "Times the fallback LLM answered because the primary was slow or failed",
    ["primary", "reason"],
)
RESPONDER_TEMPLATES = Counter(
    "sentiric_responder_templates_total",
    "Replies said as the task's template though a model was asked: it dropped or invented a fact, was late, failed",
    ["reason"],
)
NEXT_GREETINGS = Counter(
    "sentiric_next_greetings_total",
    "Greetings the model wrote after a known caller's call for their next one: stored, refused by the checks, failed",
    ["result"],
)
REPLY_FILLERS = Counter(
    "sentiric_reply_fillers_total",
    "Replies late enough that a filler (\"Just a moment.\") was played before them",
)
BARGE_INS = Counter("sentiric_barge_ins_total", "Replies cut short because the caller talked over the agent")

# Asterisk control plane: a climbing reconnect count is an Asterisk (or network) that keeps going away.
CONTROL_RECONNECTS = Counter(
    "sentiric_control_reconnects_total", "AMI/ARI connections re-established after a drop", ["peer"]
)
CONTROL_CONNECTED = Gauge("sentiric_control_connected", "1 while the AMI/ARI connection is up", ["peer"])
# Inbound RTP (ARI externalMedia), counted by the jitter buffer at the end of each call.
RTP_PACKETS = Counter(
    "sentiric_rtp_packets_total",
    "Inbound RTP packets by fate: received, late (dropped), duplicate, lost (concealed with silence)",
    ["result"],
)
RTP_LOSS_RATIO = Histogram(
    "sentiric_rtp_loss_ratio",
    "Per call: inbound RTP packets concealed (lost or late), as a fraction of the call's packets",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
)

Health = Callable[[], dict[str, Any]]
_REFUSAL_LOG_S = 10.0
"""At most one `metrics_connection_refused` line per this many seconds (the counter counts every one)."""


def _default_health() -> dict[str, Any]:
    return {"status": "ok"}


class _DeadlineReader(io.RawIOBase):
    """The request's socket, read so that the whole request must arrive before one deadline.

    `http.server` reads the request line and headers with `readline()`: a socket timeout alone bounds each
    `recv`, and a peer that sends a byte just before each timeout would hold its thread for hours. Reading
    through this, every `recv` may wait only what is left of the request's time. Requests here are a few
    hundred bytes, so reading them unbuffered costs nothing worth measuring.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer, min(len(buffer), 1))


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        timeout_s = self.server.request_timeout_s
        self.timeout = timeout_s  # every send and recv; `_DeadlineReader` bounds the request as a whole
        super().setup()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, time.monotonic() + timeout_s), 1)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        elif path == "/healthz":
            try:
                body = self.server.health()
            except Exception as exc:  # a broken probe must say so, not hang or 500 without a body
                body = {"status": "error", "error": str(exc)}
            code = 200 if body.get("status") == "ok" else 503
            self._send(code, "application/json", json.dumps(body).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.connection.settimeout(self.timeout)  # the reads left it at what remained of the request's time
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would flood journald; http.server writes them to stderr by default."""


class _Server(ThreadingHTTPServer):
    """One thread per request, at most `max_connections` at once: a connection past the cap is closed at
    accept (counted, logged at most once per `_REFUSAL_LOG_S`), so a flood of half-sent requests costs a few
    threads for `request_timeout_s`, not a thread each for as long as the peer likes."""

    daemon_threads = True
    request_queue_size = socket.SOMAXCONN
    """The listen backlog. socketserver's 5 let a burst of connections (a flood, or scrapers in step) fill
    the kernel's accept queue faster than this thread drains it, and every connection past it then waited
    for its SYN retransmit (1 s, 3 s, ...) before it was even refused: 200 in a row took 30 s, not 20 ms."""
    health: Health = staticmethod(_default_health)
    request_timeout_s: float = 5.0
    max_connections: int = 8
    _slots: threading.BoundedSemaphore
    _refusals_logged_at: float = -_REFUSAL_LOG_S

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            PROTOCOL_ERRORS.labels(ingress="metrics", reason="too_many_connections").inc()
            now = time.monotonic()
            if now - self._refusals_logged_at >= _REFUSAL_LOG_S:
                self._refusals_logged_at = now
                log.warning("metrics_connection_refused", peer=str(client_address[0]), limit=self.max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """`/metrics` + `/healthz` on a thread; `close()` frees the port (tests start many daemons)."""

    def __init__(
        self,
        host: str,
        port: int,
        health: Health | None = None,
        *,
        max_connections: int = 8,
        request_timeout_s: float = 5.0,
    ) -> None:
        """`max_connections`, `request_timeout_s`: `[metrics]`'s (sections.MetricsConfig)."""
        self._httpd = (_Server6 if ":" in host else _Server)((host, port), _Handler, bind_and_activate=False)
        self._httpd.max_connections = max_connections
        self._httpd.request_timeout_s = request_timeout_s
        self._httpd.health = health or _default_health
        try:
            self._httpd.server_bind()
            self._httpd.server_activate()
        except BaseException:
            self._httpd.server_close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def serve_metrics(host: str, port: int, health: Health | None = None) -> int:
    """Start `/metrics` and `/healthz` in a thread; return the bound port. Runs until the process exits."""
    return MetricsServer(host, port, health).start().port


def fetch_health(host: str, port: int, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """What a running daemon's `/healthz` at `[metrics] host:port` says, or None when no sentiric-pbx answers.

    The other side of the server above, for `doctor` and `selftest` on the same host: they ask the daemon
    which ports it holds, its pid and its agent mode instead of guessing from a busy port. A draining
    daemon answers 503 with the same body, so the status code is not what decides; the `service` field is.
    """
    import httpx

    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    url = f"http://[{target}]:{port}/healthz" if ":" in target else f"http://{target}:{port}/healthz"
    try:
        body = httpx.get(url, timeout=timeout_s).json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("service") != "sentiric-pbx":
        return None
    return body


def observe_stage(stage: str, ms: float) -> None:
    """Every stage timing of a call also feeds the matching Prometheus histogram (admins graph these)."""
    histogram = {
        "stt_ms": STT_MS,
        "nlu_ms": NLU_MS,
        "task": TASK_MS,
        "tts_first_audio_ms": TTS_FIRST_AUDIO_MS,
        "reply_latency_ms": REPLY_LATENCY_MS,
    }.get(stage)
    if histogram is not None:
        histogram.observe(ms)

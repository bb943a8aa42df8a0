"""Prometheus metrics: what an admin graphs to see that calls flow and audio is paced.

Served on `[metrics] host:port` (loopback by default) by `serve_metrics`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

CALLS_TOTAL = Counter("sentiric_calls_total", "Calls accepted", ["ingress"])
CALLS_ACTIVE = Gauge("sentiric_calls_active", "Calls in progress", ["ingress"])
PROTOCOL_ERRORS = Counter(
    "sentiric_protocol_errors_total", "Connections ended because the peer broke the protocol", ["ingress", "reason"]
)
PLAYOUT_LATE_TICKS = Counter(
    "sentiric_playout_late_ticks_total", "Playout ticks a whole frame late (clock re-anchored, no burst)"
)
AGI_REQUESTS = Counter("sentiric_fastagi_requests_total", "FastAGI requests", ["script", "outcome"])
TURNS_TOTAL = Counter("sentiric_turns_total", "Caller turns detected by the endpointer")


def serve_metrics(host: str, port: int) -> int:
    """Start the /metrics HTTP endpoint in a thread; return the bound port."""
    server, _thread = start_http_server(port, addr=host)
    return server.server_address[1]


LLM_FALLBACKS = Counter(
    "sentiric_llm_fallbacks_total",
    "Times the fallback LLM answered because the primary was slow or failed",
    ["primary", "reason"],
)
BARGE_INS = Counter("sentiric_barge_ins_total", "Replies cut short because the caller talked over the agent")

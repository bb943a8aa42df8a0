"""A stage's timing, kept twice: in the call's record (`calls show`, analytics) and in the admin's metrics.

The record is plain data (`call/record.py`), so the one who measured a stage also feeds the Prometheus
histogram, here, in the same call.
"""

from __future__ import annotations

from sentiric_pbx import metrics
from sentiric_pbx.call.record import CallContext


def timed(ctx: CallContext, stage: str, ms: float) -> None:
    """Record `ms` for `stage` (e.g. "stt_ms", "reply_latency_ms") on the call and in its histogram."""
    ctx.time(stage, ms)
    metrics.observe_stage(stage, ms)

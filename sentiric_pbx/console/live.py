"""The calls in progress, as the console shows them: read from the assistant's running sessions.

Only plain attribute reads of objects the event loop owns, on the loop: a snapshot costs microseconds
and never touches a call's audio path. The state is what the caller would notice: we are `speaking`
(our audio is playing), `thinking` (the caller's last turn has no answer yet), else `listening`.
"""

from __future__ import annotations

import time
from typing import Any

LAST_TURNS = 6


def _state(session: Any) -> str:
    if session.speaker.playing:
        return "speaking"
    turns = session.ctx.turns
    if turns and turns[-1].who == "caller":
        return "thinking"
    return "listening"


def snapshot(assistant: Any) -> list[dict[str, Any]]:
    """One entry per call in progress, oldest first."""
    sessions = getattr(assistant, "sessions", None) or {}
    now = time.time()
    out = []
    for session in list(sessions.values()):
        ctx = session.ctx
        out.append(
            {
                "call_id": ctx.call_id,
                "caller_id": ctx.caller_id,
                "caller_name": ctx.caller_name or (ctx.customer or {}).get("name"),
                "ingress": ctx.ingress,
                "language": ctx.language,
                "state": _state(session),
                "started_at": ctx.started_at,
                "duration_s": round(now - ctx.started_at, 1),
                "turns": [
                    {"who": t.who, "text": t.text, "start_s": t.start_s, "latency_ms": t.latency_ms}
                    for t in ctx.turns[-LAST_TURNS:]
                ],
                "reply_latency_ms": list(ctx.timings.get("reply_latency_ms", [])),
            }
        )
    out.sort(key=lambda c: c["started_at"])
    return out

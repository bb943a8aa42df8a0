"""Which caller's engine job goes first: the one who has been waiting longest for a reply.

Eight callers who finish a sentence at the same moment all want Whisper and then Piper at once, on two
cores. A first-come queue serves them in the order their jobs happened to arrive, so a caller who stopped
talking first may wait behind everyone else's previews. Each job instead carries a *due* time — the
moment its caller stopped speaking (for a greeting: the moment the call connected) — and an engine's
queue (`runner.BoundedRunner`) hands a free slot to the earliest due time; jobs with none come after.

The due time travels with the call's asyncio task, like the `call_id` in log lines: the dialog sets it
where it knows it (`waiting_since`), the engines read it (`current_due`). Engines keep their interfaces.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

_DUE: contextvars.ContextVar[float] = contextvars.ContextVar("sentiric_engine_due", default=math.inf)


def current_due() -> float:
    """The loop time the current call's caller has been waiting since (inf: nobody is waiting on this job)."""
    return _DUE.get()


@contextlib.contextmanager
def waiting_since(loop_time: float) -> Iterator[None]:
    """Engine jobs started in this block (and in tasks created from it) are due since `loop_time`."""
    token = _DUE.set(loop_time)
    try:
        yield
    finally:
        _DUE.reset(token)


def set_waiting_since(loop_time: float) -> None:
    """For a task whose every engine job serves one wait (a reply's speaking task): set it for the task."""
    _DUE.set(loop_time)


__all__ = ["current_due", "set_waiting_since", "waiting_since"]

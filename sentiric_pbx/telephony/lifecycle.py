"""One call's life on any ingress: counted, logged, its agent run, given its grace, ended once.

Every ingress did this itself — AudioSocket, ARI, Twilio, the browser phone and FreeSWITCH each had its own
`AGENT_GRACE_S`, its own active-call gauge, `call_started`/`call_ended` lines and wait-then-cancel of the
agent, and the copies drifted (one forgot to count a call ended when the daemon stopped during the grace).
An ingress now does only its wire: it builds its transport, then

    life = CallLife("twilio", transport, agent, ingress.active)
    life.start(stream_sid=…)           # counted, logged, the agent running
    …                                  # the wire until the call is over (caller, agent or error)
    await life.finish(end, marks=…)    # ended once, agent given its grace, counted and logged

`finish` holds even when the ingress's task is cancelled half-way (the daemon stopping): the call is
still counted as ended, its agent stopped, its `call_ended` line written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import Hangup
from sentiric_pbx.telephony.edge import CallIO

log = structlog.get_logger("sentiric_pbx.call")

AGENT_GRACE_S = 5.0
"""After the call ends, how long its agent may go on to store the record, the recording and the post-call
jobs before it is cancelled (a cancelled session still stores what it has)."""


async def run_agent(agent: Agent, transport: CallIO) -> None:
    """Run one call's agent so that its crash is one logged line, not the ingress's: every ingress then
    ends the call and keeps its record the same way, whatever the agent did."""
    try:
        await agent(transport)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("agent_failed")


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel a call's wire tasks (playout clock, reader, writer) and wait until they are gone.

    Not `with suppress(CancelledError): await task`: that also swallows the cancellation of the task that
    waits (the daemon stopping), which then goes on as if nothing happened. Their own exceptions were
    already acted on (or are of no interest once the call is over), so they are retrieved and dropped.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled():
            task.exception()


@dataclass(slots=True)
class ActiveCalls:
    """How many calls an ingress has in progress (its share of `Daemon.calls_active` and of the gauge)."""

    ingress: str
    count: int = 0


class CallLife:
    """`active` None: this is the media leg of a call that another ingress counts and logs (an ARI call's
    AudioSocket connection); its handler still runs with the same grace, but it is not a call of its own."""

    def __init__(self, ingress: str, transport: CallIO, agent: Agent, active: ActiveCalls | None) -> None:
        self.ingress = ingress
        self.transport = transport
        self.agent = agent
        self.active = active
        self.started = time.monotonic()
        self.agent_task: asyncio.Task[None] | None = None
        self._counted = False
        self._finished = False

    def start(self, **fields: Any) -> asyncio.Task[None]:
        """Count the call, log `call_started` (with `fields`), and start its agent."""
        info = self.transport.info
        if self.active is not None:
            self._counted = True
            self.active.count += 1
            metrics.CALLS_ACTIVE.labels(ingress=self.ingress).inc()
            metrics.CALLS_TOTAL.labels(ingress=self.ingress).inc()
            log.info("call_started", ingress=self.ingress, caller_id=info.caller_id, **fields)
        self.agent_task = asyncio.create_task(run_agent(self.agent, self.transport), name=f"agent-{info.call_id}")
        return self.agent_task

    @property
    def agent_done(self) -> bool:
        return self.agent_task is not None and self.agent_task.done()

    async def finish(self, end: Hangup, **fields: Any) -> None:
        """End the call (once), give the agent `AGENT_GRACE_S` to store it, count it ended, log `call_ended`.

        `fields` are the wire's own figures for the `call_ended` line (packets lost, marks played…).
        """
        if self._finished:
            return
        self._finished = True
        self.transport.end(end)
        agent = self.agent_task
        try:
            if agent is not None:
                await asyncio.wait({agent}, timeout=AGENT_GRACE_S)
                if not agent.done():
                    agent.cancel()
                    await asyncio.wait({agent})
        finally:
            if agent is not None and not agent.done():
                agent.cancel()  # we were cancelled ourselves (the daemon stops): the agent must not outlive us
            self._count_ended(end, fields)

    def _count_ended(self, end: Hangup, fields: dict[str, Any]) -> None:
        duration_s = round(time.monotonic() - self.started, 3)
        if self.active is None:
            return  # a media leg: its call is counted and logged where it is handled
        if not self._counted:  # ended during set-up: no agent ever ran
            log.info("call_ended", ingress=self.ingress, by=end.by, reason=end.reason, setup_complete=False, **fields)
            return
        self.active.count -= 1
        metrics.CALLS_ACTIVE.labels(ingress=self.ingress).dec()
        t = self.transport
        stats = t.clock.stats
        metrics.PLAYOUT_LATE_TICKS.inc(stats.late_ticks)
        log.info(
            "call_ended",
            ingress=self.ingress,
            by=end.by,
            reason=end.reason,
            duration_s=duration_s,
            frames_in=t.frames_in,
            frames_out=stats.frames_sent,
            audio_frames_out=stats.audio_frames_sent,
            silence_frames_in=t.silence_frames,
            late_ticks=stats.late_ticks,
            underruns=stats.underruns,
            dropped_inbound=t.dropped_inbound,
            **fields,
        )


__all__ = ["AGENT_GRACE_S", "ActiveCalls", "CallLife", "run_agent", "stop_tasks"]

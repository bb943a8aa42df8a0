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
from sentiric_pbx.call.transport import CallTransport, Hangup
from sentiric_pbx.config import AgentConfig
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


async def _hang_up(transport: CallTransport) -> None:
    """Over capacity with an agent that has no "busy" of its own (the echo line test): just end the call."""
    await transport.hangup()


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


class Capacity:
    """How many conversations the agent holds at once over every ingress (`[agent] max_calls`, 0 = no limit).

    A call beyond it hears the agent's short "all lines are busy" (`agent.busy(transport)`, a cached phrase)
    and is hung up, so the calls in progress keep answering within a second instead of all slowing down.
    The limit is read at each claim: a changed setting applies to the next call.
    """

    def __init__(self, agent: AgentConfig) -> None:
        self._agent = agent
        self.in_use = 0

    @property
    def limit(self) -> int:
        return self._agent.max_calls

    def claim(self) -> bool:
        if self.limit and self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1


@dataclass(slots=True)
class ActiveCalls:
    """How many calls an ingress has in progress (its share of `Daemon.calls_active` and of the gauge), and
    the capacity its calls claim a line from (the daemon's, shared by every ingress; None: no limit)."""

    ingress: str
    count: int = 0
    capacity: Capacity | None = None


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
        self._line = False
        """This call holds one of `capacity`'s lines (released as soon as the call is over)."""

    def start(self, *, refuse: bool = False, **fields: Any) -> asyncio.Task[None]:
        """Claim a line, count the call, log `call_started` (with `fields`), and start its agent — or, when
        every line is taken or the ingress `refuse`s the call, the agent's "all lines are busy" (`busy`),
        which hangs up without taking a line."""
        info = self.transport.info
        handler: Agent = self.agent
        if self.active is not None:
            capacity = self.active.capacity
            if refuse:
                handler = getattr(self.agent, "busy", None) or _hang_up
                fields["busy"] = True
            elif capacity is None or capacity.claim():
                self._line = capacity is not None
            else:
                handler = getattr(self.agent, "busy", None) or _hang_up
                fields["busy"] = True
                log.warning("call_rejected_busy", active_calls=capacity.in_use, max_calls=capacity.limit)
            self._counted = True
            self.active.count += 1
            metrics.CALLS_ACTIVE.labels(ingress=self.ingress).inc()
            metrics.CALLS_TOTAL.labels(ingress=self.ingress).inc()
            log.info("call_started", ingress=self.ingress, caller_id=info.caller_id, **fields)
        self.agent_task = asyncio.create_task(run_agent(handler, self.transport), name=f"agent-{info.call_id}")
        return self.agent_task

    def _release_line(self) -> None:
        """The caller is gone: the line is free for the next call now, not after the record is written."""
        if self._line and self.active is not None and self.active.capacity is not None:
            self._line = False
            self.active.capacity.release()

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
        self.transport.end(end)  # a no-op when the agent ended the call first (`ended` keeps that end)
        if end.by != "error":
            # The agent hung up (or transferred) first: the wire's close, or the agent finishing before it, only
            # followed from that. A peer's protocol error stays what it is, whenever it came.
            end = self.transport.ended or end
        self._release_line()
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


__all__ = ["AGENT_GRACE_S", "ActiveCalls", "CallLife", "Capacity", "run_agent", "stop_tasks"]

"""`CallLife`, the one life every ingress gives a call: lines, counts, the agent's grace, an end that holds.

A transport here is the real `CallIO` with nothing on the wire (the ingresses' own tests cover the wires).
"""

from __future__ import annotations

import asyncio

import pytest

from sentiric_pbx import metrics
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.call.transport import CallInfo, CallTransport, Hangup
from sentiric_pbx.config import AgentConfig
from sentiric_pbx.telephony import lifecycle
from sentiric_pbx.telephony.edge import CallIO
from sentiric_pbx.telephony.lifecycle import ActiveCalls, CallLife, Capacity


class WireLess(CallIO):
    def __init__(self, call_id: str) -> None:
        super().__init__(CallInfo(call_id=call_id, ingress="test"))
        self.clock = PlayoutClock(lambda _frame: None, b"")
        self._out = PacedOutput(self.clock, 16000, 640, lambda pcm: pcm)
        self.hung_up = False

    async def hangup(self) -> None:
        self.hung_up = True
        self.end(Hangup("agent", "agent_hangup"))

    async def transfer(self, target: str) -> None:
        self.end(Hangup("agent", "transferred"))


class Agent:
    """Converses until the call ends; says "busy" when there is no line."""

    def __init__(self) -> None:
        self.conversed: list[str] = []
        self.told_busy: list[str] = []

    async def __call__(self, transport: CallTransport) -> None:
        self.conversed.append(transport.info.call_id)
        async for _ in transport.frames():
            pass

    async def busy(self, transport: CallTransport) -> None:
        self.told_busy.append(transport.info.call_id)
        await transport.hangup()


def gauge(ingress: str) -> float:
    return metrics.CALLS_ACTIVE.labels(ingress=ingress)._value.get()


async def test_a_call_beyond_max_calls_hears_busy_and_its_line_frees_when_the_caller_is_gone() -> None:
    capacity = Capacity(AgentConfig(max_calls=1))
    agent = Agent()
    a_calls, b_calls = ActiveCalls("ingress-a", capacity=capacity), ActiveCalls("ingress-b", capacity=capacity)
    first = CallLife("ingress-a", WireLess("first"), agent, a_calls)
    first.start()
    second_transport = WireLess("second")
    second = CallLife("ingress-b", second_transport, agent, b_calls)  # another ingress, the same lines
    await asyncio.wait_for(second.start(), 5)
    assert agent.told_busy == ["second"] and second_transport.hung_up
    await second.finish(Hangup("agent", "agent_hangup"))
    assert capacity.in_use == 1  # a refused call never held a line

    await first.finish(Hangup("caller", "tcp_close"))
    assert capacity.in_use == 0
    third = CallLife("ingress-b", WireLess("third"), agent, b_calls)
    third.start()
    await asyncio.sleep(0)
    assert agent.conversed == ["first", "third"]
    await third.finish(Hangup("caller", "tcp_close"))
    assert (a_calls.count, b_calls.count, capacity.in_use) == (0, 0, 0)


async def test_the_call_is_counted_ended_even_when_the_daemon_stops_during_the_agents_grace() -> None:
    before = gauge("grace-test")
    storing = asyncio.Event()

    async def slow_to_store(transport: CallTransport) -> None:
        async for _ in transport.frames():
            pass
        storing.set()
        await asyncio.sleep(60)  # the record, the recording, the post-call jobs…

    active = ActiveCalls("grace-test", capacity=Capacity(AgentConfig(max_calls=4)))
    life = CallLife("grace-test", WireLess("c1"), slow_to_store, active)
    agent = life.start()
    assert gauge("grace-test") == before + 1
    finishing = asyncio.create_task(life.finish(Hangup("caller", "tcp_close")))
    await storing.wait()
    finishing.cancel()  # the daemon stops now
    with pytest.raises(asyncio.CancelledError):
        await finishing
    await asyncio.sleep(0)
    assert agent.cancelled()
    assert gauge("grace-test") == before and active.count == 0 and active.capacity.in_use == 0  # type: ignore[union-attr]


async def test_an_agent_that_outlives_its_grace_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "AGENT_GRACE_S", 0.05)

    async def never_done(transport: CallTransport) -> None:
        await asyncio.sleep(60)

    life = CallLife("grace-test", WireLess("c2"), never_done, ActiveCalls("grace-test"))
    agent = life.start()
    await asyncio.wait_for(life.finish(Hangup("caller", "tcp_close")), 5)
    assert agent.cancelled()


async def test_an_agent_that_crashes_is_one_logged_line_and_the_call_still_ends(logs) -> None:
    async def broken(transport: CallTransport) -> None:
        raise RuntimeError("bug in the agent")

    active = ActiveCalls("crash-test")
    life = CallLife("crash-test", WireLess("c3"), broken, active)
    await life.start()
    await life.finish(Hangup("agent", "agent_finished"))
    assert [e["event"] for e in logs if e["event"] in ("agent_failed", "call_ended")] == ["agent_failed", "call_ended"]
    assert active.count == 0


async def test_a_media_leg_runs_its_handler_but_is_not_a_call_of_its_own(logs) -> None:
    """An ARI call's AudioSocket connection: ARI counts and logs the call; the connection only carries it."""
    ran = asyncio.Event()

    async def attach(transport: CallTransport) -> None:
        ran.set()

    life = CallLife("audiosocket", WireLess("media"), attach, None)
    life.start()
    await ran.wait()
    await life.finish(Hangup("caller", "tcp_close"))
    assert not [e for e in logs if e["event"] in ("call_started", "call_ended")]


async def test_the_call_ends_as_the_agent_ended_it_whatever_the_wire_sees_after(logs) -> None:
    """The agent transferred (our 0x00), then finished, before Asterisk's close reached the read loop: the
    read loop's "agent_finished" (or the close's "tcp_close") is what followed, `call_ended` says why."""

    async def transfers(transport: CallTransport) -> None:
        await transport.transfer("PJSIP/reception")

    active = ActiveCalls("order-test")
    life = CallLife("order-test", WireLess("c4"), transfers, active)
    agent = life.start()
    await agent
    await life.finish(Hangup("agent", "agent_finished"))
    ended = [e for e in logs if e["event"] == "call_ended"]
    assert [(e["by"], e["reason"]) for e in ended] == [("agent", "transferred")]

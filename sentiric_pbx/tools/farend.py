"""The far end of a call placed through a real Asterisk: the caller's side, as an AudioSocket server.

Why it exists: `sentiric-pbx call` speaks to the daemon directly, as Asterisk would. To prove the
whole path — Asterisk's dialplan, FastAGI, AudioSocket, the codecs and bridges in between — the caller
must be on the *other* side of Asterisk. AMI `Originate` of `Local/100@sentiric/n` with
`Context: sentiric-selftest` (asterisk/extensions.conf) makes one leg run the agent's extension and
the other connect here with `AudioSocket(${SENTIRIC_SELFTEST_UUID},${SENTIRIC_SELFTEST_ADDR})`
(8 kHz) or, for extension `wideband`, `Dial(AudioSocket/…/c(slin16))` (16 kHz). What this server
sends is what the agent hears; what it receives is what a phone would play.

It measures exactly as the test caller does (`tools/caller.py`: `Wire`, `run_script`): the greeting
from connect to the agent's first voiced frame, each reply from the caller's last voiced frame to the
agent's first voiced frame after it. `silent_frames=False` sends nothing at all while the caller is
quiet — a Local channel in Wait(), a phone with silence suppression, a two-party bridge — which a
voice agent must handle as well as a caller that sends silent frames (fixtures fact 8).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from dataclasses import dataclass

from sentiric_pbx.aio import within
from sentiric_pbx.telephony.audiosocket.protocol import KIND_BY_RATE, FrameParser, Kind, encode
from sentiric_pbx.tools.caller import FRAME_S, CallerOptions, CallReport, Wire, finish_report, run_script


@dataclass(slots=True)
class FarEndCall:
    """One accepted connection: its UUID, the wire both ways, and the tasks that move the audio."""

    call_id: str
    wire: Wire
    writer: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]]

    async def converse(self, turns: list[bytes], opts: CallerOptions) -> CallReport:
        """Wait for the greeting, speak each turn (PCM at the wire's rate), wait for each reply; measure."""
        report = CallReport(call_id=self.call_id, greeting_latency_ms=None)
        await run_script(turns, self.wire, opts, report)
        if self.wire.ended_by is not None:
            report.ended_by = self.wire.ended_by
        return report

    async def speak(self, pcm: bytes) -> None:
        """Queue `pcm` (at the wire's rate) and return once it has all been sent."""
        frames = [pcm[i : i + self.wire.frame] for i in range(0, len(pcm), self.wire.frame)]
        if frames:
            frames[-1] = frames[-1] + bytes(self.wire.frame - len(frames[-1]))
        self.wire.drained.clear()
        for frame in frames:
            self.wire.outbox.put_nowait(frame)
        await self.wire.drained.wait()

    @property
    def ended(self) -> bool:
        return self.wire.ended_by is not None

    async def wait_ended(self, within_s: float) -> bool:
        """Wait until Asterisk closes the connection (the agent hung up or transferred); True if it did."""
        receiver = self.tasks[1]
        with contextlib.suppress(TimeoutError):
            await within(asyncio.shield(receiver), within_s)
        return self.ended

    async def hang_up(self) -> None:
        """Close TCP, as Asterisk does when a caller hangs up (no 0x00)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self.writer.close()
            await self.writer.wait_closed()

    def report(self, opts: CallerOptions) -> CallReport:
        """Frame counts and the stereo recording (caller left, agent right) once the call is over."""
        return finish_report(CallReport(call_id=self.call_id, greeting_latency_ms=None), self.wire, opts)


class FarEnd:
    """An AudioSocket listener on loopback that hands each connection to whoever awaits its UUID."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, voiced_dbfs: float = -40.0) -> None:
        self.host = host
        self._port = port
        self.voiced_dbfs = voiced_dbfs
        self._server: asyncio.Server | None = None
        self._waiting: dict[str, asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter, list]]] = {}
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> FarEnd:
        self._server = await asyncio.start_server(self._on_connect, self.host, self._port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def expect(self) -> str:
        """A new UUID for the next call; `answer(uuid)` waits for Asterisk to connect with it."""
        call_id = str(uuid.uuid4())
        self._waiting[call_id] = asyncio.get_running_loop().create_future()
        return call_id

    async def answer(
        self, call_id: str, *, rate: int = 8000, silent_frames: bool = True, within_s: float = 15.0
    ) -> FarEndCall:
        """The connection for `call_id` (from `expect()`), already sending and receiving audio."""
        async with asyncio.timeout(within_s):
            reader, writer, pending = await self._waiting[call_id]
        wire = Wire(rate, self.voiced_dbfs)
        wire.t0 = asyncio.get_running_loop().time()
        tasks = [
            asyncio.create_task(_send(writer, wire, silent_frames), name=f"farend-send-{call_id}"),
            asyncio.create_task(_receive(reader, wire, pending), name=f"farend-recv-{call_id}"),
        ]
        return FarEndCall(call_id, wire, writer, tasks)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conns.add(writer)
        parser = FrameParser(max_payload=65535)
        frames = []
        try:
            async with asyncio.timeout(10):
                while not frames:
                    data = await reader.read(65536)
                    if not data:
                        writer.close()
                        return
                    frames = parser.feed(data)
        except TimeoutError:
            writer.close()
            return
        call_id = str(frames[0].uuid())
        waiter = self._waiting.pop(call_id, None)
        if waiter is None or waiter.done():
            writer.close()  # not a call we placed
            return
        waiter.set_result((reader, writer, [parser, frames[1:]]))

    async def close(self) -> None:
        for writer in self._conns:
            with contextlib.suppress(Exception):
                writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _send(writer: asyncio.StreamWriter, wire: Wire, silent_frames: bool) -> None:
    """One frame every 20 ms on an absolute clock while there is something to say; silence in between
    only when `silent_frames` (else nothing at all, as a Local channel or a DTX phone sends).

    Stops once Asterisk has closed the connection (writing on would only fail, once per frame), and says
    it is drained so that a script waiting to finish a turn is not left waiting for a wire that is gone."""
    loop = asyncio.get_running_loop()
    kind = KIND_BY_RATE[wire.rate]
    deadline = loop.time()
    while True:
        if wire.ended_by is not None or writer.is_closing():
            wire.drained.set()
            return
        if silent_frames or not wire.outbox.empty():
            writer.write(encode(kind, wire.next_outbound()))
        else:
            wire.drained.set()
        deadline += FRAME_S
        await asyncio.sleep(max(0.0, deadline - loop.time()))


async def _receive(reader: asyncio.StreamReader, wire: Wire, pending: list) -> None:
    loop = asyncio.get_running_loop()
    parser, first = pending
    frames = first
    while True:
        now = loop.time()
        for frame in frames:
            if frame.kind == Kind.HANGUP:
                wire.ended_by = "agent_hangup_frame"
                return
            if frame.rate is not None:
                wire.receive(frame.payload, now)
        data = await reader.read(65536)
        if not data:
            wire.ended_by = wire.ended_by or "agent_closed"
            return
        frames = parser.feed(data)


__all__ = ["FarEnd", "FarEndCall"]

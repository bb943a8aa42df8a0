"""A far end with line echo: it returns what it hears, attenuated and late, mixed with what the caller says.

A two-wire phone line reflects part of the agent's voice back at the hybrid: PSTN echo is at least 6 dB
quieter than the voice (G.168's echo return loss) and up to 128 ms late (a canceller's tail). This
replaces a `FarEndCall`'s sender: every 20 ms it sends the agent audio received `delay_ms` earlier,
scaled by `gain_db`, plus the caller's own next frame when it is speaking. Through the real Asterisk
in between, the agent gets exactly the mixture a caller on such a line produces.
"""

from __future__ import annotations

import asyncio

import numpy as np

from sentiric_pbx.telephony.audiosocket.protocol import KIND_BY_RATE, encode
from sentiric_pbx.tools.caller import FRAME_S
from sentiric_pbx.tools.farend import FarEndCall


def add_line_echo(call: FarEndCall, gain_db: float, delay_ms: int) -> None:
    """From now on, `call` sends its received audio back with this gain and delay (plus the caller's voice)."""
    sender = call.tasks[0]
    sender.cancel()
    call.tasks[0] = asyncio.create_task(_send_with_echo(call, 10 ** (gain_db / 20), delay_ms / 1000))


async def _send_with_echo(call: FarEndCall, gain: float, delay_s: float) -> None:
    wire = call.wire
    loop = asyncio.get_running_loop()
    kind = KIND_BY_RATE[wire.rate]
    deadline = loop.time()
    echo_next = len(wire.received)
    while True:
        now = loop.time()
        echo = np.zeros(wire.frame // 2)
        if echo_next < len(wire.received) and wire.received[echo_next][0] <= now - delay_s:  # one per tick
            pcm = wire.received[echo_next][1]
            echo = np.frombuffer(pcm[: wire.frame].ljust(wire.frame, b"\0"), dtype="<i2") * gain
            echo_next += 1
        voice = np.frombuffer(wire.next_outbound(), dtype="<i2")
        mixed = np.clip(voice.astype(np.float64) + echo, -32768, 32767).astype("<i2")
        wire.sent[-1] = (wire.sent[-1][0], mixed.tobytes())
        call.writer.write(encode(kind, mixed.tobytes()))
        deadline += FRAME_S
        await asyncio.sleep(max(0.0, deadline - loop.time()))

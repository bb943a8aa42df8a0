"""The test caller: places a call the way Asterisk does, and measures the agent on the wire.

It registers over FastAGI (the `agi_*` environment of a real Asterisk 22, answering the commands our
AGI handler sends), connects to AudioSocket, sends the UUID frame and then one 20 ms frame every
20 ms on an absolute clock — the turn's audio, silence in between, as a phone line does — and reads
the agent's frames as they arrive. After each turn it waits for the agent's reply to end (at least
`reply_silence_s` of silence after voiced audio, or `reply_timeout_s` without any), then plays the
next turn, then hangs up.

Latency is measured at the wire, which is what a caller hears: from the send time of the caller's
last voiced frame to the arrival time of the agent's first voiced frame after it. "Voiced" means
RMS above `voiced_dbfs` (default −40 dBFS). This is the instrument every latency figure in the
project comes from, so it measures and reports; it never smooths.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
import uuid
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sentiric_pbx.aio import within
from sentiric_pbx.audio.frames import frame_bytes, rms_dbfs
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.telephony.asterisk.registration import registration_key
from sentiric_pbx.telephony.audiosocket.protocol import (
    HANGUP_FRAME,
    KIND_BY_RATE,
    FrameParser,
    Kind,
    encode,
    encode_uuid,
)

FRAME_S = 0.020


@dataclass(slots=True)
class CallerOptions:
    host: str = "127.0.0.1"
    port: int = 9092
    agi: tuple[str, int] | None = None
    caller_id: str = "+905551112233"
    caller_name: str = "Test Caller"
    called_number: str = "5000"
    language: str = "en"
    """The channel's language as FastAGI reports it (`agi_language`): picks the call's STT engine."""
    agi_secret: str | None = None
    """`[fastagi] secret` of the daemon called: the registration then carries the key the dialplan computes
    (`${SHA1(${DB(sentiric/agi_secret)}${UUID})}`), so the call is verified. None = no key."""
    rate: int = 8000
    """8000 is what `AudioSocket()` uses; 16000 is `Dial(AudioSocket/…/c(slin16))`."""
    record: Path | None = None
    hangup_after_s: float | None = None
    """Hang up (close TCP, as Asterisk does) this long after connecting, whatever is happening."""
    hangup_mode: str = "frame"
    """How the call ends after the last turn: "frame" sends 0x00, "close" just closes TCP."""
    voiced_dbfs: float = -40.0
    reply_silence_s: float = 1.5
    reply_timeout_s: float = 15.0
    greeting_wait_s: float = 2.0
    """How long to wait for a greeting before the first turn; no voiced audio by then means none."""
    connect_timeout_s: float = 5.0


@dataclass(slots=True)
class TurnReport:
    caller_audio_s: float
    latency_ms: float | None
    agent_audio_s: float
    underruns: int


@dataclass(slots=True)
class CallReport:
    call_id: str
    greeting_latency_ms: float | None
    turns: list[TurnReport] = field(default_factory=list)
    ended_by: str = "caller"
    frames_received: int = 0
    interarrival_ms: dict[str, float] = field(default_factory=dict)
    agi_commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class CallerError(Exception):
    """The call could not be placed (nothing listening, AGI refused); worded for the person testing."""


def load_turn(path: Path, rate: int) -> bytes:
    """A turn WAV (mono 16-bit, any rate) as PCM at the call's rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise CallerError(f"{path}: need a mono 16-bit WAV, got {wav.getnchannels()} ch × {wav.getsampwidth()} B")
        pcm = wav.readframes(wav.getnframes())
    if not pcm:
        raise CallerError(f"{path}: the WAV file holds no audio")
    return resample(pcm, wav.getframerate(), rate)


class Wire:
    """Both directions of one call, timestamped on the loop's clock — the part every ingress shares.

    A dialer for any ingress (AudioSocket here; the Twilio, WebRTC and FreeSWITCH peers in the tests)
    only moves audio: it sends what `outbox` holds every 20 ms (silence otherwise, setting `drained`),
    appends each frame it sends to `sent`, calls `receive()` for each agent frame, and sets `ended_by`
    when the far end goes away. `run_script` then plays the turns and measures, identically for all.
    All PCM here is 16-bit mono at `rate`.
    """

    def __init__(self, rate: int, voiced_dbfs: float) -> None:
        self.rate = rate
        self.voiced_dbfs = voiced_dbfs
        self.frame = frame_bytes(rate)
        self.t0 = 0.0
        self.sent: list[tuple[float, bytes]] = []
        self.received: list[tuple[float, bytes, bool]] = []
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.arrived = asyncio.Event()
        self.drained = asyncio.Event()
        self.ended_by: str | None = None

    def voiced(self, pcm: bytes) -> bool:
        return rms_dbfs(pcm) > self.voiced_dbfs

    def next_outbound(self) -> bytes:
        """The frame to send now: the script's next one, else silence (and the script learns it is out)."""
        try:
            pcm = self.outbox.get_nowait()
        except asyncio.QueueEmpty:
            pcm = bytes(self.frame)
            self.drained.set()
        self.sent.append((asyncio.get_running_loop().time(), pcm))
        return pcm

    def receive(self, pcm: bytes, at: float | None = None) -> None:
        """One frame of the agent's audio arrived (`at`: arrival time on the loop clock, default now)."""
        when = asyncio.get_running_loop().time() if at is None else at
        self.received.append((when, pcm, self.voiced(pcm)))
        self.arrived.set()


async def _register_agi(opts: CallerOptions, call_id: str) -> list[str]:
    """Be Asterisk's side of `AGI(agi://…/register,${UUID})` until the server closes the socket."""
    assert opts.agi is not None
    try:
        reader, writer = await within(asyncio.open_connection(*opts.agi), opts.connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        raise CallerError(f"cannot reach FastAGI at {opts.agi[0]}:{opts.agi[1]}: {exc}") from None
    env = {
        "agi_network": "yes",
        "agi_network_script": "register",
        "agi_request": f"agi://{opts.agi[0]}:{opts.agi[1]}/register",
        "agi_channel": f"PJSIP/{opts.caller_id}-00000001",
        "agi_language": opts.language,
        "agi_type": "PJSIP",
        "agi_uniqueid": f"{time.time():.2f}",
        "agi_version": "22.10.1",
        "agi_callerid": opts.caller_id,
        "agi_calleridname": opts.caller_name,
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": opts.called_number,
        "agi_rdnis": "unknown",
        "agi_context": "sentiric",
        "agi_extension": opts.called_number,
        "agi_priority": "3",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140548641425088",
        "agi_arg_1": call_id,
    }
    if opts.agi_secret is not None:
        env["agi_arg_2"] = "dial" if opts.rate == 16000 else "app"
        env["agi_arg_3"] = registration_key(opts.agi_secret, call_id)
    variables = {"UUID": call_id}
    commands: list[str] = []
    writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
    try:
        async with asyncio.timeout(opts.connect_timeout_s):
            while line := await reader.readline():
                command = line.decode().rstrip("\n")
                commands.append(command)
                writer.write(_agi_reply(command, variables).encode())
    except TimeoutError:
        raise CallerError("the FastAGI server never closed the socket; Asterisk would sit in AGI()") from None
    finally:
        writer.close()
    return commands


def _agi_reply(command: str, variables: dict[str, str]) -> str:
    words = command.split(" ", 3)
    if words[:2] == ["GET", "VARIABLE"] and len(words) >= 3:
        value = variables.get(words[2])
        return f"200 result=1 ({value})\n" if value is not None else "200 result=0\n"
    if words[:2] == ["SET", "VARIABLE"] and len(words) >= 4:
        variables[words[2]] = words[3]
        return "200 result=1\n"
    if words[:1] == ["VERBOSE"]:
        return "200 result=1\n"
    return "510 Invalid or unknown command\n"


async def _sender(writer: asyncio.StreamWriter, wire: Wire) -> None:
    """One frame every 20 ms on an absolute clock; silence when the script has nothing to say."""
    loop = asyncio.get_running_loop()
    kind = KIND_BY_RATE[wire.rate]
    deadline = loop.time()
    while True:
        writer.write(encode(kind, wire.next_outbound()))
        deadline += FRAME_S
        await asyncio.sleep(max(0.0, deadline - loop.time()))


async def _receiver(reader: asyncio.StreamReader, wire: Wire) -> None:
    loop = asyncio.get_running_loop()
    parser = FrameParser(max_payload=65535, expect_uuid=False)
    while True:
        data = await reader.read(65536)
        if not data:
            wire.ended_by = wire.ended_by or "agent_closed"
            return
        now = loop.time()
        for frame in parser.feed(data):
            if frame.kind == Kind.HANGUP:
                wire.ended_by = "agent_hangup_frame"
                return
            if frame.rate is not None:
                wire.receive(frame.payload, now)


async def _wait_reply(wire: Wire, since: float, opts: CallerOptions, wait_s: float) -> tuple[float, float] | None:
    """Wait for voiced agent audio after `since`, then for it to end; return (first, last) voiced times."""
    loop = asyncio.get_running_loop()
    first = last = None
    index = _index_after(wire, since)
    start = loop.time()
    while wire.ended_by is None:
        for t, _pcm, voiced in wire.received[index:]:
            if voiced:
                first = t if first is None else first
                last = t
        index = len(wire.received)
        now = loop.time()
        if first is None and now - start > wait_s:
            return None
        if last is not None and now - last >= opts.reply_silence_s:
            break
        if now - start > opts.reply_timeout_s + wait_s:
            break
        wire.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await within(wire.arrived.wait(), 0.05)
    return (first, last) if first is not None and last is not None else None


def _index_after(wire: Wire, since: float) -> int:
    for i in range(len(wire.received) - 1, -1, -1):
        if wire.received[i][0] <= since:
            return i + 1
    return 0


def _gaps(wire: Wire, first: float, last: float) -> int:
    """Frames that arrived more than two frame-times after the previous one inside the reply."""
    times = [t for t, _p, _v in wire.received if first <= t <= last]
    return sum(1 for a, b in itertools.pairwise(times) if b - a > 2 * FRAME_S)


async def _speak(wire: Wire, pcm: bytes) -> float:
    """Queue one turn and wait until it is on the wire; return the send time of its last voiced frame."""
    frames = [pcm[i : i + wire.frame] for i in range(0, len(pcm), wire.frame)]
    frames[-1] = frames[-1] + bytes(wire.frame - len(frames[-1]))
    start_index = len(wire.sent) + wire.outbox.qsize()
    wire.drained.clear()
    for f in frames:
        wire.outbox.put_nowait(f)
    await wire.drained.wait()
    voiced_idx = [i for i, f in enumerate(frames) if wire.voiced(f)]
    last = voiced_idx[-1] if voiced_idx else len(frames) - 1
    pos = min(start_index + last, len(wire.sent) - 1)
    return wire.sent[pos][0]


async def run_script(turns: list[bytes], wire: Wire, opts: CallerOptions, report: CallReport) -> None:
    """Wait for the greeting, then speak each turn and wait for its reply, measuring both on the wire."""
    reply = await _wait_reply(wire, wire.t0, opts, opts.greeting_wait_s)
    if reply is not None:
        report.greeting_latency_ms = round((reply[0] - wire.t0) * 1000, 1)
    for pcm in turns:
        if wire.ended_by is not None:
            break
        last_voiced = await _speak(wire, pcm)
        got = await _wait_reply(wire, last_voiced, opts, opts.reply_timeout_s)
        if got is None:
            report.turns.append(TurnReport(round(len(pcm) / (2 * wire.rate), 3), None, 0.0, 0))
            continue
        first, last = got
        report.turns.append(
            TurnReport(
                caller_audio_s=round(len(pcm) / (2 * wire.rate), 3),
                latency_ms=round((first - last_voiced) * 1000, 1),
                agent_audio_s=round(last - first + FRAME_S, 3),
                underruns=_gaps(wire, first, last),
            )
        )


def _interarrival(wire: Wire) -> dict[str, float]:
    times = np.array([t for t, _p, _v in wire.received])
    if len(times) < 3:
        return {}
    d = np.diff(times) * 1000
    return {
        "n": float(len(d)),
        "p50": round(float(np.percentile(d, 50)), 3),
        "p99": round(float(np.percentile(d, 99)), 3),
        "max": round(float(d.max()), 3),
    }


def write_recording(path: Path, wire: Wire) -> None:
    """Stereo WAV: caller left, agent right, both placed by their wire time."""
    n = max(
        round(((wire.sent[-1][0] if wire.sent else wire.t0) - wire.t0) / FRAME_S) + 1,
        round(((wire.received[-1][0] if wire.received else wire.t0) - wire.t0) / FRAME_S) + 1,
    )
    spf = wire.frame // 2
    channels = [np.zeros(n * spf + spf, dtype="<i2"), np.zeros(n * spf + spf, dtype="<i2")]
    # Both directions by wire time: a caller that sends nothing while quiet (a Local channel, silence
    # suppression) leaves silence in its channel rather than pulling its later words forward.
    for ch, frames in ((0, [(t, pcm) for t, pcm in wire.sent]), (1, [(t, pcm) for t, pcm, _v in wire.received])):
        slot = -1
        for t, pcm in frames:
            slot = max(slot + 1, round((t - wire.t0) / FRAME_S))
            chunk = np.frombuffer(pcm, dtype="<i2")
            if (slot + 1) * spf > len(channels[ch]):
                grow = (slot + 1) * spf + len(chunk) - len(channels[ch])
                channels = [np.concatenate([c, np.zeros(grow, dtype="<i2")]) for c in channels]
            channels[ch][slot * spf : slot * spf + len(chunk)] = chunk
    left, right = channels
    stereo = np.empty(len(left) * 2, dtype="<i2")
    stereo[0::2], stereo[1::2] = left, right
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(wire.rate)
        out.writeframes(stereo.tobytes())


async def place_call(turns: list[bytes], opts: CallerOptions) -> CallReport:
    """Place one call with the given turns (PCM at `opts.rate`) and report what the wire showed."""
    call_id = str(uuid.uuid4())
    report = CallReport(call_id=call_id, greeting_latency_ms=None)
    if opts.agi is not None:
        report.agi_commands = await _register_agi(opts, call_id)
    try:
        reader, writer = await within(asyncio.open_connection(opts.host, opts.port), opts.connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        raise CallerError(f"cannot reach AudioSocket at {opts.host}:{opts.port}: {exc}") from None
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire = Wire(opts.rate, opts.voiced_dbfs)
    wire.t0 = asyncio.get_running_loop().time()
    writer.write(encode_uuid(uuid.UUID(call_id)))
    tasks = [asyncio.create_task(_sender(writer, wire)), asyncio.create_task(_receiver(reader, wire))]
    script = asyncio.create_task(run_script(turns, wire, opts, report))
    try:
        timeout = opts.hangup_after_s
        done, _ = await asyncio.wait({script, tasks[1]}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if tasks[1] in done and script not in done:
            # The agent hung up (after its goodbye): let the script record that last reply before it goes.
            done |= (await asyncio.wait({script}, timeout=1.0))[0]
        if script in done:
            script.result()
        if not done:
            report.ended_by = "caller_hangup_after"
            opts_mode = "close"
        else:
            opts_mode = opts.hangup_mode
        if wire.ended_by is not None and report.ended_by == "caller":
            report.ended_by = wire.ended_by
        elif opts_mode == "frame" and not writer.is_closing():
            writer.write(HANGUP_FRAME)
    finally:
        for task in [*tasks, script]:
            task.cancel()
        await asyncio.gather(*tasks, script, return_exceptions=True)
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()
    return finish_report(report, wire, opts)


def finish_report(report: CallReport, wire: Wire, opts: CallerOptions) -> CallReport:
    """After the call: frame counts, inter-arrival statistics and the stereo recording, if asked for."""
    report.frames_received = len(wire.received)
    report.interarrival_ms = _interarrival(wire)
    if opts.record is not None:
        write_recording(opts.record, wire)
    return report

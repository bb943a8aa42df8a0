"""A real SIP phone for the real-PBX suite: one baresip 1.0.0 process per phone (Debian's `baresip-core`).

What each phone gets, all on 127.0.0.1 and in its own directory (`baresip -f DIR`):
- `accounts`: one account registering to the test Asterisk as a `pjsip.conf` endpoint (`1001`, the
  phone of asterisk/pjsip.conf, or `reception`, the human a transfer rings), with one codec (PCMU or
  G722), and `answermode=auto` for a phone that must pick up by itself;
- `config`: SIP on a free port, the modules below, and control over `ctrl_tcp` (netstring JSON:
  `{"command": "dial", "params": "sip:100@…", "token": "1"}` → a response with the same token; events
  such as `CALL_ESTABLISHED` arrive unrequested).

Why these modules, found by trying them on 1.0.0 (its `aufile` is a *source* only, and there is no
null player):
- the audio source is `aufile`: a WAV at the codec's own rate (8 kHz PCMU, 16 kHz G.722; 1.0.0 refuses
  any other). A phone sends RTP all the time, so every call starts on a long silent WAV; to speak a
  turn, the `ausrc aufile,TURN.wav` command switches the running call to the turn followed by a long
  silence. When a source file ends baresip hangs the call up ("end of file"), hence the long tails.
- the player is `aubridge` (a device nobody reads from): it takes the decoded audio and drops it.
- `sndfile` dumps each call's audio both ways, as baresip encodes and decodes it, to
  `snd/dump-<time>-enc.wav` (what the phone sent) and `-dec.wav` (what the phone heard).
  Those files grow in real time; a thread watches their sizes every few ms, so each 20 ms of what the
  phone heard gets its arrival time on the test's clock (`time.monotonic()`, which is also asyncio's).
  That is how latency is measured at the phone's end: no timestamps exist in the files themselves.

baresip must be told its address (`-n 127.0.0.1`): inside a network namespace with only `lo` it finds
no interface of its own and refuses to start. Nothing here needs a sound card or a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sentiric_pbx.audio.frames import rms_dbfs
from tests.pbx.asterisk import SECRET, Asterisk, free_port

MODULES = Path("/usr/lib/baresip/modules")
CODEC_RATES = {"PCMU": 8000, "G722": 16000}
"""The rate baresip's audio source must have and its decoder produces, per codec (G.722 is wideband)."""
IDLE_SOURCE_S = 240
"""Length of the silence a call starts on, and that follows each spoken turn (the call ends with the file)."""
VOICED_DBFS = -40.0
"""A 20 ms frame louder than this is speech: the same threshold as the project's test caller."""
POLL_S = 0.005

Event = dict[str, object]


class BaresipUnavailable(RuntimeError):
    """No baresip (or not its modules) on this host; the message says what to install."""


def find_baresip() -> str:
    binary = shutil.which("baresip")
    needed = ("aufile", "aubridge", "sndfile", "ctrl_tcp", "g711", "g722", "account", "menu")
    missing = [m for m in needed if not (MODULES / f"{m}.so").exists()]
    if binary is None or missing:
        raise BaresipUnavailable(
            f"no usable baresip (binary: {binary}, missing modules: {missing or 'none'}): apt-get install baresip-core"
        )
    return binary


def write_wav(path: Path, pcm: bytes, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


# -- what the phone heard and said, with arrival times --------------------------------------------------
def _data_offset(head: bytes) -> int | None:
    """Where the samples start in a WAV that is still being written (its sizes are not final yet)."""
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            return pos + 8
        pos += 8 + size
    return None


@dataclass
class Tap:
    """One growing `sndfile` dump and when each part of it arrived: `marks` = (monotonic time, bytes so far)."""

    path: Path
    rate: int
    marks: list[tuple[float, int]] = field(default_factory=list)
    _offset: int | None = None

    def poll(self, now: float) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if self._offset is None:
            self._offset = _data_offset(self.path.read_bytes()[:4096])
            if self._offset is None:
                return
        got = max(0, size - self._offset)
        if not self.marks or got > self.marks[-1][1]:
            self.marks.append((now, got))

    def pcm(self) -> bytes:
        if self._offset is None:
            return b""
        data = self.path.read_bytes()[self._offset :]
        return data[: len(data) - len(data) % 2]

    def frames(self) -> list[tuple[float, bool]]:
        """Each 20 ms frame: (when the poller first saw it, louder than `VOICED_DBFS`)."""
        pcm = self.pcm()
        step = self.rate // 50 * 2
        out: list[tuple[float, bool]] = []
        mark = 0
        for end in range(step, len(pcm) + 1, step):
            while mark < len(self.marks) - 1 and self.marks[mark][1] < end:
                mark += 1
            if self.marks and self.marks[mark][1] >= end:
                out.append((self.marks[mark][0], rms_dbfs(pcm[end - step : end]) > VOICED_DBFS))
        return out

    def first_voiced(self, after: float) -> float | None:
        return next((t for t, voiced in self.frames() if voiced and t >= after), None)

    def pcm_between(self, start: float, end: float = float("inf")) -> bytes:
        """The samples that arrived between `start` and `end` (monotonic seconds)."""
        pcm, step = self.pcm(), self.rate // 50 * 2
        return b"".join(pcm[i * step : (i + 1) * step] for i, (t, _v) in enumerate(self.frames()) if start <= t <= end)


class Recorder:
    """A thread that notices new dumps in `snd_path` and follows their growth."""

    def __init__(self, directory: Path, rate: int) -> None:
        self.directory = directory
        self.rate = rate
        self.taps: dict[Path, Tap] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"baresip-tap-{directory.parent.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        now = time.monotonic()
        for tap in list(self.taps.values()):
            tap.poll(now)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for path in self.directory.glob("dump-*.wav"):
                if path not in self.taps:
                    self.taps[path] = Tap(path, self.rate)
            for tap in list(self.taps.values()):
                tap.poll(now)
            time.sleep(POLL_S)

    def latest(self, kind: str) -> Tap:
        """The newest dump of `kind` ("dec": what the phone heard, "enc": what it sent)."""
        found = sorted((p for p in self.taps if p.name.endswith(f"-{kind}.wav")), key=lambda p: p.stat().st_mtime)
        if not found:
            raise AssertionError(f"baresip wrote no {kind} dump in {self.directory} (no call got audio?)")
        return self.taps[found[-1]]


# -- the phone ------------------------------------------------------------------------------------------
def _netstring(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return str(len(body)).encode() + b":" + body + b","


async def _read_netstring(reader: asyncio.StreamReader) -> dict[str, object]:
    length = await reader.readuntil(b":")
    body = await reader.readexactly(int(length[:-1]))
    await reader.readexactly(1)  # the ","
    return json.loads(body)


@dataclass
class PhoneCall:
    """One established call on a phone: baresip's call id and when it was answered (monotonic seconds)."""

    id: str
    peer: str
    answered_at: float


class Phone:
    """One baresip registered to `pbx` as `user`. `await start()`, then `dial()`, `say()`, `hang_up()`, `stop()`."""

    def __init__(self, pbx: Asterisk, root: Path, user: str, *, codec: str = "PCMU", auto_answer: bool = False) -> None:
        if codec not in CODEC_RATES:
            raise ValueError(f"codec {codec!r}: one of {sorted(CODEC_RATES)}")
        self.pbx = pbx
        self.root = root
        self.user = user
        self.codec = codec
        self.rate = CODEC_RATES[codec]
        self.auto_answer = auto_answer
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        self.events: list[tuple[float, Event]] = []
        """Every ctrl_tcp event, with its arrival time (monotonic seconds)."""
        self.recorder = Recorder(root / "snd", self.rate)
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._responses: dict[str, asyncio.Future[dict[str, object]]] = {}
        self._changed = asyncio.Event()
        self._tokens = 0
        self._turns = 0

    @property
    def log_path(self) -> Path:
        return self.root / "baresip.log"

    def write_config(self) -> None:
        (self.root / "snd").mkdir(parents=True, exist_ok=True)
        idle = write_wav(self.root / "idle.wav", bytes(2 * self.rate * IDLE_SOURCE_S), self.rate)
        modules = "".join(f"module {m}.so\n" for m in ("g711", "g722", "aufile", "aubridge", "sndfile"))
        (self.root / "config").write_text(
            f"poll_method epoll\n"
            f"sip_listen 127.0.0.1:{self.sip_port}\n"
            f"audio_source aufile,{idle}\n"
            f"audio_player aubridge,{self.user}\n"
            f"audio_alert aubridge,{self.user}\n"
            f"rtp_ports 30200-39999\n"
            f"module_path {MODULES}\n{modules}"
            f"module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\n"
            f"snd_path {self.root / 'snd'}\n"
        )
        answer = ";answermode=auto" if self.auto_answer else ""
        (self.root / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1:{self.pbx.ports.sip};transport=udp>;auth_pass={SECRET};regint=60"
            f";audio_codecs={self.codec}{answer}\n"
        )

    async def start(self, within_s: float = 15.0) -> Phone:
        """Start baresip, connect its control socket, and wait until Asterisk lists it as a contact."""
        binary = find_baresip()
        self.root.mkdir(parents=True, exist_ok=True)
        self.recorder.start()
        async with asyncio.timeout(within_s):
            for attempt in range(3):
                self.write_config()
                with self.log_path.open("ab") as log:
                    self._proc = await asyncio.create_subprocess_exec(
                        *(binary, "-f", str(self.root), "-n", "127.0.0.1", "-4"),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                reader = await self._connect_control()
                if reader is not None:
                    break
                # Exit 98: a port probed free (or SIP/TLS on the SIP port + 1, which nobody probed) was taken
                # before baresip bound it — by anything on the host, other xdist workers included.
                if self._proc.returncode != 98 or attempt == 2:
                    raise RuntimeError(f"baresip exited with {self._proc.returncode}:\n{self.log_tail()}")
                self.sip_port, self.ctrl_port = free_port(), free_port()
            self._reader_task = asyncio.create_task(self._read(reader), name=f"baresip-ctrl-{self.user}")
            await self.wait_registered()
        return self

    async def _connect_control(self) -> asyncio.StreamReader | None:
        """The ctrl_tcp connection's reader once baresip listens; None if baresip exited first."""
        assert self._proc is not None
        while self._proc.returncode is None:
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                return reader
            except OSError:
                await asyncio.sleep(0.05)
        return None

    async def wait_registered(self) -> None:
        """Asterisk's own view: `pjsip show contacts` lists this user's contact (so calls can reach it)."""
        while f"{self.user}/sip:{self.user}" not in await asyncio.to_thread(self.pbx.cli, "pjsip show contacts"):
            await asyncio.sleep(0.1)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                message = await _read_netstring(reader)
                if message.get("event"):
                    self.events.append((loop.time(), message))
                    self._changed.set()
                elif (token := str(message.get("token"))) in self._responses:
                    future = self._responses.pop(token)
                    if not future.done():
                        future.set_result(message)

    async def command(self, name: str, params: str = "") -> str:
        """Run a baresip command (as typed at its prompt, without the "/"); its output, or RuntimeError."""
        assert self._writer is not None, "start() the phone first"
        self._tokens += 1
        token = str(self._tokens)
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        self._writer.write(_netstring({"command": name, "params": params, "token": token}))
        async with asyncio.timeout(10):
            reply = await future
        if not reply.get("ok"):
            raise RuntimeError(f"baresip {self.user}: {name} {params!r} failed: {reply.get('data')}")
        return str(reply.get("data", ""))

    async def wait_event(self, predicate: Callable[[Event], bool], within_s: float = 30.0, since: float = 0.0) -> float:
        """The arrival time of the first event (after `since`) matching `predicate`."""
        async with asyncio.timeout(within_s):
            while True:
                for at, event in self.events:
                    if at >= since and predicate(event):
                        return at
                self._changed.clear()
                await self._changed.wait()

    def saw(self, kind: str) -> list[Event]:
        return [event for _at, event in self.events if event.get("type") == kind]

    # -- calls ------------------------------------------------------------------------------------------
    async def dial(self, exten: str, within_s: float = 15.0) -> PhoneCall:
        """Call `exten` in the phone's dialplan context; returns once it is answered."""
        since = asyncio.get_running_loop().time()
        await self.command("dial", f"sip:{exten}@127.0.0.1:{self.pbx.ports.sip}")
        return await self.wait_answered(within_s, since)

    async def wait_answered(self, within_s: float = 30.0, since: float = 0.0) -> PhoneCall:
        at = await self.wait_event(lambda e: e.get("type") == "CALL_ESTABLISHED", within_s, since)
        event = next(e for t, e in self.events if t == at and e.get("type") == "CALL_ESTABLISHED")
        return PhoneCall(str(event.get("id", "")), str(event.get("peeruri", "")), at)

    async def say(self, pcm: bytes) -> float:
        """Speak `pcm` (16-bit mono at `self.rate`) into the running call now; returns when the switch was made.

        The turn is followed by `IDLE_SOURCE_S` of silence, so the phone goes on sending quiet RTP after it.
        """
        self._turns += 1
        turn = write_wav(self.root / f"turn-{self._turns}.wav", pcm + bytes(2 * self.rate * IDLE_SOURCE_S), self.rate)
        await self.command("ausrc", f"aufile,{turn}")
        return asyncio.get_running_loop().time()

    async def hang_up(self) -> None:
        await self.command("hangup")

    async def wait_closed(self, within_s: float = 30.0, since: float = 0.0) -> float:
        return await self.wait_event(lambda e: e.get("type") == "CALL_CLOSED", within_s, since)

    def heard(self) -> Tap:
        """What the phone heard in its latest call (decoded, at `self.rate`)."""
        return self.recorder.latest("dec")

    def sent(self) -> Tap:
        """What the phone sent in its latest call, as encoded."""
        return self.recorder.latest("enc")

    # -- the process ------------------------------------------------------------------------------------
    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else "(no log)"

    async def stop(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        self.recorder.stop()


# -- waiting on what a phone hears -------------------------------------------------------------------
async def speech_ends(tap: Callable[[], Tap], after: float, quiet_s: float, within_s: float = 30.0) -> float:
    """Wait for voiced audio after `after` followed by `quiet_s` without any; return its last voiced frame's time.

    Time, not frames, measures the quiet: a peer that sends nothing while quiet still ends its speech.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within_s):
        while True:
            await asyncio.sleep(0.1)
            with contextlib.suppress(AssertionError):
                frames = [t for t, voiced in tap().frames() if voiced and t >= after]
                if frames and loop.time() - frames[-1] >= quiet_s:
                    return frames[-1]

"""`AudioSocketTransport`: one AudioSocket connection as a `CallTransport`.

Inbound audio is resampled to 16 kHz and cut into 20 ms frames; outbound 16 kHz PCM is resampled to the
caller's rate and framed as the caller's kind ("answer in the rate the caller used"). The rate is learned
from Asterisk's first audio frame; audio queued before it (a cached greeting) is re-framed, not dropped.
Hangup is a 0x00 frame (the dialplan continues after `AudioSocket()`), transfer goes through AMI, and a
connection ARI asked for (externalMedia) is hung up and transferred through its ARI call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from typing import Literal, Protocol

import structlog

from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.transport import CallControl, CallInfo, Hangup
from sentiric_pbx.config import AudioSocketConfig
from sentiric_pbx.telephony.audiosocket.protocol import (
    HANGUP_FRAME,
    HEADER,
    KIND_BY_RATE,
    RATE_BY_KIND,
    Frame,
    Kind,
    ProtocolError,
    encode,
)
from sentiric_pbx.telephony.edge import CallIO

Mode = Literal["app", "dial"]
"""How Asterisk runs this leg: the `AudioSocket()` application or `Dial(AudioSocket/…)`."""


class AudioSocketControl(Protocol):
    """What the Asterisk control side (AMI, `asterisk/ami_calls.py`) does for AudioSocket calls: AudioSocket
    itself carries only audio and a UUID, and can only end its leg."""

    metadata_wait_s: float
    """How long a new call waits for its caller's metadata from the control side (another TCP connection)."""

    async def transfer(self, info: CallInfo, target: str, mode: Mode) -> str:
        """Hand the caller to `target`; raises (with a readable message) when the control side cannot."""
        ...


try:  # Linux: bytes in a socket's send queue not yet acknowledged by the peer (SIOCOUTQ)
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _SIOCOUTQ = None

log = structlog.get_logger("sentiric_pbx.audiosocket")


def _payload(frame: bytes) -> bytes:
    """An encoded audio frame's PCM (the 3-byte header off)."""
    return frame[HEADER.size :]


@functools.cache
def _silence(kind: Kind) -> bytes:
    """20 ms of silence as one `kind` frame: the same bytes for every call, built once."""
    return encode(kind, bytes(frame_bytes(RATE_BY_KIND[kind])))


class AudioSocketTransport(CallIO):
    """`CallTransport` over one AudioSocket connection.

    Inbound audio is resampled to 16 kHz and cut into 20 ms frames; outbound 16 kHz PCM is resampled
    to the caller's rate and framed as the caller's kind ("answer in the rate the caller used").

    The playout clock exists from the start (it sends silence from the first tick); the outbound resampler
    is built for the first reply (`_out`), in the rate known by then. A call that goes bad before the agent
    says anything — a flood of garbage behind valid UUIDs — never builds one, and a `Dial(…/c(slin16))`
    caller whose first frame came before the greeting gets its 16 kHz output directly.
    """

    def __init__(self, writer: asyncio.StreamWriter, cfg: AudioSocketConfig) -> None:
        super().__init__(CallInfo(call_id=""))
        self._writer = writer
        self._cfg = cfg
        self._in_rs: StreamResampler | None = None
        self._in_kind: Kind | None = None
        self._in_frames = Reframer(FRAME_BYTES)
        self._paced: PacedOutput | None = None
        self.clock = PlayoutClock(self._send_frame, b"")
        self._set_wire_kind(KIND_BY_RATE[cfg.default_rate])
        self.control: AudioSocketControl | None = None
        """AMI for transfers (and metadata), when `[ami]` is enabled; set by the server."""
        self.owner: CallControl | None = None
        """The ARI call this connection is the externalMedia of: hangup and transfer go through ARI."""

    # -- wire side -------------------------------------------------------------------------
    def _set_wire_kind(self, kind: Kind) -> None:
        """Answer in `kind` from now on. Audio already queued in the old kind (a cached greeting queued
        within milliseconds of the UUID, before the caller's first frame told us its rate) is re-framed,
        never dropped: the caller would miss the start of the greeting."""
        rate = RATE_BY_KIND[kind]
        self.wire_kind = kind
        self.wire_rate = rate
        self._wire_frame = frame_bytes(rate)
        self.clock.silence = _silence(kind)
        if self._paced is not None:
            self._paced.retarget(rate, self._wire_frame, functools.partial(encode, kind), _payload)

    @property
    def _out(self) -> PacedOutput:  # type: ignore[override]  # CallIO's attribute, built on first use here
        """16 kHz PCM → wire frames on the clock, built by the first `play` in the wire's rate of that moment."""
        paced = self._paced
        if paced is None:
            encoder = functools.partial(encode, self.wire_kind)
            paced = self._paced = PacedOutput(self.clock, self.wire_rate, self._wire_frame, encoder)
        return paced

    def flush(self) -> None:
        if self._paced is not None:
            self._paced.flush()

    @property
    def queued_ms(self) -> int:
        """What `end()` and a barge-in read: nothing queued, and no resampler built to say so, before a reply."""
        return self._paced.queued_ms if self._paced is not None else 0

    def _send_frame(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("AudioSocket connection closed")
        unsent = self.unsent_bytes()
        if unsent > self._cfg.write_buffer_limit_bytes:
            raise ProtocolError("peer_not_reading", f"{unsent} bytes unsent; the peer stopped reading our audio")
        self._writer.write(frame)

    def unsent_bytes(self) -> int:
        """Our audio the peer has not taken yet: asyncio's buffer plus the kernel's send queue.

        The kernel part matters most: on loopback Linux sizes an accepted socket's send buffer in
        megabytes, so asyncio's own buffer stays empty for minutes while a hung peer reads nothing.
        """
        unsent = self._writer.transport.get_write_buffer_size()
        sock = self._writer.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1  # -1 once closed: never a reused descriptor
        if _SIOCOUTQ is not None and fd >= 0:
            with contextlib.suppress(OSError):
                unsent += int.from_bytes(fcntl.ioctl(fd, _SIOCOUTQ, bytes(4)), sys.byteorder, signed=True)
        return unsent

    def on_audio(self, frame: Frame) -> None:
        if self._in_kind != frame.kind:
            first = self._in_kind is None
            self._in_kind = frame.kind
            self._in_rs = StreamResampler(RATE_BY_KIND[frame.kind], 16000)
            if first and frame.kind != self.wire_kind:
                self._set_wire_kind(frame.kind)
        assert self._in_rs is not None
        self.frames_in += 1
        for pcm in self._in_frames.push(self._in_rs.process(frame.payload)):
            self.deliver(pcm)

    # -- CallTransport (frames, events and playout are CallIO's) ---------------------------
    async def hangup(self, reason: str = "agent_hangup") -> None:
        """Send 0x00: Asterisk closes the socket and the dialplan continues after AudioSocket()."""
        if self.closed:
            return
        if self.owner is not None:  # ARI externalMedia: hang up the caller's channel, not just this leg
            await self.owner.hangup()
            self.end(Hangup("agent", reason))
            return
        self._writer.write(HANGUP_FRAME)
        # Ended before the drain: Asterisk answers the 0x00 with a close that the read side may see first,
        # and the call must still be recorded as ended by us, for `reason`.
        self.end(Hangup("agent", reason))
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    @property
    def media_mode(self) -> Mode:
        """The AudioSocket() app ("app", always 8 kHz, fact 1) or Dial(AudioSocket/…) ("dial").

        The dialplan may say so (`AGI(…/register,${UUID},dial)`); else the caller's audio tells: anything
        but 8 kHz can only be Dial(). AMI's Newexten, when it arrived, overrides both (`AmiCallWatcher`).
        """
        hint = self.info.extra.get("audiosocket_mode")
        if hint in ("app", "dial"):
            return hint  # type: ignore[return-value]
        return "app" if self._in_kind in (None, Kind.SLIN_8K) else "dial"

    async def transfer(self, target: str) -> None:
        """Hand the caller to `target` through AMI, then end this leg.

        AudioSocket itself can only end the leg (0x00). With AMI, `AmiCallWatcher.transfer` sets
        `SENTIRIC_TRANSFER` on the caller's channel (the dialplan after `AudioSocket()` dials it) or
        redirects the channel (`Dial(AudioSocket/…)` does not continue). Without AMI the 0x00 alone
        makes the dialplan go on with `SENTIRIC_TRANSFER` unset, i.e. hang up: say so loudly.
        """
        if self.owner is not None:  # ARI externalMedia: /continue or /redirect of the caller's channel
            if not self.closed:
                await self.owner.transfer(target)
                self.end(Hangup("agent", "transferred"))
            return
        control = self.control
        if control is None:
            log.warning(
                "transfer_without_ami",
                target=target,
                missing="[ami] enabled = true (with a manager.conf user)",
                effect="the dialplan continues with SENTIRIC_TRANSFER unset: the caller is hung up, not transferred",
            )
        else:
            try:
                await control.transfer(self.info, target, self.media_mode)
            except Exception as exc:  # AMI down or Asterisk refused: the caller just ends
                log.warning("transfer_failed", target=target, channel=self.info.channel, error=str(exc))
        await self.hangup("transferred")

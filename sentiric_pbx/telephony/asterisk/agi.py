"""FastAGI: how an AudioSocket call gets its caller ID.

AudioSocket carries only a UUID. The dialplan therefore first runs
`AGI(agi://127.0.0.1:4573/register,${UUID})`; Asterisk connects, sends its `agi_*` environment
(caller ID, DNID, language, channel) ending in an empty line, and waits for commands. We store a
`CallInfo` under the UUID, set `SENTIRIC_CALL_ID` on the channel (so the dialplan can see that
registration worked), and close the socket: closing is what makes AGI() return SUCCESS and the
dialplan go on to `AudioSocket()` with the same UUID (fixtures: `fastagi-register.txt`).

Why our own accept loop rather than panoramisk's `fast_agi.Application` or pyst2: pyst2 is blocking
(a thread per call) and unmaintained since 2019; panoramisk's handler reads the environment with an
unbounded `while b'\\n\\n' not in buffer` loop that spins forever if the peer closes early and has no
timeout. We keep panoramisk for what it does well, parsing AGI result lines (`parse_agi_result`), and
wrap it in a reader with a size cap and timeouts. Lines end in `\\n` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from panoramisk.utils import parse_agi_result

from sentiric_pbx import metrics
from sentiric_pbx.call.transport import CallInfo
from sentiric_pbx.config import FastAgiConfig
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.fastagi")
_UNKNOWN = {"", "unknown"}


class AgiError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class AgiSession:
    """One FastAGI request: its environment and a way to send commands."""

    def __init__(
        self, env: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float
    ) -> None:
        self.env = env
        self.reader = reader
        self.writer = writer
        self.timeout_s = timeout_s
        self.hung_up = False

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "")

    async def command(self, line: str) -> dict[str, Any]:
        """Send one AGI command and return panoramisk's parse of the reply."""
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        while True:
            raw = await self._readline()
            result = parse_agi_result(raw)
            if result.get("error") == "AGIResultHangup":
                # Asterisk says HANGUP unprompted, then still answers the command we sent.
                self.hung_up = True
                continue
            if result.get("status_code") == 100:
                continue
            if raw.startswith("520-"):
                while not (await self._readline()).startswith("520 "):
                    pass
            return result

    async def _readline(self) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                raw = await self.reader.readline()
        except TimeoutError:
            # TimeoutError is an OSError: uncaught here it would be logged as a connection reset.
            raise AgiError("command_timeout", f"no reply to an AGI command within {self.timeout_s}s") from None
        except ValueError:  # StreamReader limit overrun
            raise AgiError("reply_too_long", "an AGI reply line is too long") from None
        if not raw.endswith(b"\n"):
            raise AgiError("closed", "Asterisk closed the AGI connection mid-command")
        return raw[:-1].decode("utf-8", errors="replace")


async def read_environment(reader: asyncio.StreamReader, max_bytes: int, timeout_s: float) -> dict[str, str]:
    """Read the `agi_name: value` block up to its empty line, within a size cap and a deadline."""
    env: dict[str, str] = {}
    total = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await reader.readline()
                total += len(raw)
                if total > max_bytes:
                    raise AgiError("header_too_long", f"AGI environment exceeds {max_bytes} bytes")
                if not raw.endswith(b"\n"):
                    raise AgiError("closed", "connection closed before the AGI environment ended")
                line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
                if not line:
                    return env
                key, sep, value = line.partition(": ")
                if not sep or not key.startswith("agi_"):
                    raise AgiError("bad_header", f"not an AGI environment line: {line[:80]!r}")
                env[key] = value
    except TimeoutError:
        raise AgiError("header_timeout", f"no complete AGI environment within {timeout_s}s") from None
    except ValueError:  # StreamReader limit overrun: one line longer than the buffer
        raise AgiError("header_too_long", "an AGI environment line is too long") from None


def call_info_from_env(env: dict[str, str], call_id: str) -> CallInfo:
    def pick(*keys: str) -> str | None:
        for key in keys:
            value = env.get(key, "").strip()
            if value.lower() not in _UNKNOWN:
                return value
        return None

    extra = {k: v for k, v in env.items() if k in ("agi_uniqueid", "agi_context", "agi_type")}
    # `AGI(agi://…/register,${UUID},dial)`: the leg is Dial(AudioSocket/…), which a transfer must redirect.
    mode = env.get("agi_arg_2", "").strip().lower()
    if mode in ("app", "dial"):
        extra["audiosocket_mode"] = mode
    return CallInfo(
        call_id=call_id,
        caller_id=pick("agi_callerid"),
        caller_name=pick("agi_calleridname"),
        called_number=pick("agi_dnid", "agi_extension"),
        language=pick("agi_language"),
        channel=pick("agi_channel"),
        ingress="audiosocket",
        extra=extra,
    )


class FastAgiServer:
    """Serves `agi://host:port/register,<uuid>` and fills the `CallRegistry`. An ingress with no calls of its
    own: it tells the AudioSocket side who is calling."""

    name = "fastagi"
    calls_active = 0

    def __init__(
        self, cfg: FastAgiConfig, registry: CallRegistry, on_registered: Callable[[CallInfo], None] | None = None
    ) -> None:
        self.cfg = cfg
        self.registry = registry
        self.on_registered = on_registered
        """Called with each registered call (the assistant starts its CRM lookup here, before the audio)."""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.cfg.host, self.cfg.port, limit=4096)
        log.info("fastagi_listening", host=self.cfg.host, port=self.port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def drain(self, timeout_s: float) -> int:
        """Refuse registrations at once: the dialplan then plays its "no service" branch."""
        await self.close()
        return 0

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"fastagi": (self.cfg.host, self.port)}

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        bound = log.bind(peer=f"{peer[0]}:{peer[1]}")
        script = "?"
        try:
            env = await read_environment(reader, self.cfg.max_header_bytes, self.cfg.header_timeout_s)
            session = AgiSession(env, reader, writer, self.cfg.header_timeout_s)
            script = session.script or "?"
            if script != "register":
                raise AgiError("unknown_script", f"no FastAGI script {script!r}; the dialplan should call /register")
            await self._register(session, bound)
            metrics.AGI_REQUESTS.labels(script=script, outcome="ok").inc()
        except AgiError as exc:
            metrics.AGI_REQUESTS.labels(script=script, outcome=exc.reason).inc()
            bound.warning("fastagi_error", reason=exc.reason, detail=exc.detail)
        except (ConnectionError, OSError) as exc:
            metrics.AGI_REQUESTS.labels(script=script, outcome="connection_reset").inc()
            bound.warning("fastagi_error", reason="connection_reset", detail=str(exc))
        finally:
            # Closing the socket is what lets the dialplan continue to AudioSocket().
            with contextlib.suppress(Exception):
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _register(self, session: AgiSession, bound: Any) -> None:
        raw_id = session.env.get("agi_arg_1", "").strip()
        if not raw_id:
            reply = await session.command("GET VARIABLE UUID")
            flag, value = reply.get("result", ("0", ""))
            raw_id = value if flag == "1" else ""
        try:
            call_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise AgiError("bad_uuid", f"agi_arg_1 {raw_id[:60]!r} is not a UUID; pass ${{UUID}}") from None
        info = call_info_from_env(session.env, call_id)
        self.registry.put(info)
        if self.on_registered is not None:
            try:
                self.on_registered(info)
            except Exception as exc:
                bound.warning("fastagi_hook_failed", error=repr(exc))
        await session.command(f"SET VARIABLE SENTIRIC_CALL_ID {call_id}")
        bound.info(
            "fastagi_registered",
            call_id=call_id,
            caller_id=info.caller_id,
            called_number=info.called_number,
            channel=info.channel,
        )


def build(ctx: IngressContext) -> FastAgiServer:
    """The table's entry (telephony/ingress.py); an agent that can prepare for a call (`prefetch`) is told."""
    return FastAgiServer(ctx.settings.fastagi, ctx.registry, on_registered=getattr(ctx.agent, "prefetch", None))

"""The Event Socket side of the FreeSWITCH ingress: our one inbound connection to mod_event_socket (with
backoff and re-checks after a reconnect), or, in outbound mode, the connection the dialplan's `socket`
application opens per call. Both offer the same `api`/`api_nowait` to a call."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.aio import within
from sentiric_pbx.config import FreeswitchConfig
from sentiric_pbx.telephony.freeswitch.esl import (
    EslConnection,
    EslError,
    EslMessage,
    EslProtocolError,
)

if TYPE_CHECKING:
    from sentiric_pbx.telephony.freeswitch.ingress import FreeswitchIngress

log = structlog.get_logger("sentiric_pbx.freeswitch")

BACKOFF_START_S = 0.5
EVENTS = "CHANNEL_PARK CHANNEL_ANSWER CHANNEL_HANGUP DTMF CUSTOM mod_audio_stream::play mod_audio_stream::error"


class EslInbound:
    """The one Event Socket connection, kept up: connect, auth, subscribe, read; reconnect with backoff."""

    def __init__(self, cfg: FreeswitchConfig, ingress: FreeswitchIngress) -> None:
        self.cfg = cfg
        self.ingress = ingress
        self.conn: EslConnection | None = None
        self.state = "stopped"
        self.reason: str | None = None
        """Why the last connection ended or failed ("refused": the password), for `/healthz` between attempts."""
        self.connections = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="freeswitch-esl")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.conn is not None:
            self.conn.close()
        self._set_state("stopped")

    def _set_state(self, state: str, **fields: object) -> None:
        """One log line per change of state, not one per failed attempt."""
        if state == self.state:
            return
        self.state = state
        if state == "connected":
            self.connected.set()
        else:
            self.connected.clear()
        log.info("esl_connection_state", state=state, host=self.cfg.esl_host, port=self.cfg.esl_port, **fields)

    async def _loop(self) -> None:
        backoff = BACKOFF_START_S
        while True:
            why = "closed"
            try:
                reader, writer = await within(
                    asyncio.open_connection(self.cfg.esl_host, self.cfg.esl_port, limit=2**20), 5.0
                )
                conn = EslConnection(reader, writer, self.ingress.on_event, self.cfg.max_message_bytes)
                try:
                    await conn.authenticate(self.cfg.esl_password.get_secret_value())
                    await conn.subscribe(EVENTS)
                    self.conn = conn
                    self.connections += 1
                    backoff = BACKOFF_START_S
                    self._set_state("connected", connections=self.connections)
                    self.ingress.on_esl_connected()
                    why = await conn.run()
                finally:
                    conn.close()
                    self.conn = None
            except EslProtocolError as exc:
                why = exc.reason
                metrics.PROTOCOL_ERRORS.labels(ingress="freeswitch_esl", reason=exc.reason).inc()
                log.warning("esl_protocol_error", reason=exc.reason, detail=exc.detail)
            except EslError as exc:
                why = "refused"
                self._set_state("refused", error=str(exc))
            except (OSError, TimeoutError) as exc:
                why = type(exc).__name__
            except Exception:  # never let one surprise end the reconnect loop for good
                why = "internal_error"
                log.exception("esl_loop_failed")
            self.reason = why
            self._set_state("disconnected", reason=why)
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, self.cfg.reconnect_max_s)

    async def api(self, command: str, timeout_s: float = 5.0) -> str:
        if self.conn is None:
            raise EslError("event socket not connected")
        return await self.conn.api(command, timeout_s)

    def api_nowait(self, command: str, what: str, call_id: str) -> None:
        """Issue a command from an event handler (never block the reader); log a refusal."""
        issue_nowait(self.conn, command, what, call_id)


class OutboundControl:
    """Outbound mode: the call's own socket (`socket … async full`) carries its commands."""

    def __init__(self, conn: EslConnection) -> None:
        self.conn = conn

    async def api(self, command: str, timeout_s: float = 5.0) -> str:
        return await self.conn.api(command, timeout_s)

    def api_nowait(self, command: str, what: str, call_id: str) -> None:
        issue_nowait(None if self.conn.closed else self.conn, command, what, call_id)


def issue_nowait(conn: EslConnection | None, command: str, what: str, call_id: str) -> None:
    if conn is None:
        log.warning("freeswitch_command_failed", command=what, call_id=call_id, error="not connected")
        return
    fut = conn.command_nowait(f"api {command}")

    def done(f: asyncio.Future[EslMessage]) -> None:
        if f.cancelled():
            return
        error = f.exception()
        if error is not None and conn.closed:  # the socket went away under it: that is what gets logged
            log.debug("freeswitch_command_dropped", command=what, call_id=call_id)
        elif error is not None or (text := f.result().reply_text).startswith("-"):
            log.warning("freeswitch_command_failed", command=what, call_id=call_id, error=str(error or text))

    fut.add_done_callback(done)


Control = EslInbound | OutboundControl

"""Every listener bounded (issue 17 item 2): limit + 1 connections, or the oversized thing, then a real call.

Each test is one of the issue's probes on real loopback sockets: idle AudioSocket connections that never
send a UUID, half-sent FastAGI environments, 200 half-sent HTTP requests to `/metrics`, one AMI line over
64 KiB. After each, the daemon must still answer a call placed the way Asterisk places it (a keyed FastAGI
registration, then AudioSocket with a spoken turn the echo agent plays back).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from sentiric_pbx.call.transport import CallInfo, CallTransport
from sentiric_pbx.config import AmiConfig, Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.metrics import MetricsServer
from sentiric_pbx.telephony.asterisk.ami import AmiClient
from sentiric_pbx.telephony.audiosocket.protocol import Kind
from tests.ami_server import RECORDED_CHANNEL, FakeAmi
from tests.asterisk_peer import (
    AgiPeer,
    AudioSocketPeer,
    agi_env_block,
    answers_a_real_call,
    eventually,
    log_lines,
    wait_log,
)

Logs = list[dict[str, object]]
PASSWORD = "sentiric-test"


async def closed_by_server(reader: asyncio.StreamReader, within_s: float = 5.0) -> bool:
    """Did the server close this connection (EOF or reset) within `within_s`? (What it sent first is read.)"""
    try:
        async with asyncio.timeout(within_s):
            await reader.read()
            return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


# -- AudioSocket ----------------------------------------------------------------------------------
async def test_idle_audiosocket_connections_beyond_the_cap_close_the_oldest_and_calls_still_come_in(
    settings: Settings, logs: Logs
) -> None:
    """The probe: 300 idle connections each cost a playout clock and a read. Now: no clock before the UUID
    (commit 5829559), at most `max_pending_connections` of them, and a call is never the one closed."""
    settings.audiosocket.max_pending_connections = 4
    daemon = Daemon(settings)
    await daemon.start()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(5):  # the limit + 1
            idle.append(await asyncio.open_connection("127.0.0.1", daemon.audiosocket.port))
        assert await closed_by_server(idle[0][0])  # the one that waited longest made room
        await eventually(lambda: len(daemon.audiosocket.pending) == 4, "four connections waiting for a UUID")
        assert not any(c.transport is not None for c in daemon.audiosocket.pending)  # nothing built for them
        refused = log_lines(logs, "audiosocket_protocol_error", reason="too_many_pending_connections")
        assert len(refused) == 1

        await answers_a_real_call(daemon, logs)  # with the four idle ones still open
        assert len(daemon.audiosocket.pending) <= 4
    finally:
        for _, writer in idle:
            writer.close()
        await daemon.stop()


async def test_calls_nobody_registered_take_only_their_own_few_lines_when_the_dialplan_registers_calls(
    settings: Settings, logs: Logs
) -> None:
    """The probe: 8 calls on made-up UUIDs, registered by nobody, filled `[agent] max_calls` and real callers
    heard "all lines are busy". With the dialplan keying its registrations (`[fastagi] secret`), such calls
    now share `max_unregistered_calls` lines; one more is turned away, and real calls still come in."""
    settings.audiosocket.max_unregistered_calls = 2
    settings.agent.max_calls = 3  # the two made-up calls must leave a line for the real one
    daemon = Daemon(settings)
    await daemon.start()
    fakes: list[AudioSocketPeer] = []
    try:
        for _ in range(3):  # the limit + 1
            fake = await AudioSocketPeer.connect(daemon.audiosocket.port)
            fake.send_uuid()
            fakes.append(fake)
            await wait_log(logs, "call_started", call_id=str(fake.call_id))
        admitted = [log_lines(logs, "call_started", call_id=str(f.call_id))[0] for f in fakes]
        busy = [(a["registered"], a.get("busy", False)) for a in admitted]
        assert busy == [(False, False), (False, False), (False, True)]
        hung_up = lambda: any(f.kind == Kind.HANGUP for f in fakes[2].received)  # noqa: E731
        await eventually(hung_up, "the third made-up call turned away with a hangup frame")
        [refused] = log_lines(logs, "audiosocket_call_refused", reason="unregistered")
        assert "max_unregistered_calls = 2" in str(refused["detail"])

        await answers_a_real_call(daemon, logs)  # the third line is still free for it
        assert daemon.audiosocket.unregistered_calls == 2
        for fake in fakes:
            await fake.close()
        await eventually(lambda: daemon.audiosocket.unregistered_calls == 0, "the made-up calls' lines given back")
    finally:
        await daemon.stop()


async def test_without_a_secret_or_ami_no_call_is_turned_away_for_being_unregistered(
    settings: Settings, logs: Logs
) -> None:
    """Without a key or AMI nothing tells a made-up UUID from a real call, so the cap would only refuse
    real callers of a dialplan without the FastAGI step: it does not apply."""
    settings.fastagi.secret = None
    settings.audiosocket.max_unregistered_calls = 0
    daemon = Daemon(settings)
    await daemon.start()
    try:
        peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
        peer.send_uuid()
        started = await wait_log(logs, "call_started", call_id=str(peer.call_id))
        assert (started["registered"], started.get("busy", False)) == (False, False)
        await peer.close()
    finally:
        await daemon.stop()


# -- FastAGI --------------------------------------------------------------------------------------
async def test_half_sent_fastagi_environments_beyond_the_cap_do_not_lock_registrations_out(
    settings: Settings, logs: Logs
) -> None:
    settings.fastagi.max_connections = 3
    settings.fastagi.header_timeout_s = 30.0  # they would hold their connection for all that time
    daemon = Daemon(settings)
    await daemon.start()
    half = agi_env_block()[:300]
    peers: list[AgiPeer] = []
    try:
        for _ in range(4):  # the limit + 1
            peer = await AgiPeer.connect(daemon.fastagi.port)
            await peer.send(half)
            peers.append(peer)
        assert await peers[0].wait_closed_by_server() == b""
        await eventually(lambda: len(daemon.fastagi.reading) == 3, "three environments still arriving")
        [refused] = log_lines(logs, "fastagi_registration_refused", reason="too_many_connections")
        assert refused["peer"] == f"127.0.0.1:{peers[0].writer.get_extra_info('sockname')[1]}"

        await answers_a_real_call(daemon, logs)  # its registration closes the oldest half-sent one
    finally:
        for peer in peers:
            peer.close()
        await daemon.stop()


# -- /metrics ---------------------------------------------------------------------------------------
async def test_200_half_sent_http_requests_hold_at_most_the_cap_in_threads_and_only_for_the_timeout() -> None:
    """The probe: 200 half-sent requests to `/metrics` left 203 threads, for good."""
    server = MetricsServer("127.0.0.1", 0, max_connections=4, request_timeout_s=0.5).start()
    socks: list[socket.socket] = []
    try:
        before = threading.active_count()
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: never finished
            socks.append(s)
        await asyncio.sleep(0.2)
        assert threading.active_count() - before <= 4
        await asyncio.sleep(0.6)  # their time is up: the threads are gone
        assert threading.active_count() - before <= 0

        # A peer that sends a byte every 100 ms (each recv well within the timeout) cannot stretch one
        # request past the deadline: closed unanswered, where it used to get its answer after 2.5 s.
        dribbler = socket.create_connection(("127.0.0.1", server.port))
        for byte in b"GET /healthz HTTP/1.0\r\n\r\n":
            try:
                dribbler.sendall(bytes([byte]))
            except OSError:
                break
            await asyncio.sleep(0.1)
        dribbler.settimeout(5)
        try:
            answer = dribbler.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b""
        dribbler.close()

        await asyncio.sleep(0.6)
        assert threading.active_count() - before <= 0
        async with httpx.AsyncClient() as http:
            reply = await http.get(f"http://127.0.0.1:{server.port}/healthz")
        assert reply.status_code == 200
    finally:
        for s in socks:
            s.close()
        server.close()


# -- AMI --------------------------------------------------------------------------------------------
@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi.start(password=PASSWORD)
    try:
        yield server
    finally:
        await server.stop()


async def test_an_ami_line_over_64_kib_drops_the_session_and_ami_comes_back(fake: FakeAmi, logs: Logs) -> None:
    """The probe: one line over 64 KiB raised ValueError, ended the AMI supervisor for good, and was logged as
    "closed by Asterisk". Now it is named, the session is dropped, and the client logs in again."""
    client = AmiClient(AmiConfig(enabled=True, host="127.0.0.1", port=fake.port, password=SecretStr(PASSWORD)))
    client.start()
    try:
        await client.wait_connected(5)
        for conn in fake._conns:
            conn.writer.write(b"Event: UserEvent\r\nData: " + b"x" * 70_000 + b"\r\n\r\n")
        await eventually(lambda: client.connections == 2 and client.connected, "AMI logged in again", 10)
        down = log_lines(logs, "ami_disconnected")
        assert [d["reason"] for d in down] == ["a line longer than 64 KiB"]
        assert (await client.action("Ping", {}))["Response"] == "Success"
    finally:
        await client.close()


async def test_a_transfer_moves_the_channel_ami_saw_not_the_one_registered(
    settings: Settings, fake: FakeAmi, logs: Logs
) -> None:
    """The probe: with AMI on, the registered `agi_channel` was what a transfer redirected."""
    settings.ami.enabled = True
    settings.ami.port = fake.port
    settings.ami.password = SecretStr(PASSWORD)

    async def transferring(transport: CallTransport) -> None:
        await transport.transfer("300@sentiric")

    daemon = Daemon(settings, agent=transferring)
    await daemon.start()
    await daemon.ami.wait_connected(5)
    call_id = uuid.uuid4()
    try:
        daemon.registry.put(CallInfo(str(call_id), caller_id="+905551112233", channel="PJSIP/someone-else-00000001"))
        fake.announce_call(str(call_id), dial=True)  # AMI sees the leg start on the recorded channel
        await daemon.ami.action("Ping", {})  # the events came before the Pong: they have been read
        peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
        peer.call_id = call_id
        peer.send_uuid()
        peer.talk(b"", 16000)
        await wait_log(logs, "ami_transfer", via="redirect")
        redirects = [a for a in fake.actions if a.get("Action") == "Redirect"]
        assert [a["Channel"] for a in redirects] == [RECORDED_CHANNEL]
        await peer.close()
    finally:
        await daemon.stop()


# -- FreeSWITCH outbound sockets --------------------------------------------------------------------
async def test_silent_freeswitch_outbound_sockets_beyond_the_cap_close_the_oldest_and_calls_still_come_in(
    settings: Settings, tmp_path, logs: Logs
) -> None:
    """Looked at beside the others: a socket that never answers our `connect` held its task for the command
    timeout, with no bound on how many. Now at most `max_pending_connections`, the oldest closed first."""
    from tests.freeswitch_peer import FakeFreeswitch
    from tests.test_freeswitch import connected, fs_settings, ingress, tone, until, voiced_frames

    fs = FakeFreeswitch(tmp_path)
    await fs.start()
    s = fs_settings(settings, fs)
    s.freeswitch.mode = "outbound"
    s.freeswitch.outbound_port = 0
    s.freeswitch.max_pending_connections = 3
    daemon = Daemon(s)
    await daemon.start()
    silent: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        port = ingress(daemon).outbound_port
        for _ in range(4):  # the limit + 1, each sent `connect` and never answering
            silent.append(await asyncio.open_connection("127.0.0.1", port))
        assert await closed_by_server(silent[0][0])
        [refused] = log_lines(logs, "freeswitch_protocol_error", reason="too_many_pending_connections")
        assert refused["peer"] == f"127.0.0.1:{silent[0][1].get_extra_info('sockname')[1]}"

        ch = await connected(await fs.outbound_call("127.0.0.1", port, "+905551112233"))
        await until(lambda: daemon.calls_active == 1)
        for i in range(0, len(turn := tone(1.0)), 640):
            ch.wire.outbox.put_nowait(turn[i : i + 640])
        await until(lambda: voiced_frames(ch) > 20)
        await ch.hangup()
    finally:
        for _, writer in silent:
            writer.close()
        await daemon.stop()
        await fs.stop()

"""FastAGI registration against the recorded Asterisk 22 requests, on real loopback sockets.

The good path replays `fastagi-register.txt` byte for byte and answers our commands the way Asterisk
did. Closing the socket is our answer: it is what makes AGI() return and the dialplan go on to
AudioSocket() (README fact 19). Every bad request must end in one `fastagi_error` line and a closed
socket, while a good registration running at the same time goes through.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from tests.asterisk_peer import AGI_SECRET, AgiPeer, agi_env_block, log_lines, register, wait_log

Logs = list[dict[str, object]]
RECORDED_ID = "e750b741-641e-4575-aac2-28ae7c3b8d42"  # agi_arg_1 in fastagi-register.txt
HANGUP_ID = "1a341a42-aa40-4b5d-9ef2-f4ce7f92837c"  # agi_arg_1 in fastagi-hangup.txt


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    for key, value in getattr(request, "param", {}).items():
        setattr(settings.fastagi, key, value)
    return settings


def knobs(**values: object) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings", [values], indirect=True, ids=[str(values)])


# -- the recorded requests -------------------------------------------------------------------------
def test_the_recorded_block_is_what_asterisk_sends() -> None:
    block = agi_env_block()
    assert block.endswith(b"agi_arg_1: " + RECORDED_ID.encode() + b"\n\n")
    assert b"\r" not in block
    assert b"agi_accountcode: \n" in block  # the empty value keeps its trailing space
    assert block.count(b"\n") == 24


async def test_recorded_registration_fills_the_registry_and_the_server_closes(daemon: Daemon, logs: Logs) -> None:
    peer = await AgiPeer.connect(daemon.fastagi.port)
    # Byte for byte, one write, as Asterisk sent it within 0.1 ms, plus the mode and key today's dialplan adds.
    await peer.send(agi_env_block(secret=AGI_SECRET))
    variables = {"UUID": RECORDED_ID}
    commands = await peer.serve(variables)

    assert peer.closed_by_server  # EOF: AGI() returns SUCCESS and the dialplan goes on
    assert commands == [f"SET VARIABLE SENTIRIC_CALL_ID {RECORDED_ID}"]
    assert variables["SENTIRIC_CALL_ID"] == RECORDED_ID
    info = daemon.registry.take(RECORDED_ID)
    assert info is not None
    assert (info.call_id, info.caller_id, info.caller_name, info.channel, info.language) == (
        RECORDED_ID,
        "+905551112233",
        "Ahmet Yilmaz",
        "Local/agi-as@fixtures-00000006;2",
        "en",
    )
    assert info.called_number == "agi-as"  # agi_dnid is "unknown": the extension stands in
    line = await wait_log(logs, "fastagi_registered", call_id=RECORDED_ID)
    assert line["caller_id"] == "+905551112233"
    assert not log_lines(logs, "fastagi_error")
    peer.close()


async def test_a_daemon_with_every_line_taken_tells_the_dialplan_it_is_busy(daemon: Daemon, logs: Logs) -> None:
    """SENTIRIC_BUSY=1 lets a site's dialplan try the next daemon ([sentiric-site] in extensions.conf)."""
    daemon.settings.agent.max_calls = 1
    assert daemon.capacity.claim()  # the one line is taken by a call in progress
    try:
        peer = await AgiPeer.connect(daemon.fastagi.port)
        await peer.send(agi_env_block(secret=AGI_SECRET))
        variables = {"UUID": RECORDED_ID}
        commands = await peer.serve(variables)
    finally:
        daemon.capacity.release()
    assert commands == [f"SET VARIABLE SENTIRIC_CALL_ID {RECORDED_ID}", "SET VARIABLE SENTIRIC_BUSY 1"]
    assert variables["SENTIRIC_BUSY"] == "1" and peer.closed_by_server
    await wait_log(logs, "fastagi_busy", call_id=RECORDED_ID)
    peer.close()


async def test_unprompted_hangup_line_is_handled(daemon: Daemon, logs: Logs) -> None:
    """fastagi-hangup.txt: Asterisk says HANGUP by itself, keeps the socket open and still answers."""
    peer = await AgiPeer.connect(daemon.fastagi.port)
    await peer.send(agi_env_block("fastagi-hangup.txt") + b"HANGUP\n")
    commands = await peer.serve({"UUID": HANGUP_ID}, hung_up=True)
    assert peer.closed_by_server  # Asterisk never closes: if we did not, the channel would sit in AGI()
    # The recorded env block carries no registration key: refused, and the channel is told why.
    assert commands == [f"SET VARIABLE SENTIRIC_CALL_ID {HANGUP_ID}", "SET VARIABLE SENTIRIC_REFUSED missing_key"]
    assert not log_lines(logs, "fastagi_error")
    peer.close()


@knobs(secret=None)
async def test_hangup_line_is_not_taken_for_the_reply_to_our_command(daemon: Daemon, logs: Logs) -> None:
    """Without agi_arg_1 the server asks GET VARIABLE UUID; the HANGUP already queued is not its answer.
    (No secret: a dialplan that passes no UUID passes no key for it either.)"""
    peer = await AgiPeer.connect(daemon.fastagi.port)
    await peer.send(agi_env_block("fastagi-hangup.txt", drop=("agi_arg_1",)) + b"HANGUP\n")
    commands = await peer.serve({"UUID": HANGUP_ID}, hung_up=True)
    assert commands[0] == "GET VARIABLE UUID"
    assert peer.closed_by_server
    assert daemon.registry.take(HANGUP_ID) is not None
    assert not log_lines(logs, "fastagi_error")
    peer.close()


# -- bad requests, each beside a good registration ------------------------------------------------
async def beside_a_good_registration(
    daemon: Daemon, logs: Logs, bad: Callable[[int], Awaitable[AgiPeer]]
) -> dict[str, object]:
    """Run `bad(port)` and a well-formed registration at the same time; return the one fastagi_error."""
    good_id = str(uuid.uuid4())
    bad_peer, good_peer = await asyncio.gather(bad(daemon.fastagi.port), register(daemon.fastagi.port, good_id))

    assert good_peer.closed_by_server
    good = daemon.registry.take(good_id)
    assert good is not None and good.caller_id == "+905551112233"
    assert bad_peer.closed_by_server  # the server hung up on the bad request too
    errors = log_lines(logs, "fastagi_error")
    assert len(errors) == 1, errors
    return errors[0]


async def send_then_wait_for_close(port: int, data: bytes, close: bool = False) -> AgiPeer:
    peer = await AgiPeer.connect(port)
    await peer.send(data)
    if close:
        peer.writer.write_eof()
    sent_back = await peer.wait_closed_by_server()
    assert sent_back == b""  # a refused request gets no command, just the close
    peer.close()
    return peer


async def test_invalid_agi_arg_1(daemon: Daemon, logs: Logs) -> None:
    block = agi_env_block(call_id="not-a-uuid")
    error = await beside_a_good_registration(daemon, logs, lambda port: send_then_wait_for_close(port, block))
    assert error["reason"] == "bad_uuid"
    assert len(daemon.registry) == 0


async def test_missing_agi_arg_1_and_no_uuid_variable(daemon: Daemon, logs: Logs) -> None:
    """AGI(agi://…/register) without ${UUID}: the server asks for UUID, the channel has none."""

    async def no_arg(port: int) -> AgiPeer:
        peer = await AgiPeer.connect(port)
        await peer.send(agi_env_block(drop=("agi_arg_1",)))
        commands = await peer.serve({})
        assert commands == ["GET VARIABLE UUID"]
        peer.close()
        return peer

    error = await beside_a_good_registration(daemon, logs, no_arg)
    assert error["reason"] == "bad_uuid"


async def test_unknown_script(daemon: Daemon, logs: Logs) -> None:
    block = agi_env_block().replace(b"agi_network_script: register", b"agi_network_script: hello")
    error = await beside_a_good_registration(daemon, logs, lambda port: send_then_wait_for_close(port, block))
    assert error["reason"] == "unknown_script"
    assert daemon.registry.take(RECORDED_ID) is None


@knobs(header_timeout_s=0.3)
async def test_half_an_environment_then_silence(daemon: Daemon, logs: Logs) -> None:
    half = agi_env_block()[:300]
    error = await beside_a_good_registration(daemon, logs, lambda port: send_then_wait_for_close(port, half))
    assert error["reason"] == "header_timeout"


@pytest.mark.parametrize(
    "block",
    [
        b"agi_network: yes\nagi_callerid: " + b"9" * 5000 + b"\n\n",  # one line past the reader's limit
        b"".join(b"agi_x%d: %s\n" % (i, b"y" * 500) for i in range(40)) + b"\n",  # 20 kB in short lines
    ],
    ids=["one-long-line", "too-many-lines"],
)
async def test_oversized_environment(daemon: Daemon, logs: Logs, block: bytes) -> None:
    error = await beside_a_good_registration(daemon, logs, lambda port: send_then_wait_for_close(port, block))
    assert error["reason"] == "header_too_long"


async def test_garbage_line(daemon: Daemon, logs: Logs) -> None:
    request = b"GET / HTTP/1.1\nHost: 127.0.0.1\n\n"
    error = await beside_a_good_registration(daemon, logs, lambda port: send_then_wait_for_close(port, request))
    assert error["reason"] == "bad_header"


async def test_close_before_the_environment_ends(daemon: Daemon, logs: Logs) -> None:
    half = agi_env_block()[:300]
    error = await beside_a_good_registration(
        daemon, logs, lambda port: send_then_wait_for_close(port, half, close=True)
    )
    assert error["reason"] == "closed"


@knobs(header_timeout_s=0.3)
async def test_no_reply_to_our_command(daemon: Daemon, logs: Logs) -> None:
    """A hung Asterisk takes the request and never answers SET VARIABLE: a timeout, not a 'reset'."""

    async def mute(port: int) -> AgiPeer:
        peer = await AgiPeer.connect(port)
        await peer.send(agi_env_block(call_id=str(uuid.uuid4())))
        sent_back = await peer.wait_closed_by_server()
        assert sent_back.startswith(b"SET VARIABLE SENTIRIC_CALL_ID ")
        peer.close()
        return peer

    error = await beside_a_good_registration(daemon, logs, mute)
    assert error["reason"] == "command_timeout"

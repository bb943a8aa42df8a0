"""The FreeSWITCH ingress against a fake FreeSWITCH speaking mod_event_socket and mod_audio_stream byte for
byte (tests/freeswitch_peer.py): calls, DTMF, barge-in, hangup, transfer, bad input, reconnect, and the
seed's whole conversation end to end on the real models."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from sentiric_pbx.call.transport import CallTransport, Dtmf, Hangup
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.telephony.freeswitch.esl import EslParser, EslProtocolError, parse_event
from sentiric_pbx.telephony.freeswitch.ingress import FreeswitchIngress
from sentiric_pbx.tools.caller import Wire
from tests.freeswitch_peer import Channel, FakeFreeswitch, event_message, freeswitch_dialer

REPO = Path(__file__).resolve().parent.parent


def tone(seconds: float, rate: int = 16000, freq: float = 440.0, amp: float = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


async def until(predicate, within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.02)


def fs_settings(base: Settings, fs: FakeFreeswitch) -> Settings:
    base.freeswitch.enabled = True
    base.freeswitch.esl_port = fs.port
    base.freeswitch.stream_port = 0
    return base


@pytest.fixture
async def fs(tmp_path: Path) -> AsyncIterator[FakeFreeswitch]:
    fake = FakeFreeswitch(tmp_path)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def fs_daemon(settings: Settings, fs: FakeFreeswitch) -> AsyncIterator[Daemon]:
    d = Daemon(fs_settings(settings, fs))
    await d.start()
    async with asyncio.timeout(5):
        await fs.subscribed.wait()
    try:
        yield d
    finally:
        await d.stop()


def ingress(d: Daemon) -> FreeswitchIngress:
    (ing,) = [i for i in d.ingresses.values() if isinstance(i, FreeswitchIngress)]
    return ing


async def connected(ch: Channel) -> Channel:
    await until(lambda: ch.ws is not None)
    return ch


def voiced_frames(ch: Channel) -> int:
    return sum(1 for _t, _p, v in ch.wire.received if v)


# -- the ESL wire -------------------------------------------------------------------------------
def test_plain_event_headers_are_url_decoded_and_the_body_kept() -> None:
    msg = event_message(
        {
            "Event-Name": "CUSTOM",
            "Event-Subclass": "mod_audio_stream::play",
            "Caller-Caller-ID-Number": "+905551112233",
        },
        '{"file":"/tmp/x_0.tmp.r16"}',
    )
    assert b"Caller-Caller-ID-Number: %2B905551112233" in msg  # what FreeSWITCH really sends
    (parsed,) = EslParser(4096).feed(msg[:17] + msg[17:])
    event = parse_event(parsed.body)
    assert event.name == "mod_audio_stream::play"
    assert event.get("Caller-Caller-ID-Number") == "+905551112233"
    assert event.body == '{"file":"/tmp/x_0.tmp.r16"}'


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Content-Length: 99999999\nContent-Type: text/event-plain\n\n", "oversized_message"),
        (b"Content-Length: ten\n\n", "bad_content_length"),
        (b"this is not an event socket\n\n", "bad_header"),
        (b"Content-Type: text/event-plain" + b"x" * 70000, "header_too_long"),
    ],
)
def test_esl_framing_errors_are_named(data: bytes, reason: str) -> None:
    with pytest.raises(EslProtocolError) as exc:
        EslParser(1024 * 1024).feed(data)
    assert exc.value.reason == reason


# -- calls --------------------------------------------------------------------------------------
async def test_a_parked_call_streams_both_ways_with_caller_id_and_uuid(fs_daemon, fs) -> None:
    ch = await connected(fs.new_call("+905551112233"))
    assert ch.stream_url is not None and ch.stream_url.endswith(f"/{ch.uuid}")
    assert ch.stream_url.startswith("ws://127.0.0.1:")
    assert any(c.startswith(f"uuid_audio_stream {ch.uuid} start ") and " mono 16k " in c for c in ch.commands)
    await until(lambda: fs_daemon.calls_active == 1)
    call = ingress(fs_daemon).calls[ch.uuid]
    assert call.transport is not None
    info = call.transport.info
    assert (info.call_id, info.caller_id, info.called_number, info.ingress) == (
        ch.uuid,
        "+905551112233",
        "5000",
        "freeswitch",
    )
    # The echo agent plays the caller's turn back: through streamAudio → play event → uuid_broadcast.
    ch.wire.outbox.put_nowait(b"")
    for i in range(0, len(turn := tone(1.0)), 640):
        ch.wire.outbox.put_nowait(turn[i : i + 640])
    await until(lambda: voiced_frames(ch) > 20)
    assert any(c.startswith(f"uuid_broadcast {ch.uuid} ") and c.endswith(" aleg") for c in ch.commands)
    await ch.hangup()
    await until(lambda: fs_daemon.calls_active == 0)


async def test_other_applications_parked_channels_are_left_alone(fs_daemon, fs) -> None:
    ch = Channel(fs, "8a6b1f0e-0000-4000-8000-000000000001", "1001", "x", "9999", Wire(16000, -40.0))
    headers = ch.base_headers("CHANNEL_PARK")
    del headers["variable_sentiric_pbx"]
    fs.emit(headers)
    await asyncio.sleep(0.3)
    assert ch.uuid not in ingress(fs_daemon).calls


class Recorder:
    """An agent that notes what the transport delivers: events, and plays one long reply."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.transport: CallTransport | None = None
        self.ready = asyncio.Event()

    async def __call__(self, transport: CallTransport) -> None:
        self.transport = transport
        self.ready.set()
        while True:
            event = await transport.next_event()
            self.events.append(event)
            if isinstance(event, Hangup):
                return


@pytest.fixture
async def rec_daemon(settings: Settings, fs: FakeFreeswitch) -> AsyncIterator[tuple[Daemon, Recorder]]:
    agent = Recorder()
    d = Daemon(fs_settings(settings, fs), agent=agent)
    await d.start()
    async with asyncio.timeout(5):
        await fs.subscribed.wait()
    try:
        yield d, agent
    finally:
        await d.stop()


async def test_dtmf_and_hangup_events_reach_the_agent(rec_daemon, fs) -> None:
    d, agent = rec_daemon
    ch = await connected(fs.new_call("+905551112233"))
    await agent.ready.wait()
    ch.dtmf("5")
    ch.dtmf("#")
    await until(lambda: len(agent.events) == 2)
    await ch.hangup("NORMAL_CLEARING")
    await until(lambda: len(agent.events) == 3)
    assert agent.events == [Dtmf("5"), Dtmf("#"), Hangup("caller", "normal_clearing")]
    await until(lambda: d.calls_active == 0)


async def test_barge_in_flush_stops_what_freeswitch_is_playing(rec_daemon, fs) -> None:
    _d, agent = rec_daemon
    ch = await connected(fs.new_call("+905551112233"))
    await agent.ready.wait()
    assert agent.transport is not None
    agent.transport.play(tone(5.0))
    await until(lambda: voiced_frames(ch) > 10)
    agent.transport.flush()
    await until(lambda: any(c == f"uuid_break {ch.uuid} all" for c in ch.commands))
    assert agent.transport.queued_ms == 0
    await asyncio.sleep(0.3)
    heard = voiced_frames(ch)
    await asyncio.sleep(0.5)
    assert voiced_frames(ch) == heard  # nothing more of the 5 s reply reaches the caller


async def test_a_long_reply_reaches_the_caller_whole_as_one_file_per_chunk(rec_daemon, fs) -> None:
    """Each 100 ms chunk becomes a file and a uuid_broadcast; the caller hears all 3 s without a hole, and
    wait_played returns only once FreeSWITCH has played it (queued_ms is 0)."""
    _d, agent = rec_daemon
    ch = await connected(fs.new_call("+905551112233"))
    await agent.ready.wait()
    assert agent.transport is not None
    agent.transport.play(tone(3.0))
    await agent.transport.wait_played()
    assert agent.transport.queued_ms == 0
    await asyncio.sleep(0.1)
    heard = [pcm for _t, pcm, _v in ch.wire.received]
    first = next(i for i, (_t, _p, v) in enumerate(ch.wire.received) if v)
    reply = heard[first : first + 150]  # 3 s
    assert sum(1 for pcm in reply if not any(pcm)) == 0  # no frame of silence inside the reply
    assert len([c for c in ch.commands if c.startswith("uuid_broadcast")]) == 30  # 100 ms files


async def test_agent_hangup_and_transfer_go_through_the_event_socket(rec_daemon, fs) -> None:
    _d, agent = rec_daemon
    ch = await connected(fs.new_call("+905551112233"))
    await agent.ready.wait()
    assert agent.transport is not None
    await agent.transport.transfer("1000 XML default")
    await until(lambda: ch.hung_up.is_set())
    assert f"uuid_transfer {ch.uuid} 1000 XML default" in ch.commands
    assert ch.variables == {"sentiric_pbx": None}  # unset: a later park in the new extension is not ours
    assert ch.commands.index(f"uuid_audio_stream {ch.uuid} stop") < ch.commands.index(
        f"uuid_transfer {ch.uuid} 1000 XML default"
    )

    agent.ready.clear()
    ch2 = await connected(fs.new_call("+905551112244"))
    await agent.ready.wait()
    await agent.transport.hangup()
    await until(lambda: ch2.hung_up.is_set())
    assert f"uuid_kill {ch2.uuid}" in ch2.commands


# -- bad input: one log line, only that call ends -------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"\x01\x02\x03", "odd_length_audio"),
        ("not json at all", "bad_text_message"),
        (b"\0" * 2_000_000, "oversized_message"),
    ],
)
async def test_a_malformed_media_message_ends_only_that_call(fs_daemon, fs, logs, bad, reason) -> None:
    good = await connected(fs.new_call("+905551110001"))
    victim = await connected(fs.new_call("+905551110002"))
    await until(lambda: fs_daemon.calls_active == 2)
    assert victim.ws is not None
    await victim.ws.send(bad)
    await until(lambda: victim.hung_up.is_set())
    errors = [e for e in logs if e["event"] == "freeswitch_protocol_error"]
    assert [(e["reason"], e["call_id"]) for e in errors] == [(reason, victim.uuid)]
    assert f"uuid_kill {victim.uuid}" in victim.commands
    # The other call is untouched and still echoes.
    await until(lambda: fs_daemon.calls_active == 1)
    for i in range(0, len(turn := tone(1.0)), 640):
        good.wire.outbox.put_nowait(turn[i : i + 640])
    await until(lambda: voiced_frames(good) > 20)
    assert not good.hung_up.is_set()


async def test_a_malformed_play_event_ends_only_that_call(fs_daemon, fs, logs) -> None:
    ch = await connected(fs.new_call("+905551110003"))
    await until(lambda: fs_daemon.calls_active == 1)
    fs.emit(ch.base_headers("CUSTOM") | {"Event-Subclass": "mod_audio_stream::play"}, "{not json")
    await until(lambda: ch.hung_up.is_set())
    assert [e["reason"] for e in logs if e["event"] == "freeswitch_protocol_error"] == ["bad_play_event"]


@pytest.mark.parametrize(
    "garbage",
    [b"this is not an event socket\n\n", b"Content-Length: 999999999\nContent-Type: text/event-plain\n\n"],
)
async def test_garbage_on_the_event_socket_reconnects_and_the_call_goes_on(fs_daemon, fs, logs, garbage) -> None:
    ch = await connected(fs.new_call("+905551110004"))
    await until(lambda: fs_daemon.calls_active == 1)
    fs.subscribed.clear()
    fs.send_raw(garbage)
    async with asyncio.timeout(10):
        await fs.subscribed.wait()
    assert len([e for e in logs if e["event"] == "esl_protocol_error"]) == 1
    assert fs.connections == 2
    await until(lambda: f"uuid_exists {ch.uuid}" in fs.api_log)  # the calls we hold are re-checked
    assert fs_daemon.calls_active == 1 and not ch.hung_up.is_set()
    await ch.hangup()
    await until(lambda: fs_daemon.calls_active == 0)


async def test_freeswitch_restart_reconnects_with_backoff(fs_daemon, fs) -> None:
    await fs.stop()
    await until(lambda: ingress(fs_daemon).esl.state == "disconnected")
    await asyncio.sleep(0.6)  # a couple of refused attempts
    await fs.start(fs.port)
    async with asyncio.timeout(10):
        await fs.subscribed.wait()
    await until(lambda: ingress(fs_daemon).esl.connections == 2)
    ch = await connected(fs.new_call("+905551110005"))
    await until(lambda: fs_daemon.calls_active == 1)
    await ch.hangup()


async def test_a_wrong_password_is_refused_and_never_logged(settings, tmp_path, logs, caplog) -> None:
    fake = FakeFreeswitch(tmp_path, password="s3cret-right")
    await fake.start()
    settings = fs_settings(settings, fake)
    settings.freeswitch.esl_password = "wrong-pass-XYZ"  # type: ignore[assignment]
    d = Daemon(settings)
    await d.start()
    try:
        await until(lambda: ingress(d).esl.state == "refused" or len(fake.auth_attempts) >= 1)
        await until(lambda: any(e.get("state") == "refused" for e in logs))
    finally:
        await d.stop()
        await fake.close()
    assert fake.auth_attempts[0] == "wrong-pass-XYZ"
    assert "wrong-pass-XYZ" not in repr(logs) + caplog.text


async def test_health_says_whether_the_event_socket_is_up_and_why_not(fs_daemon, fs) -> None:
    health = fs_daemon.health()["freeswitch"]
    assert health == {"connected": True, "state": "connected", "reason": None, "address": f"127.0.0.1:{fs.port}"}
    await fs.stop()
    await until(lambda: not fs_daemon.health()["freeswitch"]["connected"])
    down = fs_daemon.health()["freeswitch"]
    await fs.start(fs.port)
    await until(lambda: fs_daemon.health()["freeswitch"]["connected"])
    assert down["state"] == "disconnected" and down["reason"] in ("closed", "ConnectionRefusedError"), down


async def test_the_console_says_freeswitch_is_down_or_refused_our_password(settings, tmp_path) -> None:
    """A daemon whose password FreeSWITCH refuses answers no call and the admin sees it on the first page; one
    on a FreeSWITCH that goes away sees it too, and the banner goes once it is back."""
    from playwright.async_api import async_playwright

    from tests.test_console import console_on, launch_chromium

    fake = FakeFreeswitch(tmp_path, password="s3cret-right")
    await fake.start()
    s = console_on(fs_settings(settings, fake))
    s.freeswitch.esl_password = "wrong-pass-XYZ"  # type: ignore[assignment]
    s.freeswitch.reconnect_max_s = 0.5
    d = Daemon(s)
    await d.start()

    async def banners(page) -> tuple[int, str]:
        await page.reload()
        await page.locator("#alerts[data-checked]").wait_for(state="attached")
        return await page.locator("#freeswitch-alert").count(), await page.inner_text("#alerts")

    try:
        await until(lambda: d.health()["freeswitch"]["reason"] == "refused")
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page()
                await page.goto(d.console.url("/"))
                refused = await banners(page)
                fake.password = "wrong-pass-XYZ"  # the admin mends FreeSWITCH's side
                await until(lambda: d.health()["freeswitch"]["connected"])
                mended = await banners(page)
                await fake.stop()
                await until(lambda: not d.health()["freeswitch"]["connected"])
                down = await banners(page)
            finally:
                await browser.close()
    finally:
        await d.stop()
        await fake.close()
    assert refused[0] == 1 and f"127.0.0.1:{fake.port} refused our password" in refused[1], refused
    assert mended[0] == 0, mended
    assert down[0] == 1 and f"not connected to 127.0.0.1:{fake.port}" in down[1], down
    assert "wrong-pass-XYZ" not in refused[1] + down[1]


async def test_a_stream_for_no_call_of_ours_is_refused_and_others_go_on(fs_daemon, fs, logs) -> None:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import ConnectionClosed

    ch = await connected(fs.new_call("+905551110006"))
    port = ingress(fs_daemon).stream_port
    async with ws_connect(f"ws://127.0.0.1:{port}/not-a-call") as stray:
        with pytest.raises(ConnectionClosed) as closed:
            await stray.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert [e["event"] for e in logs].count("freeswitch_stream_unknown_call") == 1
    assert fs_daemon.calls_active == 1 and not ch.hung_up.is_set()
    await ch.hangup()


async def test_while_draining_a_new_call_is_hung_up_and_the_active_one_finishes(fs_daemon, fs) -> None:
    active = await connected(fs.new_call("+905551110007"))
    await until(lambda: fs_daemon.calls_active == 1)
    drain = asyncio.create_task(ingress(fs_daemon).drain(10.0))
    await asyncio.sleep(0.1)
    late = fs.new_call("+905551110008")
    await until(lambda: late.hung_up.is_set())
    assert f"uuid_kill {late.uuid} NORMAL_TEMPORARY_FAILURE" in late.commands
    assert not drain.done()  # still waiting for the active call
    await active.hangup()
    assert await drain == 0


# -- outbound mode: the dialplan's `socket` application connects each call to us --------------------
@pytest.fixture
async def out_daemon(settings: Settings, fs: FakeFreeswitch) -> AsyncIterator[Daemon]:
    s = fs_settings(settings, fs)
    s.freeswitch.mode = "outbound"
    s.freeswitch.outbound_port = 0
    d = Daemon(s)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def test_outbound_socket_call_streams_both_ways_and_hangs_up(out_daemon, fs) -> None:
    port = ingress(out_daemon).outbound_port
    ch = await connected(await fs.outbound_call("127.0.0.1", port, "+905551112233"))
    assert fs.connections == 0  # no inbound Event Socket in this mode
    await until(lambda: out_daemon.calls_active == 1)
    info = ingress(out_daemon).calls[ch.uuid].info()
    assert (info.call_id, info.caller_id, info.called_number) == (ch.uuid, "+905551112233", "5000")
    for i in range(0, len(turn := tone(1.0)), 640):
        ch.wire.outbox.put_nowait(turn[i : i + 640])
    await until(lambda: voiced_frames(ch) > 20)  # commands (uuid_broadcast) went over the call's own socket
    await ch.hangup()
    await until(lambda: out_daemon.calls_active == 0)


async def test_garbage_on_one_outbound_socket_ends_only_that_call(out_daemon, fs, logs) -> None:
    port = ingress(out_daemon).outbound_port
    good = await connected(await fs.outbound_call("127.0.0.1", port, "+905551110001"))
    victim = await connected(await fs.outbound_call("127.0.0.1", port, "+905551110002"))
    await until(lambda: out_daemon.calls_active == 2)
    assert victim.socket is not None
    victim.socket.write(b"Content-Length: 999999999\nContent-Type: text/event-plain\n\n")
    await until(lambda: victim.uuid not in ingress(out_daemon).calls)
    errors = [e for e in logs if e["event"] == "freeswitch_protocol_error"]
    assert [(e["reason"], e["call_id"]) for e in errors] == [("oversized_message", victim.uuid)]
    assert out_daemon.calls_active == 1
    for i in range(0, len(turn := tone(1.0)), 640):
        good.wire.outbox.put_nowait(turn[i : i + 640])
    await until(lambda: voiced_frames(good) > 20)


# -- the sample config ----------------------------------------------------------------------------
def test_sample_dialplan_is_well_formed_and_matches_the_daemon_defaults() -> None:
    s = Settings()
    root = ET.parse(REPO / "freeswitch" / "dialplan" / "sentiric.xml").getroot()
    actions = [(a.get("application"), a.get("data")) for a in root.iter("action")]
    assert ("set", f"{s.freeswitch.call_variable}=true") in actions
    assert ("answer", None) in actions and actions[-1][0] == "park"
    esl = ET.parse(REPO / "freeswitch" / "autoload_configs" / "event_socket.conf.xml").getroot()
    params = {p.get("name"): p.get("value") for p in esl.iter("param")}
    assert params["listen-ip"] == s.freeswitch.esl_host == "127.0.0.1"
    assert int(params["listen-port"]) == s.freeswitch.esl_port
    outbound = ET.parse(REPO / "freeswitch" / "dialplan" / "sentiric-outbound.xml").getroot()
    socket_app = [a.get("data") for a in outbound.iter("action") if a.get("application") == "socket"]
    assert socket_app == [f"{s.freeswitch.outbound_host}:{s.freeswitch.outbound_port} async full"]
    readme = (REPO / "freeswitch" / "README.md").read_text()
    assert f"ws://127.0.0.1:{s.freeswitch.stream_port}" in readme


# -- doctor ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("server_pw", "our_pw", "status"),
    [("s3cret-pw", "s3cret-pw", "ok"), ("ClueCon", "ClueCon", "warn"), ("s3cret-pw", "wrong-pw", "fail")],
)
async def test_doctor_checks_the_event_socket_and_its_password(tmp_path, server_pw, our_pw, status) -> None:
    from sentiric_pbx.doctor import check_freeswitch

    fake = FakeFreeswitch(tmp_path, password=server_pw)
    await fake.start()
    s = fs_settings(Settings(), fake)
    s.freeswitch.esl_password = our_pw  # type: ignore[assignment]
    try:
        esl, port = await check_freeswitch(s)
    finally:
        await fake.close()
    assert esl.status == status, esl
    assert fake.auth_attempts == [our_pw]
    assert our_pw not in esl.detail + esl.hint or our_pw == "ClueCon"
    assert port.status == "ok"


async def test_doctor_in_outbound_mode_checks_our_listener_not_a_login(tmp_path) -> None:
    from sentiric_pbx.doctor import check_freeswitch

    s = Settings()
    s.freeswitch.mode = "outbound"
    s.freeswitch.outbound_port = 0
    s.freeswitch.stream_port = 0
    checks = await check_freeswitch(s)
    assert [(c.name, c.status) for c in checks] == [
        ("port freeswitch outbound", "ok"),
        ("port freeswitch stream", "ok"),
    ]


async def test_doctor_says_freeswitch_is_unreachable(tmp_path) -> None:
    from sentiric_pbx.doctor import check_freeswitch

    fake = FakeFreeswitch(tmp_path)
    await fake.start()
    s = fs_settings(Settings(), fake)
    await fake.close()  # nothing listens there any more
    esl, _port = await check_freeswitch(s)
    assert esl.status == "fail" and "unreachable" in esl.detail


# -- the seed's conversation, end to end, over FreeSWITCH -------------------------------------------
async def test_known_caller_books_an_appointment_over_freeswitch(
    tmp_path: Path, models_dir: Path, engines: EnginePool
) -> None:
    """The demo call of tests/test_assistant_call.py, placed through the fake FreeSWITCH at 16 kHz."""
    from sentiric_pbx.tools.demo import run_demo
    from tests.test_assistant_call import assistant_settings

    fake = FakeFreeswitch(tmp_path)
    await fake.start()
    heard: dict[str, str] = {}
    place = freeswitch_dialer(fake)

    async def dial(daemon, turns, opts):
        report = await place(daemon, turns, opts)
        # What the caller's ear got (streamAudio → file → uuid_broadcast), transcribed by the daemon's Whisper.
        ear = b"".join(pcm for _t, pcm, _v in fake.channels[report.call_id].wire.received)
        heard["text"] = (await daemon.engines.stt_for("en").transcribe(ear)).text.lower()
        return report

    settings = fs_settings(assistant_settings(tmp_path, models_dir), fake)
    try:
        result = await run_demo(settings, tmp_path / "caller-side.wav", dial=dial, engines=engines)
    finally:
        await fake.close()
    ctx = result.context
    assert ctx is not None and ctx.call_id == result.report.call_id  # call_id is the channel UUID
    agent_lines = [t.text for t in ctx.turns if t.who == "agent"]
    caller_lines = [t.text.lower() for t in ctx.turns if t.who == "caller"]
    assert "Yilmaz" in agent_lines[0]  # greeted by name: caller ID came from Caller-Caller-ID-Number
    assert any("appointment" in line for line in caller_lines)
    assert result.booking is not None
    booked = dt.datetime.fromisoformat(result.booking["start"])
    hour = booked.hour % 12 or 12
    assert re.search(rf"\b{hour}\b", result.requested)
    assert ctx.status == "completed"
    # The reply the caller heard names the time.
    text = heard["text"]
    assert "welcome back" in text, text
    spoken_hour = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    assert re.search(rf"(?<![\d\w])({hour}|{spoken_hour[hour % 12]})(?![\d])", text), text
    assert result.report.greeting_latency_ms is not None

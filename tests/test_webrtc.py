"""The browser phone, in a real headless Chromium: the page calls, the agent greets, the caller's WAV is
answered, and the page shows both sides of the conversation.

The caller is Chromium's fake microphone playing one WAV: the demo's three turns (spoken by Piper)
with long silences between them, so each reply has finished before the next turn starts. The
assertions are the AudioSocket end-to-end test's (greeted by name, booked, the agent's words name
the time, the call completed), plus what only this ingress has: the transcript on the page is the
stored one, and a screenshot of it is kept (`test-artifacts/webrtc-phone.png`).

Malformed signalling (not JSON, garbage SDP, an offer without audio, garbage mid-call) ends only
that socket or call, with one `webrtc_signalling_error` line; a browser call in progress goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import pytest_asyncio
import websockets
from pydantic import ValidationError
from typer.testing import CliRunner

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.cli import app
from sentiric_pbx.config import Settings, WebRtcConfig
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.telephony.webrtc.ice import host_addresses, ice_addresses
from sentiric_pbx.telephony.webrtc.ingress import WebRtcIngress
from sentiric_pbx.tools.caller import CallerOptions, CallReport
from sentiric_pbx.tools.demo import DEMO_PHONE, run_demo
from tests.browser import chromium_or_skip, headless_chromium
from tests.test_assistant_call import agent_channel, assistant_settings

pytest.importorskip("playwright")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LEAD_SILENCE_S = 10.0  # the greeting ("Welcome back, Mr. Yilmaz …") plays meanwhile
GAP_SILENCE_S = 16.0  # each reply (think + speak) fits well inside this
TAIL_SILENCE_S = 90.0  # Chromium loops the file: the call is over long before the loop comes round


def write_microphone(path: Path, turns: list[bytes], rate: int = 16000) -> None:
    """The caller's whole side of the call as one WAV: silence, turn, silence, turn, …, long silence."""
    pcm = bytearray(int(LEAD_SILENCE_S * rate) * 2)
    for i, turn in enumerate(turns):
        pcm += turn
        pcm += bytes(int((GAP_SILENCE_S if i < len(turns) - 1 else TAIL_SILENCE_S) * rate) * 2)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(pcm))


def webrtc_of(daemon: Daemon) -> WebRtcIngress:
    return next(i for i in daemon.ingresses.values() if isinstance(i, WebRtcIngress))


class BrowserDialer:
    """`run_demo`'s dialer for the browser phone: Chromium opens /phone?caller=…, clicks Call, waits for the
    agent to hang up, and keeps a screenshot and the page's state (`window.phone`) for the assertions."""

    def __init__(self, tmp: Path, call_timeout_s: float = 150.0) -> None:
        self.tmp = tmp
        self.call_timeout_s = call_timeout_s
        self.screenshot = tmp / "webrtc-phone.png"
        self.page_state: dict[str, Any] = {}
        self.transcript_text = ""
        self.heard = ""

    async def __call__(self, daemon: Daemon, turns: list[bytes], opts: CallerOptions) -> CallReport:
        mic = self.tmp / "caller-microphone.wav"
        write_microphone(mic, turns)
        port = webrtc_of(daemon).port
        async with headless_chromium(mic) as browser:
            page = await browser.new_page()  # type: ignore[attr-defined]
            await page.goto(f"http://127.0.0.1:{port}/phone?caller={opts.caller_id}")
            await page.click("#call")
            await page.wait_for_function("window.phone.ended", timeout=self.call_timeout_s * 1000)
            self.page_state = await page.evaluate("window.phone")
            self.transcript_text = await page.inner_text("#transcript")
            await page.screenshot(path=str(self.screenshot), full_page=True)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(self.screenshot, ARTIFACTS / "webrtc-phone.png")
        state = self.page_state
        self.heard = await self._agent_words(daemon, state["callId"])
        greeting_ms = None
        if state.get("firstAgentAudioAt") is not None and state.get("connectedAt") is not None:
            greeting_ms = round(state["firstAgentAudioAt"] - state["connectedAt"], 1)
        report = CallReport(call_id=state["callId"], greeting_latency_ms=greeting_ms)
        report.ended_by = f"{state['endedBy']}_{state['reason']}"
        return report

    async def _agent_words(self, daemon: Daemon, call_id: str) -> str:
        """Whisper (the daemon's own engine, before `run_demo` stops it) on the agent's side of the recording."""
        archive = Path(daemon.settings.storage.archive_dir)  # the post-call archive job moves the file there
        async with asyncio.timeout(30):
            while True:
                ctx = await daemon.assistant.s.store.load(call_id)
                done = ctx is not None and ctx.status != "active" and ctx.recording_path
                found = [Path(ctx.recording_path)] if done and Path(ctx.recording_path).is_file() else []
                found += list(archive.rglob(f"{call_id}.wav")) if done else []
                if found:
                    break
                await asyncio.sleep(0.2)
        agent_pcm, rate = agent_channel(found[0])
        stt = daemon.engines.stt_for("en")
        return (await stt.transcribe(resample(agent_pcm, rate, 16000))).text.lower()


# -- the booking call, in Chromium ----------------------------------------------------------------
async def test_browser_caller_is_greeted_by_name_books_and_sees_the_transcript(
    tmp_path: Path, models_dir: Path, engines: EnginePool
) -> None:
    chromium_or_skip()
    settings = assistant_settings(tmp_path, models_dir)
    settings.webrtc.enabled = True
    settings.webrtc.port = 0
    settings.webrtc.ice_addresses = ["127.0.0.1"]  # media on loopback only, as every listener in tests
    settings.webrtc.page_caller_id = True  # the demo's page names the CRM's caller (off by default)
    dialer = BrowserDialer(tmp_path)

    result = await run_demo(settings, tmp_path / "caller-side.wav", dial=dialer, engines=engines)

    ctx = result.context
    assert ctx is not None, dialer.page_state
    assert ctx.ingress == "webrtc"
    agent_lines = [t.text for t in ctx.turns if t.who == "agent"]
    caller_lines = [t.text.lower() for t in ctx.turns if t.who == "caller"]
    # Greeted by name (the page's ?caller= is the CRM's +905551112233, Mr. Ahmet Yilmaz).
    assert ctx.caller_id == DEMO_PHONE
    assert "Yilmaz" in agent_lines[0]
    assert any("appointment" in line for line in caller_lines), caller_lines
    # Booked in the calendar, by this call, at the requested time; the goodbye ended the call.
    assert result.booking is not None, [(t.who, t.text) for t in ctx.turns]
    booked = dt.datetime.fromisoformat(result.booking["start"])
    hour = booked.hour % 12 or 12
    assert re.search(rf"\b{hour}\b", result.requested)
    assert ctx.status == "completed"
    assert result.report.ended_by == "agent_agent_hangup"

    # The browser received the agent's audio (its RTP audio level rose after the call connected)...
    assert result.report.greeting_latency_ms is not None
    # ...and what the daemon sent names the time (Whisper on the agent's side of the call's recording).
    assert "welcome back" in dialer.heard  # only a known caller's greeting says it
    spoken_hour = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    assert re.search(rf"(?<![\d\w])({hour}|{spoken_hour[hour % 12]})(?![\d])", dialer.heard), dialer.heard
    shown = CliRunner().invoke(app, ["calls", "show", ctx.call_id, "--json", "--db", str(settings.storage.db_path)])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.stdout)
    assert f"Booked: {booked.strftime('%a %d %b %Y %H:%M')}" in details["summary"], details["summary"]

    # The page showed both sides, as they were stored, and the screenshot of it is kept.
    page_turns = [(t["who"], t["text"]) for t in dialer.page_state["turns"]]
    assert page_turns == [(t.who, t.text) for t in ctx.turns]
    assert {"caller", "agent"} <= {who for who, _ in page_turns}
    assert "Yilmaz" in dialer.transcript_text and "appointment" in dialer.transcript_text.lower()
    assert dialer.screenshot.stat().st_size > 10_000
    assert (ARTIFACTS / "webrtc-phone.png").is_file()


# -- the page, and malformed signalling (the echo agent: no models needed) -------------------------
@pytest.fixture
def webrtc_settings(settings: Settings) -> Settings:
    settings.webrtc.enabled = True
    settings.webrtc.port = 0
    settings.webrtc.connect_timeout_s = 10.0
    settings.webrtc.ice_addresses = ["127.0.0.1"]
    return settings


@pytest_asyncio.fixture
async def echo_daemon(webrtc_settings: Settings) -> AsyncIterator[Daemon]:
    d = Daemon(webrtc_settings)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def test_the_browser_phone_listens_on_loopback_by_default() -> None:
    cfg = Settings().webrtc
    assert (cfg.enabled, cfg.host, cfg.port, cfg.ice_addresses) == (False, "127.0.0.1", 8090, None)
    # The page cannot claim a caller ID (the CRM's name for it would be read back) unless the admin says so.
    assert cfg.page_caller_id is False and cfg.allowed_hosts == []


@pytest.mark.parametrize("bad", [["pbx.example.lan:8443"], ["http://pbx.example.lan"], [""], ["a b"]])
def test_allowed_hosts_are_bare_names(bad: list[str]) -> None:
    with pytest.raises(ValidationError):
        WebRtcConfig(allowed_hosts=bad)
    assert WebRtcConfig(allowed_hosts=[" PBX.Example.LAN.", "[fd00::2]"]).allowed_hosts == [
        "pbx.example.lan",
        "fd00::2",
    ]


@pytest.mark.parametrize("bad", [["eth0"], ["localhost"], [], ["127.0.0.1", "192.0.2.300"]])
def test_ice_addresses_must_be_literal_ip_addresses(bad: list[str]) -> None:
    with pytest.raises(ValidationError):
        WebRtcConfig(ice_addresses=bad)
    assert WebRtcConfig(ice_addresses=[" 127.0.0.1", "FD00::2"]).ice_addresses == ["127.0.0.1", "fd00::2"]


async def _offered_addresses(pc_addresses: list[str] | None) -> set[str]:
    """The host candidates aiortc puts in an offer, gathered inside `ice_addresses(pc_addresses)`."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio")
        with ice_addresses(pc_addresses):
            await pc.setLocalDescription(await pc.createOffer())
        lines = [line.split() for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        assert all(c[7] == "host" for c in lines)  # no STUN/TURN: host candidates only
        return {c[4] for c in lines}
    finally:
        await pc.close()


async def test_ice_addresses_narrow_only_our_own_gathering() -> None:
    """Inside `ice_addresses([...])` aiortc gathers exactly those; outside it, aioice's own choice is untouched.

    (Never gathered here with None: that would bind this machine's other addresses, and tests bind loopback.)
    """
    import aioice.ice

    from sentiric_pbx.telephony.webrtc import ice as webrtc_ice

    assert await _offered_addresses(["127.0.0.1"]) == {"127.0.0.1"}
    assert host_addresses(["127.0.0.1", "::1"]) == ["127.0.0.1", "::1"]
    # Outside the block (any other aioice user in this process) the name answers as aioice's function does.
    aioice_own = webrtc_ice._aioice_host_addresses
    assert aioice_own is not None and aioice.ice.get_host_addresses is not aioice_own
    for v4, v6 in [(True, True), (True, False), (False, True)]:
        assert aioice.ice.get_host_addresses(use_ipv4=v4, use_ipv6=v6) == aioice_own(use_ipv4=v4, use_ipv6=v6)
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=v4, use_ipv6=v6)


def test_doctor_checks_the_browser_phone_when_enabled(webrtc_settings: Settings) -> None:
    from sentiric_pbx.doctor import check_webrtc

    webrtc_settings.webrtc.port = 0
    checks = {c.name: c for c in check_webrtc(webrtc_settings)}
    assert checks["port webrtc"].status == "ok"
    assert checks["webrtc"].status == "ok" and "aiortc" in checks["webrtc"].detail
    assert "127.0.0.1 only" in checks["webrtc"].detail  # the fixture's ice_addresses
    webrtc_settings.webrtc.ice_addresses = ["127.0.0.1", "198.51.100.7"]  # TEST-NET-2: on no machine here
    checks = {c.name: c for c in check_webrtc(webrtc_settings)}
    assert checks["webrtc"].status == "fail" and checks["webrtc"].detail.endswith(": 198.51.100.7")
    webrtc_settings.webrtc.ice_addresses = ["127.0.0.1"]
    access = {c.name: c for c in check_webrtc(webrtc_settings)}["webrtc access"]
    assert access.status == "ok" and "served as 127.0.0.1, ::1, localhost;" in access.detail
    webrtc_settings.webrtc.host = "0.0.0.0"  # a LAN page no name was given for: every LAN request gets 403
    assert {c.name: c.status for c in check_webrtc(webrtc_settings)}["webrtc access"] == "warn"
    webrtc_settings.webrtc.allowed_hosts = ["pbx.example.lan"]
    assert {c.name: c.status for c in check_webrtc(webrtc_settings)}["webrtc access"] == "ok"
    webrtc_settings.webrtc.page_caller_id = True  # strangers on the LAN could claim any caller ID
    assert {c.name: c.status for c in check_webrtc(webrtc_settings)}["webrtc access"] == "warn"
    webrtc_settings.webrtc.host, webrtc_settings.webrtc.port = "127.0.0.1", 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        webrtc_settings.webrtc.port = taken.getsockname()[1]
        assert {c.name: c.status for c in check_webrtc(webrtc_settings)}["port webrtc"] == "fail"


async def test_the_page_and_its_script_are_served(echo_daemon: Daemon) -> None:
    base = f"http://127.0.0.1:{webrtc_of(echo_daemon).port}"
    async with httpx.AsyncClient() as http:
        page = await http.get(f"{base}/phone?caller=%2B905551112233")
        script = await http.get(f"{base}/phone.js")
        missing = await http.get(f"{base}/etc/passwd")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="call"' in page.text and 'id="transcript"' in page.text
    assert script.status_code == 200 and "RTCPeerConnection" in script.text
    assert missing.status_code == 404


async def _offer_without_audio() -> str:
    """A well-formed offer with only a data channel: what a page without a microphone track would send."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.createDataChannel("chat")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def _offer(sdp: str, **extra: str) -> str:
    return json.dumps({"type": "offer", "sdp": sdp, **extra})


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("this is not json {", "bad_json"),
        (json.dumps({"type": "answer", "sdp": "v=0"}), "not_an_offer"),
        (json.dumps(["offer"]), "not_an_offer"),
        (_offer("garbage"), "bad_sdp"),
        (_offer("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio banana\r\n"), "bad_sdp"),
        ("NO_AUDIO", "no_audio"),
        (_offer("v=0\r\n", caller="<script>alert(1)</script>"), "bad_caller_id"),
    ],
)
async def test_malformed_signalling_ends_that_socket_with_one_log_line(
    echo_daemon: Daemon, logs: list[dict[str, Any]], message: str, reason: str
) -> None:
    if message == "NO_AUDIO":
        message = _offer(await _offer_without_audio())
    url = f"ws://127.0.0.1:{webrtc_of(echo_daemon).port}/phone/ws"
    async with websockets.connect(url) as ws:
        await ws.send(message)
        reply = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert reply["type"] == "error" and reply["error"] == reason
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    errors = [e for e in logs if e["event"] == "webrtc_signalling_error"]
    assert [e["reason"] for e in errors] == [reason]
    # The daemon still serves: the page loads and a new socket is accepted.
    async with httpx.AsyncClient() as http:
        assert (await http.get(url.replace("ws://", "http://").replace("/phone/ws", "/phone"))).status_code == 200
    async with websockets.connect(url) as ws:
        await ws.send("{}")
        assert json.loads(await ws.recv())["error"] == "not_an_offer"


def _tone_then_silence(path: Path, rate: int = 16000) -> None:
    import numpy as np

    t = np.arange(int(1.5 * rate)) / rate
    tone = (np.sin(2 * np.pi * 300 * t) * 6000).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(rate) + tone + bytes(60 * rate * 2))


async def _call_from(browser: Any, port: int) -> Any:
    page = await browser.new_page()
    await page.goto(f"http://127.0.0.1:{port}/phone?caller=+905550000000")
    await page.click("#call")
    await page.wait_for_function("window.phone.connectedAt !== null || window.phone.ended", timeout=20_000)
    return page


async def test_garbage_mid_call_ends_only_that_call(
    echo_daemon: Daemon, logs: list[dict[str, Any]], tmp_path: Path
) -> None:
    chromium_or_skip()
    mic = tmp_path / "mic.wav"
    _tone_then_silence(mic)
    ingress = webrtc_of(echo_daemon)
    async with headless_chromium(mic) as browser:
        first = await _call_from(browser, ingress.port)
        second = await _call_from(browser, ingress.port)
        assert ingress.calls_active == 2
        first_id = await first.evaluate("window.phone.callId")
        await first.evaluate("ws.send('{this is not json')")  # the page's signalling socket
        await first.wait_for_function("window.phone.ended", timeout=10_000)

        assert await first.evaluate("[window.phone.endedBy, window.phone.error]") == ["error", "bad_json"]
        errors = [e for e in logs if e["event"] == "webrtc_signalling_error"]
        assert [(e["reason"], e["call_id"]) for e in errors] == [("bad_json", first_id)]
        ended = [e for e in logs if e["event"] == "call_ended" and e["call_id"] == first_id]
        assert [(e["by"], e["reason"]) for e in ended] == [("error", "bad_json")]
        # The other call is still up, and the daemon takes a new one.
        await asyncio.sleep(1.0)
        assert not await second.evaluate("window.phone.ended")
        assert ingress.calls_active == 1
        third = await _call_from(browser, ingress.port)
        assert await third.evaluate("window.phone.connectedAt !== null")
        assert ingress.calls_active == 2
        # The caller's Hang up button ends a call as the caller.
        await second.click("#call")
        await second.wait_for_function("window.phone.ended", timeout=10_000)
        await asyncio.sleep(0.5)
        assert ingress.calls_active == 1
        reasons = {e["reason"] for e in logs if e["event"] == "call_ended" and e["by"] == "caller"}
        assert reasons == {"hangup"}


async def test_a_browser_call_binds_and_offers_only_loopback(echo_daemon: Daemon, tmp_path: Path) -> None:
    """`ice_addresses = ["127.0.0.1"]`: the answer's only candidate is 127.0.0.1, and while the call is up
    this process holds no UDP socket on any other address (the rule for every listener in tests)."""
    chromium_or_skip()
    mic = tmp_path / "mic.wav"
    _tone_then_silence(mic)
    async with headless_chromium(mic) as browser:
        page = await _call_from(browser, webrtc_of(echo_daemon).port)
        assert await page.evaluate("window.phone.connectedAt !== null")
        answer = await page.evaluate("window.phone.answerSdp")
        ours = [(c.laddr.ip, c.laddr.port) for c in psutil.Process().net_connections(kind="udp")]
        assert not await page.evaluate("window.phone.ended")
    candidates = [line.split() for line in answer.splitlines() if line.startswith("a=candidate:")]
    assert [(c[2].lower(), c[4], c[7]) for c in candidates] == [("udp", "127.0.0.1", "host")]
    assert ("127.0.0.1", int(candidates[0][5])) in ours  # the socket the call's media runs on...
    assert {ip for ip, _ in ours} <= {"127.0.0.1"}  # ...and no other address bound by this process


@pytest.mark.parametrize(
    ("page_caller_id", "default", "sent", "expected"),
    [
        (True, None, "+905551112233", "+905551112233"),
        (True, "+900000000000", "", "+900000000000"),
        (False, "+900000000000", "+905551112233", "+900000000000"),  # the page cannot claim a number
        (False, None, "+905551112233", None),
    ],
)
def test_caller_id_comes_from_the_page_only_when_allowed(
    page_caller_id: bool, default: str | None, sent: str, expected: str | None
) -> None:
    from sentiric_pbx.telephony.webrtc.ingress import parse_offer

    cfg = Settings().webrtc
    cfg.page_caller_id = page_caller_id
    cfg.default_caller_id = default
    assert parse_offer(_offer("v=0\r\n", caller=sent), cfg) == ("v=0\r\n", expected)


@pytest.mark.parametrize("digit", ["0", "7", "#", "*"])
def test_a_keypad_message_from_the_page_is_a_dtmf_event(digit: str) -> None:
    from sentiric_pbx.call.transport import Dtmf
    from sentiric_pbx.telephony.webrtc.ingress import parse_dtmf

    assert parse_dtmf({"type": "dtmf", "digit": digit}) == Dtmf(digit)


@pytest.mark.parametrize("digit", [None, "", "12", "x", 5, "0" * 1000])
def test_a_keypad_message_that_is_not_one_key_is_a_signalling_error(digit: object) -> None:
    from sentiric_pbx.telephony.webrtc.ingress import SignallingError, parse_dtmf

    with pytest.raises(SignallingError) as err:
        parse_dtmf({"type": "dtmf", "digit": digit})
    assert err.value.reason == "bad_dtmf" and len(err.value.detail) < 40


async def test_a_draining_daemon_refuses_new_browser_calls(echo_daemon: Daemon) -> None:
    ingress = webrtc_of(echo_daemon)
    assert await ingress.drain(0) == 0
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{ingress.port}/phone/ws"):
            pass
    assert refused.value.response.status_code == 503


async def test_a_call_beyond_max_calls_is_refused_as_busy(
    echo_daemon: Daemon, logs: list[dict[str, Any]], tmp_path: Path
) -> None:
    chromium_or_skip()
    ingress = webrtc_of(echo_daemon)
    ingress.cfg.max_calls = 1
    mic = tmp_path / "mic.wav"
    _tone_then_silence(mic)
    async with headless_chromium(mic) as browser:
        page = await _call_from(browser, ingress.port)
        assert await page.evaluate("window.phone.connectedAt !== null")
        async with websockets.connect(f"ws://127.0.0.1:{ingress.port}/phone/ws") as ws:
            await ws.send(_offer("v=0\r\n"))
            assert json.loads(await ws.recv())["error"] == "busy"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert not await page.evaluate("window.phone.ended")
        assert [e["reason"] for e in logs if e["event"] == "webrtc_signalling_error"] == ["busy"]


async def test_stopping_the_ingress_ends_calls_in_progress_and_tells_the_page(
    echo_daemon: Daemon, logs: list[dict[str, Any]], tmp_path: Path
) -> None:
    chromium_or_skip()
    ingress = webrtc_of(echo_daemon)
    mic = tmp_path / "mic.wav"
    _tone_then_silence(mic)
    async with headless_chromium(mic) as browser:
        page = await _call_from(browser, ingress.port)
        assert ingress.calls_active == 1
        await ingress.close()
        await page.wait_for_function("window.phone.ended", timeout=10_000)
        assert await page.evaluate("[window.phone.endedBy, window.phone.reason]") == ["agent", "daemon_shutdown"]
    assert ingress.calls_active == 0
    ended = [(e["by"], e["reason"]) for e in logs if e["event"] == "call_ended"]
    assert ended == [("agent", "daemon_shutdown")]


@pytest.mark.parametrize(("origin", "allowed"), [(None, True), ("SAME", True), ("https://evil.example", False)])
async def test_only_our_own_page_may_open_the_call_socket(
    echo_daemon: Daemon, logs: list[dict[str, Any]], origin: str | None, allowed: bool
) -> None:
    port = webrtc_of(echo_daemon).port
    url = f"ws://127.0.0.1:{port}/phone/ws"
    sent_origin = f"http://127.0.0.1:{port}" if origin == "SAME" else origin
    if allowed:
        async with websockets.connect(url, origin=sent_origin) as ws:
            await ws.send("{}")
            assert json.loads(await ws.recv())["error"] == "not_an_offer"
        return
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, origin=sent_origin):
            pass
    assert refused.value.response.status_code == 403
    assert [e["origin"] for e in logs if e["event"] == "webrtc_cross_origin_refused"] == [origin]


# -- issue 17: who may open the page, and what a page may claim -------------------------------------
WS_UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)


async def raw_request(port: int, path: str, host: str | None, origin: str | None = None) -> str:
    """One HTTP/1.1 request on a plain socket, with exactly the Host and Origin a browser would send → status line.

    (A DNS-rebinding page is served from the attacker's name, re-pointed at 127.0.0.1: the browser connects to
    127.0.0.1 and sends `Host: rebind.evil.example:PORT` and, for a WebSocket, the same name as Origin.)
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"GET {path} HTTP/1.1\r\n"
        head += f"Host: {host}\r\n" if host is not None else ""
        head += f"Origin: {origin}\r\n" if origin is not None else ""
        head += WS_UPGRADE if path == "/phone/ws" else "Connection: close\r\n"
        writer.write((head + "\r\n").encode())
        await writer.drain()
        async with asyncio.timeout(5):
            return (await reader.readline()).decode().strip()
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/phone", "/phone.js", "/phone/ws"])
async def test_a_dns_rebinding_request_gets_403_and_one_log_line(
    echo_daemon: Daemon, logs: list[dict[str, Any]], path: str
) -> None:
    """Origin and Host both `rebind.evil.example`: same-origin as far as the two headers go, and refused."""
    port = webrtc_of(echo_daemon).port
    evil = f"rebind.evil.example:{port}"
    status = await raw_request(port, path, evil, f"http://{evil}")
    assert status.startswith("HTTP/1.1 403 "), status
    refused = [e for e in logs if e["event"] == "webrtc_host_refused"]
    assert [(e["host"], e["path"]) for e in refused] == [(evil, path)]
    assert not [e for e in logs if e["event"] in ("webrtc_signalling_error", "call_started")]
    # Our own page, by any loopback name, still loads and opens its socket.
    ok = "HTTP/1.1 101 " if path == "/phone/ws" else "HTTP/1.1 200 "
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LocalHost.:{port}"):
        status = await raw_request(port, path, name, f"http://{name}")
        assert status.startswith(ok), (name, status)
    assert len([e for e in logs if e["event"] == "webrtc_host_refused"]) == 1


async def test_a_name_in_allowed_hosts_is_served_and_no_host_is_not(
    webrtc_settings: Settings, logs: list[dict[str, Any]]
) -> None:
    webrtc_settings.webrtc.allowed_hosts = ["pbx.example.lan"]
    d = Daemon(webrtc_settings)
    await d.start()
    try:
        port = webrtc_of(d).port
        assert (await raw_request(port, "/phone", f"PBX.example.lan:{port}")).startswith("HTTP/1.1 200 ")
        lan = f"pbx.example.lan:{port}"
        assert (await raw_request(port, "/phone/ws", lan, f"https://{lan}")).startswith("HTTP/1.1 101 ")
        assert (await raw_request(port, "/phone", f"other.example.lan:{port}")).startswith("HTTP/1.1 403 ")
        assert (await raw_request(port, "/phone", None)).startswith(("HTTP/1.1 403 ", "HTTP/1.1 400 "))
    finally:
        await d.stop()
    refused = [e["host"] for e in logs if e["event"] == "webrtc_host_refused"]
    assert refused[:1] == [f"other.example.lan:{port}"]


async def _offer_that_never_connects() -> tuple[Any, str]:
    """A real offer with audio from aiortc, host candidates on 127.0.0.1 only; we never apply the answer, so
    the daemon's side stays in ICE `checking` until its connect timeout (a page stuck negotiating)."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    with ice_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_calls_still_negotiating_count_against_max_calls(echo_daemon: Daemon, logs: list[dict[str, Any]]) -> None:
    ingress = webrtc_of(echo_daemon)
    ingress.cfg.max_calls = 1
    url = f"ws://127.0.0.1:{ingress.port}/phone/ws"
    pc, sdp = await _offer_that_never_connects()
    try:
        async with websockets.connect(url) as first:
            await first.send(_offer(sdp))
            assert json.loads(await first.recv())["type"] == "answer"  # negotiating from here on
            async with websockets.connect(url) as second:
                await second.send(_offer(sdp))
                assert json.loads(await second.recv())["error"] == "busy"
        # The first page went away before connecting: its slot is free again.
        async with asyncio.timeout(5):
            while ingress._calls:
                await asyncio.sleep(0.05)
        async with websockets.connect(url) as third:
            await third.send(_offer(sdp))
            assert json.loads(await third.recv())["type"] == "answer"
    finally:
        await pc.close()
    assert [e["reason"] for e in logs if e["event"] == "webrtc_signalling_error"] == ["busy"]
    assert ingress.calls_active == 0  # none of them ever reached the agent


async def _aiortc_call(port: int, caller: str) -> str:
    """A whole browser call from aiortc instead of Chromium (the page's messages, byte for byte): offer with
    audio and `caller`, apply the answer, wait for ICE + DTLS on 127.0.0.1, hang up → the call's id."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(AudioStreamTrack())  # silence, as a muted microphone sends
    try:
        with ice_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        async with websockets.connect(f"ws://127.0.0.1:{port}/phone/ws", origin=f"http://127.0.0.1:{port}") as ws:
            await ws.send(_offer(pc.localDescription.sdp, caller=caller))
            answer = json.loads(await ws.recv())
            assert answer["type"] == "answer", answer
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            async with asyncio.timeout(15):
                while json.loads(await ws.recv())["type"] != "connected":
                    pass
            await ws.send(json.dumps({"type": "hangup"}))
            return str(answer["call_id"])
    finally:
        await pc.close()


@pytest.mark.parametrize(("page_caller_id", "expected"), [(None, None), (True, "+905551112233")])
async def test_a_page_claims_a_caller_id_only_where_the_admin_allows_it(
    webrtc_settings: Settings, logs: list[dict[str, Any]], page_caller_id: bool | None, expected: str | None
) -> None:
    """The issue's probe, on real sockets: a page sends the CRM's known number. By default the call is
    anonymous (nothing to greet by name); with `page_caller_id = true` the number is taken."""
    if page_caller_id is not None:
        webrtc_settings.webrtc.page_caller_id = page_caller_id
    d = Daemon(webrtc_settings)
    await d.start()
    try:
        call_id = await _aiortc_call(webrtc_of(d).port, "+905551112233")
        started = next(e for e in logs if e["event"] == "call_started")
    finally:
        await d.stop()
    assert started["call_id"] == call_id and started["ingress"] == "webrtc"
    assert started["caller_id"] == expected

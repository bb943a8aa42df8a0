"""The Twilio Media Streams ingress against a fake Twilio on real loopback sockets.

The fake (`tests/twilio_peer.py`) speaks Twilio's documented webhook, TwiML and WebSocket messages
and signs with Twilio's own `RequestValidator`. The daemon is real: the echo agent for the protocol
tests, the assistant on the bundled models for the seed's booking call and a barge-in. Each bad peer
runs next to a good call, which must not notice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from sentiric_pbx.audio.frames import rms_dbfs
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.doctor import check_twilio
from sentiric_pbx.telephony.registry import CallRegistry
from sentiric_pbx.telephony.twilio import ingress as twilio_ingress
from sentiric_pbx.telephony.twilio.ingress import TwilioIngress
from sentiric_pbx.telephony.twilio.protocol import compute_signature, connect_stream_twiml, signature_valid
from sentiric_pbx.tools.demo import run_demo
from tests.asterisk_peer import demo_turn, eventually, first_word, log_lines, wait_log
from tests.twilio_peer import TwilioDialer, TwilioPeer, parse_twiml

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "12345678901234567890123456789012"  # an Auth Token's shape: 32 hex-ish characters
PUBLIC = "https://pbx.example.test"
Logs = list[dict[str, object]]


def with_twilio(s: Settings) -> Settings:
    s.twilio.enabled = True
    s.twilio.port = 0
    s.twilio.public_url = PUBLIC
    s.twilio.auth_token = SecretStr(TOKEN)
    return s


@pytest.fixture
def echo_settings() -> Settings:
    s = Settings()
    s.agent.mode = "echo"
    s.audiosocket.port = 0
    s.fastagi.port = 0
    s.metrics.enabled = False
    s.vad.end_of_turn_silence_ms = 100
    return with_twilio(s)


@pytest_asyncio.fixture(loop_scope="module")
async def echo(echo_settings: Settings) -> AsyncIterator[Daemon]:
    d = Daemon(echo_settings)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def port_of(daemon: Daemon) -> int:
    return daemon.ingresses["twilio"].port  # type: ignore[attr-defined]


async def placed(daemon: Daemon) -> TwilioPeer:
    peer = TwilioPeer(port_of(daemon), TOKEN, PUBLIC)
    await peer.place()
    return peer


def voiced_frames(peer: TwilioPeer) -> int:
    return sum(1 for _t, _pcm, v in peer.wire.received if v)


async def echoed(peer: TwilioPeer, pcm8k: bytes, within_s: float = 10.0) -> None:
    """Say `pcm8k` and wait until the echo of it has been played to the caller."""
    before = voiced_frames(peer)
    for i in range(0, len(pcm8k), 320):
        peer.wire.outbox.put_nowait(pcm8k[i : i + 320].ljust(320, b"\0"))
    await eventually(lambda: voiced_frames(peer) >= before + 10, "the echo played", within_s)


# -- signatures -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("https://pbx.example.test/twilio/voice", {"CallSid": "CA1", "From": "+905551112233", "To": "+1500"}),
        ("https://pbx.example.test/prefix/twilio/voice?x=1&y=ü", {"Digits": "1234#", "Caller": "client:anna"}),
        ("wss://pbx.example.test/twilio/stream/CA0123", {}),
    ],
)
async def test_our_signature_is_twilios_signature(url: str, params: dict[str, str]) -> None:
    theirs = RequestValidator(TOKEN).compute_signature(url, params)
    assert compute_signature(TOKEN, url, params.items()) == theirs
    assert signature_valid(TOKEN, url, params.items(), theirs)
    assert not signature_valid("another-token", url, params.items(), theirs)
    assert not signature_valid(TOKEN, url, [*params.items(), ("Extra", "1")], theirs)


@pytest.mark.parametrize(
    ("signed_url", "our_url"),
    [
        ("https://pbx.example.test:443/twilio/voice", "https://pbx.example.test/twilio/voice"),
        ("https://pbx.example.test/twilio/voice", "https://pbx.example.test:443/twilio/voice"),
        ("https://pbx.example.test/twilio/voice", "https://pbx.example.test/twilio/voice2"),
        ("https://pbx.example.test/twilio/voice", "http://pbx.example.test/twilio/voice"),
    ],
)
async def test_port_forms_are_judged_as_twilios_validator_judges_them(signed_url: str, our_url: str) -> None:
    """Twilio's signers differ on an explicit `:443`; its validator accepts both forms, and so do we."""
    signature = RequestValidator(TOKEN).compute_signature(signed_url, {"A": "1"})
    theirs = RequestValidator(TOKEN).validate(our_url, {"A": "1"}, signature)
    assert signature_valid(TOKEN, our_url, [("A", "1")], signature) == theirs


# -- the webhook ----------------------------------------------------------------------------------
async def test_webhook_connects_a_stream_that_carries_the_call_sid_and_caller_id(echo: Daemon) -> None:
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC)
    try:
        twiml = await peer.ring()
    finally:
        await peer.close()
    assert twiml.stream_url == f"wss://pbx.example.test/twilio/stream/{peer.call_sid}"
    assert twiml.parameters == {"callSid": peer.call_sid, "from": "+905551112233", "to": "+15005550006"}
    assert [(v.tag, v.text) for v in twiml.after] == [("Redirect", "https://pbx.example.test/twilio/after")]


async def test_a_get_webhook_is_signed_over_its_query_string(echo: Daemon) -> None:
    """A TwiML App may use HTTP GET: the parameters are in the URL, and the signature covers the URL alone."""
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC)
    query = urlencode(peer.webhook_params())
    public = f"{PUBLIC}/twilio/voice?{query}"
    async with aiohttp.ClientSession() as http:
        async with http.get(peer.local(public), headers=peer.sign(public, {})) as resp:
            assert resp.status == 200
            twiml = parse_twiml(await resp.text())
        async with http.get(peer.local(public)) as unsigned:
            assert unsigned.status == 403
    assert twiml.parameters["from"] == "+905551112233"


async def test_unsigned_and_forged_requests_get_403_and_one_log_line_each(echo: Daemon, logs: Logs) -> None:
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC)
    peer.http = aiohttp.ClientSession()
    voice = f"{PUBLIC}/twilio/voice"
    forged = RequestValidator("not-the-token").compute_signature(voice, peer.webhook_params())
    other_url = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/elsewhere", peer.webhook_params())
    try:
        assert (await peer.post(voice, peer.webhook_params(), headers={}))[0] == 403
        assert (await peer.post(voice, peer.webhook_params(), headers={"X-Twilio-Signature": forged}))[0] == 403
        assert (await peer.post(voice, peer.webhook_params(), headers={"X-Twilio-Signature": other_url}))[0] == 403
        tampered = peer.webhook_params() | {"From": "+15550001111"}  # signed for one caller, claims another
        signed = peer.sign(voice, peer.webhook_params())
        assert (await peer.post(voice, tampered, headers=signed))[0] == 403
        await peer.ring()  # the genuine request still works
        # The stream: unsigned, and signed for another call's stream URL.
        with pytest.raises(aiohttp.WSServerHandshakeError) as unsigned:
            await peer.open_stream(headers={})
        assert unsigned.value.status == 403
        other_call = peer.sign(f"wss://pbx.example.test/twilio/stream/CA{'9' * 32}", {})
        with pytest.raises(aiohttp.WSServerHandshakeError) as replayed:
            await peer.open_stream(headers=other_call)
        assert replayed.value.status == 403
    finally:
        await peer.close()
    rejected = log_lines(logs, "twilio_request_rejected")
    webhook, stream = ["unsigned", "bad_signature", "bad_signature", "bad_signature"], ["unsigned", "bad_signature"]
    assert [r["reason"] for r in rejected] == [*webhook, *stream]
    assert not log_lines(logs, "call_started")
    assert TOKEN not in json.dumps(logs, default=str)


# -- replay: a captured stream upgrade (issue 17) -----------------------------------------------------
async def replay(peer: TwilioPeer, caller: str) -> TwilioPeer:
    """Someone who captured `peer`'s signed stream upgrade (URL + X-Twilio-Signature) plays it again, and
    claims `caller` in the `start` message's customParameters, which nothing signs."""
    assert peer.twiml is not None
    thief = TwilioPeer(peer.port, TOKEN, PUBLIC, call_sid=peer.call_sid, caller=caller)
    thief.http = aiohttp.ClientSession()
    thief.twiml = dataclasses.replace(peer.twiml, parameters=peer.twiml.parameters | {"from": caller})
    await thief.open_stream(headers=peer.sign(peer.twiml.stream_url, {}))  # the captured headers, byte for byte
    return thief


async def test_a_replayed_stream_upgrade_is_refused_after_the_call(echo: Daemon, logs: Logs) -> None:
    peer = await placed(echo)
    thief: TwilioPeer | None = None
    try:
        await wait_log(logs, "call_started", call_id=peer.call_sid)
        await peer.hang_up()
        await wait_log(logs, "call_ended", call_id=peer.call_sid)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            thief = await replay(peer, caller="+905551112233")
            await thief.start()  # (before: accepted, and greeted as the CRM's Mr. Yilmaz)
        assert refused.value.status == 403
    finally:
        await peer.close()
        if thief is not None:
            await thief.close()
    rejected = log_lines(logs, "twilio_request_rejected")
    assert [(r["reason"], r["path"]) for r in rejected] == [("stream_not_routed", f"/twilio/stream/{peer.call_sid}")]
    assert len(log_lines(logs, "call_started")) == 1


async def test_a_second_stream_for_a_call_in_progress_is_refused(echo: Daemon, logs: Logs) -> None:
    peer = await placed(echo)
    try:
        await wait_log(logs, "call_started", call_id=peer.call_sid)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await replay(peer, caller="+15550009999")
        assert refused.value.status == 403
        await echoed(peer, first_word(8000))  # the real call goes on
    finally:
        await peer.hang_up()
        await peer.close()
    assert [r["reason"] for r in log_lines(logs, "twilio_request_rejected")] == ["stream_not_routed"]


async def test_a_stream_whose_webhook_this_daemon_never_answered_is_refused(echo: Daemon, logs: Logs) -> None:
    """Signed for its own URL, but no webhook routed it here (a restart between the two, or a recording):
    the unsigned customParameters are all it could say about the caller, so it is not taken."""
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC)
    peer.http = aiohttp.ClientSession()
    peer.twiml = parse_twiml(
        connect_stream_twiml(
            f"wss://pbx.example.test/twilio/stream/{peer.call_sid}",
            {"callSid": peer.call_sid, "from": "+905551112233"},
            f"{PUBLIC}/twilio/after",
        )
    )
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await peer.open_stream()
        assert refused.value.status == 403
    finally:
        await peer.close()
    assert [r["reason"] for r in log_lines(logs, "twilio_request_rejected")] == ["stream_not_routed"]
    assert not log_lines(logs, "call_started")


async def test_a_route_not_followed_in_time_expires(echo: Daemon, logs: Logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twilio_ingress, "TRANSFER_TTL_S", 0.2)
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC)
    try:
        await peer.ring()
        await asyncio.sleep(0.3)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await peer.open_stream()
        assert refused.value.status == 403
    finally:
        await peer.close()
    assert [r["reason"] for r in log_lines(logs, "twilio_request_rejected")] == ["stream_not_routed"]


async def test_the_caller_id_is_the_signed_webhooks_not_the_streams(echo: Daemon, logs: Logs) -> None:
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC, caller="+15550001111")
    try:
        await peer.ring()
        assert peer.twiml is not None
        peer.twiml = dataclasses.replace(peer.twiml, parameters=peer.twiml.parameters | {"from": "+905551112233"})
        await peer.open_stream()
        await peer.start()  # customParameters claim the CRM's known caller
        started = await wait_log(logs, "call_started", call_id=peer.call_sid)
    finally:
        await peer.hang_up()
        await peer.close()
    assert started["caller_id"] == "+15550001111"


# -- a call -----------------------------------------------------------------------------------------
async def test_a_twilio_call_is_heard_answered_marked_and_hung_up(echo: Daemon, logs: Logs) -> None:
    peer = await placed(echo)
    try:
        started = await wait_log(logs, "call_started", call_id=peer.call_sid)
        assert started["ingress"] == "twilio" and started["caller_id"] == "+905551112233"
        await echoed(peer, first_word(8000))
        # The echo came as 20 ms μ-law `media` for this stream, then a `mark` we echoed once it had played.
        media = peer.events("media")
        assert media and {len(m["media"]["payload"]) for m in media} == {216}  # base64 of 160 bytes
        assert not peer.misaddressed
        await eventually(lambda: peer.marks_echoed, "a mark after the echo")
        assert peer.marks_echoed == [m["mark"]["name"] for m in peer.events("mark")]
        await peer.dtmf("5")
        await wait_log(logs, "dtmf_received", call_id=peer.call_sid, digit_chars=1)  # not the digit itself
        await peer.hang_up()
        ended = await wait_log(logs, "call_ended", call_id=peer.call_sid)
    finally:
        await peer.close()
    assert (ended["by"], ended["reason"]) == ("caller", "stop")
    assert ended["marks_played"] == len(peer.marks_echoed) >= 1
    assert not log_lines(logs, "twilio_protocol_error")


async def test_without_a_public_url_the_url_we_see_is_the_one_signed(echo_settings: Settings, logs: Logs) -> None:
    """A lab without a TLS proxy: Twilio (here, ngrok-less) calls the listener's own http/ws URL."""
    echo_settings.twilio.public_url = None
    d = Daemon(echo_settings)
    await d.start()
    peer = TwilioPeer(port_of(d), TOKEN, f"http://127.0.0.1:{port_of(d)}")
    try:
        await peer.place()
        assert peer.twiml is not None and peer.twiml.stream_url.startswith(f"ws://127.0.0.1:{port_of(d)}/")
        await echoed(peer, first_word(8000))
    finally:
        await peer.hang_up()
        await peer.close()
        await d.stop()
    assert not log_lines(logs, "twilio_request_rejected")


BAD_STREAMS = {
    "not JSON": ("after_start", "this is not json", "bad_json"),
    "a binary frame": ("after_start", b"\x00\x01\x02", "binary_frame"),
    "JSON without an event": ("after_start", '{"streamSid": "MZ1"}', "bad_message"),
    "media that is not base64": (
        "after_start",
        '{"event": "media", "media": {"payload": "###"}, "streamSid": "S"}',
        "bad_base64",
    ),
    "a DTMF message with a word": ("after_start", '{"event": "dtmf", "dtmf": {"digit": "drop table"}}', "bad_dtmf"),
    "a second start": ("after_start", "START", "duplicate_start"),
    "an oversized message": ("after_start", "x" * 70_000, "oversized_message"),
    "media before start": ("instead_of_start", '{"event": "media", "media": {"payload": "AAAA"}}', "before_start"),
    "linear PCM instead of μ-law": ("instead_of_start", "L16", "unsupported_media_format"),
    "a start for another call": ("instead_of_start", "OTHER", "call_sid_mismatch"),
}


@pytest.mark.parametrize("case", list(BAD_STREAMS), ids=list(BAD_STREAMS))
async def test_a_malformed_stream_ends_only_that_call_with_one_log_line(echo: Daemon, logs: Logs, case: str) -> None:
    when, garbage, reason = BAD_STREAMS[case]
    good = await placed(echo)
    bad = TwilioPeer(port_of(echo), TOKEN, PUBLIC, caller="+15550002222")
    try:
        await bad.ring()
        await bad.open_stream()
        if when == "after_start":
            await bad.start()
            await wait_log(logs, "call_started", call_id=bad.call_sid)
            if garbage == "START":
                await bad.start()
            else:
                await bad.send_raw(garbage)
        else:
            await bad.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            if garbage in ("L16", "OTHER"):
                assert bad.twiml is not None
                start = {
                    "accountSid": "AC1",
                    "streamSid": bad.stream_sid,
                    "callSid": bad.call_sid if garbage == "L16" else "CA" + "7" * 32,
                    "tracks": ["inbound"],
                    "customParameters": bad.twiml.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                }
                if garbage == "L16":
                    start["mediaFormat"] = {"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}
                await bad.send({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": bad.stream_sid})
            else:
                await bad.send_raw(garbage)
        assert bad.ws is not None
        msg = await asyncio.wait_for(bad.ws.receive(), 5)  # the server ends the stream
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        error = await wait_log(logs, "twilio_protocol_error")
        # The good call, on its own stream, goes on: it is still heard and answered.
        await echoed(good, first_word(8000))
    finally:
        await bad.close()
        await good.hang_up()
        await good.close()
    assert error["reason"] == reason
    assert len(log_lines(logs, "twilio_protocol_error")) == 1
    if when == "after_start":
        assert error["call_id"] == bad.call_sid
        ended = await wait_log(logs, "call_ended", call_id=bad.call_sid)
        assert (ended["by"], ended["reason"]) == ("error", reason)
    await wait_log(logs, "call_ended", call_id=good.call_sid)
    assert log_lines(logs, "call_ended", call_id=good.call_sid)[0]["reason"] == "stop"


async def test_a_stream_that_says_nothing_times_out(echo: Daemon, logs: Logs) -> None:
    echo.settings.twilio.start_timeout_s = 0.3
    peer = TwilioPeer(port_of(echo), TOKEN, PUBLIC)
    try:
        await peer.ring()
        await peer.open_stream()
        error = await wait_log(logs, "twilio_protocol_error")
    finally:
        await peer.close()
    assert error["reason"] == "start_timeout"


# -- hangup, transfer, shutdown ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "transfer_to", "next_step"),
    [
        ("+15551230000", None, "<Dial><Number>+15551230000</Number></Dial>"),
        ("sip:reception@pbx.example.test", None, "<Dial><Sip>sip:reception@pbx.example.test</Sip></Dial>"),
        ("PJSIP/reception", "+15559990000", "<Dial><Number>+15559990000</Number></Dial>"),
        ("PJSIP/reception", None, "<Hangup/>"),
    ],
)
async def test_a_transfer_ends_the_stream_and_the_twiml_after_it_dials(
    echo_settings: Settings, logs: Logs, target: str, transfer_to: str | None, next_step: str
) -> None:
    """Without Twilio's REST API: close the stream; `<Redirect>` after `<Connect>` is answered with `<Dial>`."""

    async def transferring_agent(transport: CallTransport) -> None:
        await transport.transfer(target)

    echo_settings.twilio.transfer_to = transfer_to
    ingress = TwilioIngress(echo_settings, transferring_agent, CallRegistry())
    await ingress.start()
    peer = TwilioPeer(ingress.port, TOKEN, PUBLIC)
    try:
        await peer.place()
        await asyncio.wait_for(peer.closed.wait(), 5)
        await eventually(lambda: peer.after_twiml is not None, "the <Redirect> after <Connect>")
        ended = await wait_log(logs, "call_ended", call_id=peer.call_sid)
    finally:
        await peer.close()
        await ingress.close()
    assert next_step in (peer.after_twiml or "")
    assert (ended["by"], ended["reason"]) == ("agent", "transferred")
    assert peer.close_code == 1000
    assert bool(log_lines(logs, "twilio_transfer_not_dialable")) == (next_step == "<Hangup/>")


async def test_stopping_the_daemon_ends_twilio_calls_and_refuses_new_ones(echo_settings: Settings, logs: Logs) -> None:
    echo_settings.daemon.drain_timeout_s = 0.3
    d = Daemon(echo_settings)
    await d.start()
    peer = await placed(d)
    early = TwilioPeer(port_of(d), TOKEN, PUBLIC)
    late = TwilioPeer(port_of(d), TOKEN, PUBLIC)
    late.http = aiohttp.ClientSession()
    try:
        await wait_log(logs, "call_started", call_id=peer.call_sid)
        assert d.calls_active == 1
        await early.ring()  # answered before the drain; its stream connects during it
        await d.drain(0.3)
        status, _ = await late.post(f"{PUBLIC}/twilio/voice", late.webhook_params())
        assert status == 503  # Twilio's fallback URL takes the new call
        await early.open_stream()
        await early.start()
        await wait_log(logs, "call_started", call_id=early.call_sid)
        await d.stop()
        ended = await wait_log(logs, "call_ended", call_id=peer.call_sid)
        await asyncio.wait_for(peer.closed.wait(), 5)
    finally:
        await peer.close()
        await early.close()
        await late.close()
    assert (ended["by"], ended["reason"]) == ("agent", "daemon_shutdown")
    assert log_lines(logs, "call_ended", call_id=early.call_sid)
    assert peer.close_code == 1001


# -- doctor -----------------------------------------------------------------------------------------
async def test_doctor_names_what_would_make_twilios_first_webhook_fail(echo_settings: Settings) -> None:
    good = {c.name: c for c in check_twilio(echo_settings)}
    assert {n: c.status for n, c in good.items()} == {
        "port twilio": "ok",
        "twilio signature": "ok",
        "twilio public url": "ok",
    }
    assert good["twilio public url"].detail == "voice webhook https://pbx.example.test/twilio/voice"
    bare = Settings()
    bare.twilio.enabled = True
    bare.twilio.public_url = "http://pbx.example.test"
    with socket.socket() as busy:  # something else holds the port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        bare.twilio.port = busy.getsockname()[1]
        bad = {c.name: c for c in check_twilio(bare)}
    assert {n: c.status for n, c in bad.items()} == {
        "port twilio": "fail",
        "twilio signature": "fail",
        "twilio public url": "fail",
    }
    assert "SENTIRIC_TWILIO__AUTH_TOKEN" in bad["twilio signature"].hint
    assert TOKEN not in repr(good)


# -- the assistant over Twilio (bundled models) -------------------------------------------------------
def assistant_settings(tmp: Path, models_dir: Path) -> Settings:
    s = Settings()
    s.agent.mode = "assistant"
    s.audiosocket.port = 0
    s.fastagi.port = 0
    s.metrics.enabled = False
    s.models.dir = models_dir
    s.storage.db_path = tmp / "sentiric.db"
    s.storage.archive_dir = tmp / "archive"
    s.dialog.no_input_reprompt_s = 30.0
    return with_twilio(s)


async def test_known_caller_books_an_appointment_over_twilio(engines, models_dir, tmp_path, logs) -> None:
    settings = assistant_settings(tmp_path, models_dir)
    dialer = TwilioDialer()
    result = await run_demo(settings, tmp_path / "caller-side.wav", dial=dialer, engines=engines)
    ctx = result.context
    assert ctx is not None and ctx.call_id == dialer.peer.call_sid  # type: ignore[union-attr]
    agent_lines = [t.text for t in ctx.turns if t.who == "agent"]
    assert "Yilmaz" in agent_lines[0]  # the caller ID came through the TwiML and the stream
    assert result.booking is not None
    booked = dt.datetime.fromisoformat(result.booking["start"])
    hour = booked.hour % 12 or 12
    assert re.search(rf"\b{hour}\b", result.requested)
    assert ctx.status == "completed"
    # What the caller heard names the time: Whisper on the audio the fake Twilio played.
    heard_pcm = b"".join(pcm for _t, pcm, _v in dialer.peer.wire.received)  # type: ignore[union-attr]
    heard = (await engines.stt_for("en").transcribe(resample(heard_pcm, 8000, 16000))).text.lower()
    assert "welcome back" in heard
    spoken_hour = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    assert re.search(rf"(?<![\d\w])({hour}|{spoken_hour[hour % 12]})(?![\d])", heard), heard
    # Goodbye: we closed the stream, and Twilio's <Redirect> after <Connect> was answered with <Hangup/>.
    peer = dialer.peer
    assert peer is not None and result.report.ended_by == "agent_closed"
    assert peer.after_twiml is not None and "<Hangup/>" in peer.after_twiml
    assert peer.marks_echoed and not peer.misaddressed
    assert result.report.greeting_latency_ms is not None


async def test_caller_talking_over_the_agent_gets_a_clear(engines, models_dir, tmp_path, logs) -> None:
    """Barge-in: the agent's playout is flushed and Twilio is told to drop its buffer (`clear`)."""
    d = Daemon(assistant_settings(tmp_path, models_dir), engines=engines)
    await d.start()
    peer = await placed(d)
    try:
        await eventually(lambda: voiced_frames(peer) > 0, "the greeting", 20)
        await eventually(lambda: peer.marks_echoed, "the greeting played", 30)
        question = resample(await engines.tts.synthesize_sentence("Hi, what can you do for me?"), 16000, 8000)  # type: ignore[union-attr]
        before = voiced_frames(peer)
        for i in range(0, len(question), 320):
            peer.wire.outbox.put_nowait(question[i : i + 320].ljust(320, b"\0"))
        await eventually(lambda: voiced_frames(peer) > before + 25, "the long help answer starts", 30)
        # The question itself may already have cut the greeting short (a first clear): wait for a new one.
        clears_before = len(peer.events("clear"))
        barges_before = sum(1 for e in logs if e.get("event") == "barge_in")
        interrupt = demo_turn(8000)
        for i in range(0, len(interrupt), 320):
            peer.wire.outbox.put_nowait(interrupt[i : i + 320])
        await eventually(lambda: len(peer.events("clear")) > clears_before, "a clear", 10)
        await eventually(lambda: sum(1 for e in logs if e.get("event") == "barge_in") > barges_before, "barge_in", 10)
        barge = [e for e in logs if e.get("event") == "barge_in"][-1]
        cleared_at = len(peer.wire.received)
        await asyncio.sleep(0.5)
        # Right after the clear the caller hears silence, not the rest of the answer.
        after = [pcm for _t, pcm, _v in peer.wire.received[cleared_at + 3 : cleared_at + 20]]
        assert after and max(rms_dbfs(p) for p in after) < -40
    finally:
        await peer.hang_up()
        await peer.close()
        await d.stop()
    assert barge["call_id"] == peer.call_sid
    assert all(m["streamSid"] == peer.stream_sid for m in peer.events("clear"))

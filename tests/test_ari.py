"""ARI + externalMedia RTP: a whole Stasis call through the fake ARI, with real RTP over UDP.

The fake (`tests/ari_server.py`) replays what Asterisk 22 did in the captures: the REST answers, the
events, the 422 race, and RTP shaped like `rtp-ulaw.jsonl` carrying `demo-turn.wav` as μ-law. The
echo agent has to hear that speech as 16 kHz frames and send it back as paced RTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import statistics
from collections.abc import AsyncIterator

import numpy as np
import pytest

from sentiric_pbx.audio.frames import rms_dbfs
from sentiric_pbx.audio.g711 import ulaw_decode
from sentiric_pbx.call.transport import CallEvent, CallInfo, CallTransport, Dtmf, Hangup
from sentiric_pbx.config import Settings, VadConfig
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.dialog.echo import EchoAgent
from sentiric_pbx.metrics import MetricsServer
from sentiric_pbx.telephony.ari.app import AriApp
from sentiric_pbx.telephony.ari.rest import AriError, AriRest, parse_transfer_target
from sentiric_pbx.telephony.ari.rtp import (
    CODECS,
    JitterBuffer,
    RtpPacket,
    RtpTransport,
    build_rtp,
    open_endpoint,
    parse_rtp,
)
from sentiric_pbx.telephony.audiosocket.protocol import Kind
from sentiric_pbx.telephony.audiosocket.server import AudioSocketTransport
from tests.ari_server import FakeAri, load_jsonl
from tests.asterisk_peer import eventually, log_lines, wait_log
from tests.test_ami import scrape

PASSWORD = "sentiric-test"


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = FakeAri(password=PASSWORD)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def ari_settings(fake: FakeAri, password: str = PASSWORD) -> Settings:
    s = Settings()
    s.ari.enabled = True
    s.ari.url = fake.url
    s.ari.password = password  # type: ignore[assignment]  # coerced to SecretStr
    s.ari.format = "ulaw"
    s.rtp.port_min, s.rtp.port_max = 42000, 42999
    s.rtp.jitter_buffer_ms = 60
    return s


class RecordingAgent:
    """The echo agent, plus a reader of the call's events (DTMF, hangup) for the test to inspect."""

    def __init__(self, inner: object | None = None) -> None:
        self.inner = inner or EchoAgent(VadConfig(end_of_turn_silence_ms=300))
        self.events: list[CallEvent] = []
        self.transports: list[CallTransport] = []
        self.frames_seen = 0

    async def __call__(self, transport: CallTransport) -> None:
        self.transports.append(transport)

        async def watch() -> None:
            while True:
                event = await transport.next_event()
                self.events.append(event)
                if isinstance(event, Hangup):
                    return

        watcher = asyncio.create_task(watch())
        try:
            await self.inner(transport)  # type: ignore[operator]
        finally:
            await asyncio.wait({watcher}, timeout=1.0)
            watcher.cancel()


@pytest.fixture
async def running(fake: FakeAri) -> AsyncIterator[tuple[AriApp, RecordingAgent]]:
    agent = RecordingAgent()
    app = AriApp(ari_settings(fake), agent)
    await app.start()
    try:
        await asyncio.wait_for(app.connected.wait(), 5)
        yield app, agent
    finally:
        await app.stop()


def voiced_packets(fake: FakeAri) -> list[int]:
    return [i for i, p in enumerate(fake.rtp_in) if rms_dbfs(ulaw_decode(p.payload)) > -40]


def all_log_text(logs: list[dict[str, object]], caplog: pytest.LogCaptureFixture) -> str:
    return repr(logs) + caplog.text


# -- the jitter buffer and the RTP endpoint, alone ----------------------------------------------
def pkt(seq: int, payload: bytes = b"\xff" * 160) -> RtpPacket:
    return RtpPacket(0, seq & 0xFFFF, seq * 160, 1234, False, payload)


def seqs(out: list[RtpPacket | None]) -> list[int | None]:
    return [None if p is None else p.seq for p in out]


def test_jitter_buffer_reorders_drops_and_conceals() -> None:
    jb = JitterBuffer(depth=2)
    assert seqs(jb.push(pkt(10))) == [10]
    assert seqs(jb.push(pkt(12))) == []  # 11 missing: wait
    assert seqs(jb.push(pkt(11))) == [11, 12]  # reordered back
    assert seqs(jb.push(pkt(11))) == []  # duplicate of a played packet
    assert seqs(jb.push(pkt(9))) == []  # late (never played, behind the play point)
    assert (jb.stats.duplicates, jb.stats.late) == (1, 1)
    # 13 is lost: it is concealed once more than `depth` later packets wait behind it.
    assert seqs(jb.push(pkt(14))) == []
    assert seqs(jb.push(pkt(15))) == []
    assert seqs(jb.push(pkt(16))) == [None, 14, 15, 16]
    assert jb.stats.lost == 1
    assert seqs(jb.push(pkt(16))) == []  # duplicate
    assert jb.stats.duplicates == 2
    # Held packets play in order when the sender pauses (drain), the gap concealed.
    assert seqs(jb.push(pkt(18))) == []
    assert seqs(jb.drain()) == [None, 18]


def test_jitter_buffer_sequence_wraps_and_depth_zero() -> None:
    jb = JitterBuffer(depth=0)
    assert seqs(jb.push(pkt(65534))) == [65534]
    assert seqs(jb.push(pkt(0))) == [None, 0]  # 65535 lost across the wrap, concealed at once
    assert seqs(jb.push(pkt(65535))) == []  # arrived too late
    assert jb.stats.late == 1
    assert seqs(jb.push(pkt(5000))) == [5000]  # a jump: a new stream, not 5000 lost packets
    assert jb.stats.resyncs == 1


def test_rtp_packets_match_the_capture() -> None:
    first = load_jsonl("rtp-ulaw.jsonl")[0]
    data = bytes.fromhex(first["hex_header"]) + bytes.fromhex(first["payload_hex"])
    parsed = parse_rtp(data)
    assert parsed is not None
    assert (parsed.pt, parsed.seq, parsed.ts, parsed.ssrc, parsed.marker) == (0, 17274, 160, 163274722, False)
    assert len(parsed.payload) == 160
    assert build_rtp(0, 17274, 160, 163274722, parsed.payload) == data
    # Padding and a header extension are skipped; RTCP and non-v2 are not RTP.
    padded = bytearray(build_rtp(0, 1, 2, 3, b"ab" + bytes([0, 3]), marker=True))
    padded[0] |= 0x20
    assert parse_rtp(bytes(padded)) == RtpPacket(0, 1, 2, 3, True, b"a")
    assert parse_rtp(b"\x80\xc8" + bytes(10)) is None
    assert parse_rtp(b"\x40" + bytes(20)) is None
    assert CODECS["slin16"].new_decoder()(b"\x01\x02") == b"\x02\x01"  # L16 is big-endian on the wire


async def test_rtp_endpoint_latches_and_drops_foreign(logs: list[dict[str, object]]) -> None:
    s = Settings()
    s.rtp.port_min, s.rtp.port_max = 42000, 42999
    s.rtp.jitter_buffer_ms = 0
    ep = await open_endpoint(s.rtp)
    frames: list[bytes] = []
    ep.on_frame = frames.append
    speech = b"\x10" * 160
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as foreign:
            foreign.bind(("127.0.0.2", 0))  # loopback, but not in [rtp] allow
            foreign.sendto(build_rtp(0, 1, 160, 9, speech), ("127.0.0.1", ep.port))
            await eventually(lambda: ep.dropped_foreign == 1, "foreign packet counted")
            assert ep.remote is None and not frames
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as asterisk,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other,
            ):
                asterisk.bind(("127.0.0.1", 0))
                other.bind(("127.0.0.1", 0))
                for i in range(10):
                    asterisk.sendto(build_rtp(0, 100 + i, 160 * (i + 1), 7, speech), ("127.0.0.1", ep.port))
                other.sendto(build_rtp(0, 111, 1760, 7, speech), ("127.0.0.1", ep.port))  # allowed IP, not latched
                await eventually(lambda: ep.packets_in == 10 and ep.dropped_foreign == 2, "latched stream")
                assert ep.remote == asterisk.getsockname()
        await eventually(lambda: len(frames) >= 8, "16 kHz frames")
        assert {len(f) for f in frames} == {640}
        assert log_lines(logs, "rtp_foreign_packet_dropped")
    finally:
        ep.close()


def test_transfer_targets() -> None:
    assert parse_transfer_target("PJSIP/reception") == {"endpoint": "PJSIP/reception"}
    assert parse_transfer_target("ari-continued@fixtures") == {
        "context": "fixtures",
        "extension": "ari-continued",
        "priority": 1,
    }
    assert parse_transfer_target("fixtures,100,2") == {"context": "fixtures", "extension": "100", "priority": 2}


# -- whole calls through the fake ARI -------------------------------------------------------------
async def test_stasis_call_echoes_caller_over_rtp(
    fake: FakeAri,
    running: tuple[AriApp, RecordingAgent],
    logs: list[dict[str, object]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app, agent = running
    assert fake.ws_connects == [{"app": "sentiric", "subscribeAll": "false"}]
    caller = fake.start_call(args=["inbound"], language="tr")
    await eventually(lambda: agent.transports, "agent started")
    transport = agent.transports[0]
    info = transport.info
    assert (info.call_id, info.caller_id, info.caller_name, info.language, info.ingress) == (
        caller,
        "+905551112233",
        "Ahmet Yilmaz",
        "tr",
        "ari",
    )

    # The media channel joined the bridge only after its own StasisStart: no 422 was ever needed.
    media_adds = [r for r in fake.requests_to("POST", "/addChannel") if r[3]["channel"] != caller]
    assert [r[4] for r in media_adds] == [204]
    em = fake.requests_to("POST", "/channels/externalMedia")[0][3]
    assert (em["encapsulation"], em["transport"], em["format"], em["app"]) == ("rtp", "udp", "ulaw", "sentiric")

    # The caller's 3.4 s of speech comes back after they stop: voiced RTP, paced, in sequence.
    await eventually(lambda: len(voiced_packets(fake)) >= 120, "echo of the caller's turn", within_s=12)
    await asyncio.sleep(0.3)
    voiced = voiced_packets(fake)
    assert 120 <= len(voiced) <= 185
    rtp = fake.rtp_in
    assert {p.pt for p in rtp} == {0} and {len(p.payload) for p in rtp} == {160}
    assert len({p.ssrc for p in rtp}) == 1
    assert all((b.seq - a.seq) & 0xFFFF == 1 for a, b in itertools.pairwise(rtp))
    assert all((b.ts - a.ts) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(rtp))
    gaps = np.diff([p.t for p in rtp[voiced[0] : voiced[-1] + 1]]) * 1000
    assert 19.0 <= statistics.mean(gaps) <= 21.0  # paced by the clock; their spread is bench/media.py's to measure
    first_audio = next(i for i, p in enumerate(rtp) if p.payload != b"\xff" * 160)  # μ-law silence is 0xff
    assert first_audio <= voiced[0]
    assert [i for i, p in enumerate(rtp) if p.marker] == [first_audio]  # one talkspurt, one marker
    assert all(src == rtp[0].src for src in (p.src for p in rtp))
    assert transport.frames_in > 150  # type: ignore[attr-defined]

    # DTMF reaches the transport's events; the caller's StasisEnd ends the call.
    fake.send_dtmf(caller, "1")
    fake.send_dtmf(caller, "#")
    await eventually(lambda: len(agent.events) == 2, "DTMF events")
    assert agent.events == [Dtmf("1"), Dtmf("#")]
    fake.caller_hangup(caller)
    await wait_log(logs, "call_ended", within_s=5)
    assert agent.events[-1] == Hangup("caller", "stasis_end")
    await eventually(lambda: not app.calls, "call removed")
    media_id = media_adds[0][3]["channel"]
    assert fake.requests_to("DELETE", f"/channels/{media_id}")
    assert fake.requests_to("DELETE", "/bridges/" + media_adds[0][2].split("/")[3])
    assert media_id not in fake.channels
    assert PASSWORD not in all_log_text(logs, caplog)
    # The call's inbound RTP was counted on /metrics when it ended.
    scraper = MetricsServer("127.0.0.1", 0).start()
    try:
        received = await scrape(scraper.port, 'sentiric_rtp_packets_total{result="received"}')
        assert received >= transport.endpoint.packets_in > 150  # type: ignore[attr-defined]
        assert await scrape(scraper.port, "sentiric_rtp_loss_ratio_count") >= 1
    finally:
        await asyncio.to_thread(scraper.close)


# -- externalMedia over AudioSocket ---------------------------------------------------------------
async def audiosocket_daemon(fake: FakeAri, agent: object) -> Daemon:
    """A daemon whose ARI app asks for AudioSocket externalMedia on the daemon's own AudioSocket port."""
    s = ari_settings(fake)
    s.ari.media = "audiosocket"
    s.audiosocket.port = 0
    s.fastagi.port = 0
    s.metrics.enabled = False
    daemon = Daemon(s, agent=agent)  # type: ignore[arg-type]
    await daemon.start()
    await asyncio.wait_for(daemon.ari.connected.wait(), 5)
    return daemon


async def test_stasis_call_with_audiosocket_external_media(
    fake: FakeAri, logs: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    agent = RecordingAgent()
    daemon = await audiosocket_daemon(fake, agent)
    try:
        assert daemon.audiosocket is not None
        caller = fake.start_call(language="tr")
        await eventually(lambda: agent.transports, "agent started on the AudioSocket connection")
        em = fake.requests_to("POST", "/channels/externalMedia")[0][3]
        assert (em["encapsulation"], em["transport"], em["format"]) == ("audiosocket", "tcp", "slin16")
        assert em["external_host"] == f"127.0.0.1:{daemon.audiosocket.port}"
        transport = agent.transports[0]
        assert isinstance(transport, AudioSocketTransport)
        info = transport.info
        # Stored under the caller's channel id, as an RTP call is; the UUID (Asterisk's first frame) only
        # names the media connection.
        assert info.call_id == caller
        assert (info.ingress, info.caller_id, info.language, info.extra["audiosocket_uuid"]) == (
            "ari",
            "+905551112233",
            "tr",
            em["data"],
        )
        media = fake.channels[em["channelId"]]
        assert media.json["name"] == f"AudioSocket/127.0.0.1:{daemon.audiosocket.port}-{em['data']}"

        # The caller's 16 kHz speech reaches the echo agent and comes back as 0x12 frames.
        def echoed() -> list[int]:
            return [
                i for i, f in enumerate(media.audiosocket_in) if f.kind == Kind.SLIN_16K and rms_dbfs(f.payload) > -40
            ]

        await eventually(lambda: len(echoed()) >= 100, "the echo over AudioSocket", within_s=15)
        assert {len(f.payload) for f in media.audiosocket_in if f.kind == Kind.SLIN_16K} == {640}

        # DTMF comes once, from ARI, although the AudioSocket connection carries it as 0x03 too.
        fake.send_dtmf(caller, "1")
        await eventually(lambda: Dtmf("1") in agent.events, "DTMF")
        await asyncio.sleep(0.2)
        assert agent.events == [Dtmf("1")]

        fake.caller_hangup(caller)
        await eventually(lambda: Hangup("caller", "stasis_end") in agent.events, "hangup reached the agent")
        await eventually(lambda: not daemon.ari.calls and daemon.audiosocket.calls_active == 0, "call over")
        assert fake.requests_to("DELETE", f"/channels/{em['channelId']}")
        assert not any(f.kind == Kind.HANGUP for f in media.audiosocket_in)  # ARI ended it, not a 0x00
        assert log_lines(logs, "call_ended", ingress="ari", media="audiosocket", by="caller")
        assert PASSWORD not in all_log_text(logs, caplog)
    finally:
        await daemon.stop()


async def test_audiosocket_external_media_transfer_and_hangup_go_through_ari(
    fake: FakeAri, logs: list[dict[str, object]]
) -> None:
    async def transferring(transport: CallTransport) -> None:
        await transport.transfer("ari-continued@fixtures")

    async def hanging_up(transport: CallTransport) -> None:
        await transport.hangup()

    for agent, reason in ((transferring, "transferred"), (hanging_up, "agent_hangup")):
        daemon = await audiosocket_daemon(fake, agent)
        try:
            caller = fake.start_call()
            await eventually(lambda d=daemon: log_lines(logs, "call_ended", ingress="ari"), "call over")  # type: ignore[misc]
            # The media channel and bridge are deleted after call_ended; the call leaves ari.calls once they are.
            await eventually(lambda d=daemon: not d.ari.calls and d.audiosocket.calls_active == 0, "call over")  # type: ignore[misc]
            if reason == "transferred":
                req = fake.requests_to("POST", f"/channels/{caller}/continue")[0]
                assert req[3] == {"context": "fixtures", "extension": "ari-continued", "priority": "1"}
            else:
                assert [r[4] for r in fake.requests_to("DELETE", f"/channels/{caller}")] == [204]
            assert log_lines(logs, "call_ended", ingress="ari", by="agent", reason=reason)
            media = next(c for c in fake.requests_to("POST", "/channels/externalMedia"))[3]["channelId"]
            assert fake.requests_to("DELETE", f"/channels/{media}")
            logs.clear()
            fake.requests.clear()
        finally:
            await daemon.stop()


async def test_audiosocket_external_media_needs_data() -> None:
    """Fidelity of the fake (fact 10): Asterisk refuses AudioSocket externalMedia without `data`."""
    fake = FakeAri(password=PASSWORD)
    await fake.start()
    rest = AriRest(Settings(ari={"url": fake.url, "password": PASSWORD}).ari)  # type: ignore[arg-type]
    try:
        with pytest.raises(AriError) as exc:
            await rest.call(
                "POST",
                "/channels/externalMedia",
                app="sentiric",
                external_host="127.0.0.1:9",
                format="slin16",
                encapsulation="audiosocket",
                transport="tcp",
            )
        assert (exc.value.status, exc.value.message) == (400, "data can not be empty")
    finally:
        await rest.aclose()
        await fake.stop()


async def test_add_channel_422_race_is_retried(
    fake: FakeAri, running: tuple[AriApp, RecordingAgent], logs: list[dict[str, object]]
) -> None:
    app, agent = running
    # Fidelity: the fake refuses an addChannel before the media channel's StasisStart, like Asterisk.
    fake.media_stasis_delay_s = 0.3
    rest = AriRest(app.cfg)
    try:
        bridge = await rest.call("POST", "/bridges", type="mixing")
        early = await rest.call(
            "POST", "/channels/externalMedia", app="sentiric", external_host="127.0.0.1:9", format="ulaw"
        )
        with pytest.raises(AriError) as exc:
            await rest.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=early["id"])
        assert (exc.value.status, exc.value.message) == (422, "Channel not in Stasis application")
        await rest.call("DELETE", f"/channels/{early['id']}")
        await rest.call("DELETE", f"/bridges/{bridge['id']}")
    finally:
        await rest.aclose()

    # Our client waits for StasisStart, and still retries the 422 Asterisk sometimes gives after it.
    fake.reject_adds_after_stasis = 2
    caller = fake.start_call()
    await eventually(lambda: agent.transports, "call set up despite two 422s")
    media_adds = [r for r in fake.requests_to("POST", "/addChannel") if r[3]["channel"].startswith("sentiric-media")]
    assert [r[4] for r in media_adds] == [422, 422, 204]
    assert len(log_lines(logs, "ari_add_channel_retry")) == 2
    fake.caller_hangup(caller)
    await eventually(lambda: not app.calls, "call ended")


async def test_agent_transfer_and_hangup(fake: FakeAri, logs: list[dict[str, object]]) -> None:
    async def transferring(transport: CallTransport) -> None:
        await transport.transfer("ari-continued@fixtures")

    async def hanging_up(transport: CallTransport) -> None:
        await transport.hangup()

    for agent, check in ((transferring, "/continue"), (hanging_up, "")):
        app = AriApp(ari_settings(fake), agent)
        await app.start()
        try:
            await asyncio.wait_for(app.connected.wait(), 5)
            caller = fake.start_call()
            await eventually(
                lambda app=app: not app.calls and log_lines(logs, "call_ended"),  # type: ignore[misc]
                "call over",
                within_s=5,
            )
            if check:
                req = fake.requests_to("POST", f"/channels/{caller}{check}")[0]
                assert req[3] == {"context": "fixtures", "extension": "ari-continued", "priority": "1"}
                assert log_lines(logs, "call_ended", by="agent", reason="transferred")
            else:
                assert [r[4] for r in fake.requests_to("DELETE", f"/channels/{caller}")] == [204]
                assert log_lines(logs, "call_ended", by="agent", reason="agent_hangup")
            logs.clear()
        finally:
            await app.stop()


async def test_asterisk_restart_reconnects_and_resubscribes(
    logs: list[dict[str, object]], fake: FakeAri, running: tuple[AriApp, RecordingAgent]
) -> None:
    app, _ = running
    scraper = MetricsServer("127.0.0.1", 0).start()
    reconnects = await scrape(scraper.port, 'sentiric_control_reconnects_total{peer="ari"}')
    loop = asyncio.get_running_loop()
    started = loop.time()
    await fake.restart(down_s=1.0)
    await eventually(lambda: app.connections == 2 and app.connected.is_set(), "reconnected", within_s=5)
    assert loop.time() - started < 5
    assert await scrape(scraper.port, 'sentiric_control_reconnects_total{peer="ari"}') == reconnects + 1
    assert await scrape(scraper.port, 'sentiric_control_connected{peer="ari"}') == 1
    await asyncio.to_thread(scraper.close)
    assert fake.ws_connects == [{"app": "sentiric", "subscribeAll": "false"}] * 2
    states = [e["state"] for e in log_lines(logs, "ari_connection_state")]
    assert states == ["connected", "disconnected", "connected"]  # one line per change, not per attempt
    # Asterisk going away is a warning naming where and why, as AMI's `ami_disconnected` is (it was an info
    # line saying only "ConnectionClosedError").
    [lost] = log_lines(logs, "ari_connection_state", state="disconnected")
    assert lost["log_level"] == "warning" and lost["url"] == app.cfg.url, lost
    assert str(lost["reason"]).startswith("closed by Asterisk"), lost
    # And the app works after the restart.
    caller = fake.start_call()
    await eventually(lambda: caller in app.calls and app.calls[caller].transport is not None, "call after restart")
    fake.caller_hangup(caller)
    await eventually(lambda: not app.calls, "call ended")


async def test_wrong_password_is_reported_never_logged(
    fake: FakeAri, logs: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-password-s3cr3t"
    settings = ari_settings(fake, password=secret)
    rest = AriRest(settings.ari)
    try:
        with pytest.raises(AriError) as exc:
            await rest.call("GET", "/asterisk/info")
        assert (exc.value.status, exc.value.message) == (401, "Authentication required")
    finally:
        await rest.aclose()
    app = AriApp(settings, RecordingAgent())
    await app.start()
    try:
        line = await wait_log(logs, "ari_connection_state", state="disconnected")
        assert line["error"] == "http_401" and line["log_level"] == "warning"
        assert line["reason"] == "Asterisk refused the ARI login: check [ari] username/password against ari.conf"
        await asyncio.sleep(0.8)  # a retry or two: still one line
        assert len(log_lines(logs, "ari_connection_state")) == 1
    finally:
        await app.stop()
    assert secret not in all_log_text(logs, caplog)
    assert secret not in repr(settings.ari)


class _NoControl:
    async def hangup(self) -> None:
        return None

    async def transfer(self, target: str) -> None:
        return None


async def test_l16_in_and_out_in_network_byte_order() -> None:
    """slin16: dynamic PT, 640-byte big-endian payloads, ts +320; we answer in kind, paced."""
    s = Settings()
    s.rtp.port_min, s.rtp.port_max = 42000, 42999
    s.rtp.jitter_buffer_ms = 0
    ep = await open_endpoint(s.rtp)
    transport = RtpTransport(ep, "slin16", CallInfo(call_id="t"), _NoControl())
    tone = (np.sin(np.arange(1600) * 2 * np.pi * 440 / 16000) * 8000).astype("<i2").tobytes()  # 100 ms
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        for i in range(5):
            be = np.frombuffer(tone[i * 640 : (i + 1) * 640], dtype="<i2").astype(">i2").tobytes()
            peer.sendto(build_rtp(118, 500 + i, 320 * i, 5, be), ("127.0.0.1", ep.port))
        frames = []
        async with asyncio.timeout(3):
            async for frame in transport.frames():
                frames.append(frame)
                if len(frames) == 5:
                    break
        assert b"".join(frames) == tone  # 16 kHz in, 16 kHz out: bit-exact after the byte swap
        transport.start()
        transport.play(tone)
        end = loop.time() + 3
        while loop.time() < end and sum(parse_rtp(d).payload != bytes(640) for d in got) < 5:  # type: ignore[union-attr]
            with contextlib.suppress(BlockingIOError):
                got.append(peer.recv(2048))
                continue
            await asyncio.sleep(0.005)
        transport.end(Hangup("caller", "test"))
        await transport.close()
    packets = [parse_rtp(d) for d in got]
    assert all(p is not None and p.pt == 118 and len(p.payload) == 640 for p in packets)
    audio = [p for p in packets if p is not None and p.payload != bytes(640)]
    assert b"".join(np.frombuffer(p.payload, dtype=">i2").astype("<i2").tobytes() for p in audio) == tone
    assert audio[0].marker and not any(p.marker for p in audio[1:])
    assert all(
        (b.ts - a.ts) & 0xFFFFFFFF == 320 and (b.seq - a.seq) & 0xFFFF == 1
        for a, b in itertools.pairwise(p for p in packets if p is not None)
    )


async def test_caller_gone_during_setup_and_daemon_stop(fake: FakeAri, logs: list[dict[str, object]]) -> None:
    """A caller hanging up before the media is bridged still gets its bridge and media channel removed;
    a daemon stop mid-call hands the caller back to the dialplan (`/continue`) rather than dropping it."""

    async def forever(transport: CallTransport) -> None:
        async for _ in transport.frames():  # listens until the call ends, never answers
            pass

    app = AriApp(ari_settings(fake), forever)
    await app.start()
    try:
        await asyncio.wait_for(app.connected.wait(), 5)
        fake.media_stasis_delay_s = 0.5
        caller = fake.start_call()
        await eventually(lambda: fake.requests_to("POST", "/channels/externalMedia"), "media requested")
        fake.caller_hangup(caller)
        line = await wait_log(logs, "call_ended")
        assert (line["by"], line["reason"], line["setup_complete"]) == ("caller", "stasis_end", False)
        # the media channel and the bridge go after the call_ended line (`_finish`, then `_clean_up`)
        await eventually(lambda: not fake.bridges, "the bridge removed")
        assert [r[4] for r in fake.requests if r[1] == "DELETE" and "/channels/sentiric-media-" in r[2]] == [204]
        fake.media_stasis_delay_s = 0.03
        second = fake.start_call()
        await eventually(lambda: second in app.calls and app.calls[second].transport is not None, "second call up")
    finally:
        await app.stop()
    assert fake.requests_to("POST", f"/channels/{second}/continue")
    assert log_lines(logs, "call_ended", by="agent", reason="shutdown")


# -- outbound RTP does not wait for inbound -----------------------------------------------------------
class _Greeter:
    """Says something the moment the call starts, as the assistant's greeting does, then listens."""

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm
        self.transports: list[CallTransport] = []

    async def __call__(self, transport: CallTransport) -> None:
        self.transports.append(transport)
        transport.play(self.pcm)
        async for _ in transport.frames():
            pass


def tone(rate: int, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


async def test_rtp_greeting_reaches_a_quiet_caller(fake: FakeAri, logs: list[dict[str, object]]) -> None:
    """Caller quiet → a two-party bridge sends us no RTP (fact 8): the greeting still goes out, to the address
    the externalMedia answer gave, from the first tick. (It waited for Asterisk's first packet before.)"""
    fake.rtp_quiet = True
    agent = _Greeter(tone(16000, 1.0))
    app = AriApp(ari_settings(fake), agent)
    await app.start()
    try:
        await asyncio.wait_for(app.connected.wait(), 5)
        caller = fake.start_call()
        await eventually(lambda: agent.transports, "agent started")
        started = asyncio.get_running_loop().time()
        await eventually(lambda: len(voiced_packets(fake)) >= 40, "the greeting over RTP", within_s=3)
        media_id = next(r for r in fake.requests_to("POST", "/channels/externalMedia"))[3]["channelId"]
        assert fake.rtp_out_count == 0, "the fake sent nothing: there was nothing to latch on"
        assert fake.rtp_in[voiced_packets(fake)[0]].t - started < 0.2
        assert {p.pt for p in fake.rtp_in} == {0}
        assert log_lines(logs, "ari_media_created", media_channel=media_id)[0]["asterisk_rtp"] == (
            f"127.0.0.1:{fake.channels[media_id].local_port}"
        )
        fake.caller_hangup(caller)
        await eventually(lambda: not app.calls, "call ended")
    finally:
        await app.stop()


async def test_rtp_target_outside_allow_is_refused_with_one_line(logs: list[dict[str, object]]) -> None:
    s = Settings()
    s.rtp.port_min, s.rtp.port_max = 42000, 42999
    ep = await open_endpoint(s.rtp)
    try:
        assert ep.send_to(("127.0.0.1", 4000)) and ep.remote == ("127.0.0.1", 4000)
        assert not ep.send_to(("192.0.2.7", 4000)) and ep.remote == ("127.0.0.1", 4000)
        [line] = log_lines(logs, "rtp_target_not_allowed")
        assert line["remote"] == "192.0.2.7:4000" and "[rtp] allow" in str(line["fix"])
    finally:
        ep.close()


# -- G.722 -------------------------------------------------------------------------------------------
async def test_g722_in_and_out_with_one_codec_state_per_direction() -> None:
    """G.722: static PT 9, 160-byte payloads, RTP clock 8000 (ts +160 per 20 ms) although it samples at 16 kHz
    (RFC 3551, and what Asterisk sends). Decoding is bit-exact with a reference decoder fed the same packets,
    and what we send is bit-exact with a reference encoder fed every frame we sent, silence included: the
    ADPCM state on both sides stays in step."""
    import array

    import G722

    s = Settings()
    s.rtp.port_min, s.rtp.port_max = 42000, 42999
    s.rtp.jitter_buffer_ms = 0
    ep = await open_endpoint(s.rtp)
    transport = RtpTransport(ep, "g722", CallInfo(call_id="t"), _NoControl())
    speech = tone(16000, 0.2)
    enc, ref_dec = G722.G722(16000, 64000), G722.G722(16000, 64000)
    payloads = [enc.encode(array.array("h", speech[i : i + 640])) for i in range(0, len(speech), 640)]
    assert {len(p) for p in payloads} == {160}
    expected_in = b"".join(ref_dec.decode(p).tobytes() for p in payloads)
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        for i, payload in enumerate(payloads):
            peer.sendto(build_rtp(9, 700 + i, 160 + 160 * i, 5, payload), ("127.0.0.1", ep.port))
        frames = []
        async with asyncio.timeout(3):
            async for frame in transport.frames():
                frames.append(frame)
                if len(frames) == len(payloads):
                    break
        assert b"".join(frames) == expected_in
        transport.start()
        await asyncio.sleep(0.1)  # a few silent packets first: they go through the encoder too
        transport.play(speech)
        end = loop.time() + 3
        while loop.time() < end and len(got) < 30:
            with contextlib.suppress(BlockingIOError):
                got.append(peer.recv(2048))
                continue
            await asyncio.sleep(0.005)
        transport.end(Hangup("caller", "test"))
        await transport.close()
    packets = [p for p in map(parse_rtp, got) if p is not None]
    assert {(p.pt, len(p.payload)) for p in packets} == {(9, 160)}
    assert all(
        (b.ts - a.ts) & 0xFFFFFFFF == 160 and (b.seq - a.seq) & 0xFFFF == 1 for a, b in itertools.pairwise(packets)
    )
    first_audio = next(i for i, p in enumerate(packets) if p.marker)
    pcm_sent = [bytes(640)] * first_audio + [speech[i : i + 640] for i in range(0, len(speech), 640)]
    pcm_sent += [bytes(640)] * (len(packets) - len(pcm_sent))
    ref_enc = G722.G722(16000, 64000)
    assert [p.payload for p in packets] == [ref_enc.encode(array.array("h", pcm)) for pcm in pcm_sent]


# -- chan_websocket -----------------------------------------------------------------------------------
async def websocket_app(fake: FakeAri, agent: object) -> AriApp:
    s = ari_settings(fake)
    s.ari.media = "websocket"
    app = AriApp(s, agent)  # type: ignore[arg-type]
    await app.start()
    await asyncio.wait_for(app.connected.wait(), 5)
    return app


def ws_media(fake: FakeAri) -> str:
    return next(r for r in fake.requests_to("POST", "/channels/externalMedia"))[3]["channelId"]


async def test_stasis_call_over_chan_websocket(
    fake: FakeAri, logs: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = RecordingAgent()
    app = await websocket_app(fake, agent)
    try:
        caller = fake.start_call(language="tr")
        await eventually(lambda: agent.transports, "agent started")
        em = fake.requests_to("POST", "/channels/externalMedia")[0][3]
        assert (em["encapsulation"], em["transport"], em["connection_type"], em["format"]) == (
            "none",
            "websocket",
            "server",
            "slin16",
        )
        media = fake.channels[em["channelId"]]
        assert media.media_ws_request["path"] == f"/media/{media.connection_id}"
        assert media.media_ws_request["subprotocol"] == "media"
        assert media.media_ws_request["authorization"].startswith("Basic ")
        info = agent.transports[0].info
        assert (info.call_id, info.ingress, info.caller_id, info.language) == (caller, "ari", "+905551112233", "tr")
        # The media joined the bridge only after MEDIA_START and its StasisStart.
        assert [r[4] for r in fake.requests_to("POST", "/addChannel") if r[3]["channel"] == em["channelId"]] == [204]

        # The caller's 16 kHz speech reaches the echo agent and comes back as 640-byte binary frames, 20 ms apart.
        def echoed() -> list[tuple[float, bytes]]:
            return [(t, m) for t, m in media.media_ws_in if isinstance(m, bytes) and rms_dbfs(m) > -40]

        await eventually(lambda: len(echoed()) >= 120, "the echo over chan_websocket", within_s=15)
        frames = [(t, m) for t, m in media.media_ws_in if isinstance(m, bytes)]
        assert {len(m) for _t, m in frames} == {640}
        gaps = np.diff([t for t, _m in frames]) * 1000
        assert 19.0 <= statistics.mean(gaps) <= 21.0  # paced; the spread is a timing goal (bench/media.py)
        # The talkspurt began with a silent frame sent together with its first frame: one frame in hand.
        assert frames[0][1] == bytes(640) and gaps[0] < 5
        await eventually(lambda: agent.transports[0].queued_ms == 0, "the echo played out", within_s=10)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)  # the last frame in flight
        sent = len(media.media_ws_in)
        await asyncio.sleep(0.5)
        assert len(media.media_ws_in) == sent, "nothing is sent while we are quiet: Asterisk makes that silence"

        # DTMF comes once, from the media socket's DTMF_END, although ARI reports it too.
        fake.send_dtmf(caller, "1")
        fake.send_dtmf(caller, "#")
        await eventually(lambda: len(agent.events) == 2, "DTMF events")
        await asyncio.sleep(0.2)
        assert agent.events == [Dtmf("1"), Dtmf("#")]

        fake.caller_hangup(caller)
        await eventually(lambda: Hangup("caller", "stasis_end") in agent.events, "hangup reached the agent")
        await eventually(lambda: not app.calls, "call over")
        assert fake.requests_to("DELETE", f"/channels/{em['channelId']}")
        assert log_lines(logs, "call_ended", ingress="ari", media="websocket", by="caller")
        assert not log_lines(logs, "chan_websocket_protocol_error")
        assert PASSWORD not in all_log_text(logs, caplog)
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        ({"text": "HELLO_THERE now:1"}, "unknown_message"),
        ({"binary": bytes(641)}, "odd_length_frame"),
        ({"binary": bytes(70_000)}, "oversized_message"),
        ({"text": "DTMF_END digit:xyz channel_id:1"}, "bad_dtmf"),
    ],
    ids=["unknown-text", "odd-length", "oversized", "bad-dtmf"],
)
async def test_chan_websocket_garbage_ends_only_that_call(
    fake: FakeAri, logs: list[dict[str, object]], garbage: dict[str, object], reason: str
) -> None:
    agent = RecordingAgent()
    app = await websocket_app(fake, agent)
    try:
        bad = fake.start_call()
        await eventually(lambda: len(agent.transports) == 1, "first call up")
        good = fake.start_call()
        await eventually(lambda: len(agent.transports) == 2, "second call up")
        bad_media = agent.transports[0].info.extra["media_channel_id"]
        fake.media_ws_send(bad_media, **garbage)  # type: ignore[arg-type]
        line = await wait_log(logs, "chan_websocket_protocol_error")
        assert line["reason"] == reason and line["call_id"] == bad
        await eventually(lambda: bad not in app.calls, "the bad call ended")
        assert len(log_lines(logs, "chan_websocket_protocol_error")) == 1
        assert log_lines(logs, "call_ended", media="websocket", by="error", reason=reason)
        assert fake.requests_to("DELETE", f"/channels/{bad_media}")
        assert fake.requests_to("POST", f"/channels/{bad}/continue"), "the caller goes back to the dialplan"
        # The other call goes on: its echo keeps coming.
        good_media = fake.channels[agent.transports[1].info.extra["media_channel_id"]]
        await eventually(
            lambda: sum(isinstance(m, bytes) and rms_dbfs(m) > -40 for _t, m in good_media.media_ws_in) >= 50,
            "the other call's echo",
            within_s=15,
        )
        assert good in app.calls and not agent.transports[1].closed  # type: ignore[attr-defined]
    finally:
        await app.stop()


def test_chan_websocket_control_messages_parse() -> None:
    from sentiric_pbx.telephony.ari.chan_websocket import parse_control

    assert parse_control("DTMF_END digit:# channel_id:1795681685.402") == (
        "DTMF_END",
        {"digit": "#", "channel_id": "1795681685.402"},
    )
    assert parse_control(
        "MEDIA_START connection_id:14358ff3 channel:WebSocket/INCOMING/0x7fd40c01b3c0 channel_id:1795681685.402 "
        "format:slin16 optimal_frame_size:640 ptime:20"
    )[1] == {
        "connection_id": "14358ff3",
        "channel": "WebSocket/INCOMING/0x7fd40c01b3c0",
        "channel_id": "1795681685.402",
        "format": "slin16",
        "optimal_frame_size": "640",
        "ptime": "20",
    }
    assert parse_control('{"event":"DTMF_END","channel_id":"1795681694.405","digit":"1"}') == (
        "DTMF_END",
        {"event": "DTMF_END", "channel_id": "1795681694.405", "digit": "1"},
    )
    assert parse_control("ERROR channel_id:1 error_text:Unable to parse JSON command")[1]["error_text"] == (
        "Unable to parse JSON command"
    )
    assert parse_control("MEDIA_XOFF") == ("MEDIA_XOFF", {})

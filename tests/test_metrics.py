"""`/metrics` and `/healthz` over real HTTP on 127.0.0.1, served by a running daemon."""

from __future__ import annotations

import httpx

from sentiric_pbx import metrics
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from tests.asterisk_peer import AudioSocketPeer, eventually


async def test_healthz_and_metrics_during_a_call(settings: Settings) -> None:
    settings.metrics.enabled = True
    settings.metrics.host = "127.0.0.1"
    settings.metrics.port = 0
    daemon = Daemon(settings)
    await daemon.start()
    assert daemon.audiosocket is not None and daemon.metrics_port
    base = f"http://127.0.0.1:{daemon.metrics_port}"
    metrics.REPLY_LATENCY_MS.observe(420)
    metrics.CALLS_BY_OUTCOME.labels(outcome="completed").inc()
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            idle = (await http.get("/healthz")).json()
            assert idle["status"] == "ok" and idle["active_calls"] == 0 and idle["agent"] == "echo"
            assert idle["uptime_s"] >= 0 and idle["engines"] == {}  # echo mode loads no model

            peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
            peer.send_uuid()
            peer.talk(b"")
            await eventually(lambda: daemon.audiosocket.calls_active == 1, "the call is active")  # type: ignore[union-attr]
            busy = await http.get("/healthz")
            assert busy.status_code == 200 and busy.headers["content-type"] == "application/json"
            assert busy.json()["active_calls"] == 1

            scrape = await http.get("/metrics")
            assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
            text = scrape.text
            assert 'sentiric_calls_active{ingress="audiosocket"} 1.0' in text
            for stage in ("stt_ms", "nlu_ms", "task_ms", "tts_first_audio_ms", "reply_latency_ms"):
                assert f"# TYPE sentiric_{stage} histogram" in text
            assert 'sentiric_reply_latency_ms_bucket{le="500.0"}' in text
            assert 'sentiric_calls_by_outcome_total{outcome="completed"}' in text
            # The call's playout clock has been ticking: its lateness (the outbound jitter) is on the scrape.
            ticks = [ln for ln in text.splitlines() if ln.startswith("sentiric_playout_lateness_ms_count")]
            assert ticks and float(ticks[0].split()[-1]) > 0
            assert "# TYPE sentiric_playout_underruns_total counter" in text

            daemon.draining = True  # what SIGTERM sets: a load balancer's probe must see it
            draining = await http.get("/healthz")
            assert draining.status_code == 503 and draining.json()["status"] == "draining"
            assert (await http.get("/nope")).status_code == 404
            await peer.close()
    finally:
        await daemon.stop()
    # stop() frees the port: a restarted daemon (or the next test) can bind it again.
    again = metrics.MetricsServer("127.0.0.1", int(base.rsplit(":", 1)[1])).start()
    again.close()


def test_serve_metrics_keeps_its_signature() -> None:
    port = metrics.serve_metrics("127.0.0.1", 0)
    body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
    assert body == {"status": "ok"}
    assert "sentiric_calls_total" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

"""The web console on real sockets: after a real demo call (bundled models, AudioSocket as Asterisk dials it),
its API and its pages in real headless Chromium — the live view while the call runs, the call list, the call's
page with transcript, playable recording, waveform and per-turn latency chart. And who may look: no token
off loopback, no start; a wrong token, 401 and one log line; every response `no-store`.

One demo call serves the module: `run_demo` with a dialer that watches the console (a raw SSE client and a
Chromium page on `/`) while it dials. After it, a second daemon (echo mode: no models) on the same database
serves the stored call, as `sentiric-pbx run` would after a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import structlog
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.config import ConfigError, Settings, load_config
from sentiric_pbx.console.server import ConsoleServer
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.tools.caller import CallerOptions, CallReport
from sentiric_pbx.tools.demo import DEMO_PHONE, DemoResult, dial_audiosocket, run_demo
from tests.browser import QUIET_FLAGS, chromium_or_skip
from tests.test_assistant_call import assistant_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def console_on(s: Settings, token: str | None = None) -> Settings:
    s.console.token = token  # type: ignore[assignment]
    s.console.enabled = True
    s.console.host = "127.0.0.1"
    s.console.port = 0
    return s


async def launch_chromium(pw: Any) -> Any:
    args = [*QUIET_FLAGS, "--autoplay-policy=no-user-gesture-required"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return await pw.chromium.launch(executable_path=chromium_or_skip(), headless=True, args=args)


class WatchingDialer:
    """Dials the demo call as Asterisk would while an SSE client and Chromium on `/` watch the console."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.page_seen: list[dict[str, Any]] = []
        self.reloaded = True
        self.recent_after: str = ""

    async def __call__(self, daemon: Daemon, turns: list[bytes], opts: CallerOptions) -> CallReport:
        from playwright.async_api import async_playwright

        base = daemon.console.url()
        async with aiohttp.ClientSession() as http, async_playwright() as pw:
            browser = await launch_chromium(pw)
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await page.goto(base)
            await page.wait_for_selector("#no-live")
            await page.evaluate("window.__sameDocument = true")
            sse = asyncio.create_task(self._listen(http, base + "api/live/events"))
            watch = asyncio.create_task(self._watch(page))
            report = await dial_audiosocket(daemon, turns, opts)
            await page.wait_for_selector("#no-live", timeout=20_000)
            await page.wait_for_selector(f'#recent tr[data-call-id="{report.call_id}"]', timeout=20_000)
            self.recent_after = await page.inner_text("#recent")
            self.reloaded = not await page.evaluate("window.__sameDocument === true")
            watch.cancel()
            await asyncio.sleep(1.0)  # the push of "no calls" after the hangup
            sse.cancel()
            await asyncio.gather(sse, watch, return_exceptions=True)
            await browser.close()
        return report

    async def _listen(self, http: aiohttp.ClientSession, url: str) -> None:
        async with http.get(url) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            async for line in response.content:
                if line.startswith(b"data: "):
                    self.events.append(json.loads(line[6:]))

    async def _watch(self, page: Any) -> None:
        while True:
            cards = await page.evaluate(
                "[...document.querySelectorAll('.live-call')].map(c => ({id: c.dataset.callId, "
                "state: c.dataset.state, turns: c.querySelectorAll('.turns li').length, text: c.innerText}))"
            )
            if cards and (not self.page_seen or self.page_seen[-1] != cards[0]):
                self.page_seen.append(cards[0])
                if cards[0]["turns"] >= 3 and not (ARTIFACTS / "console-live.png").exists():
                    ARTIFACTS.mkdir(exist_ok=True)
                    await page.screenshot(path=str(ARTIFACTS / "console-live.png"), full_page=True)
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp: Path, models_dir: Path, engines: EnginePool) -> tuple[DemoResult, WatchingDialer]:
    chromium_or_skip()
    pytest.importorskip("playwright")
    settings = console_on(assistant_settings(tmp, models_dir))
    (ARTIFACTS / "console-live.png").unlink(missing_ok=True)
    dialer = WatchingDialer()
    result = await run_demo(settings, tmp / "caller-side.wav", dial=dialer, engines=engines)
    assert result.context is not None and result.context.status == "completed", result.context
    return result, dialer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(tmp: Path, models_dir: Path, demo: Any) -> AsyncIterator[Daemon]:
    """A daemon restarted on the demo's database: echo mode, console on, no token (loopback)."""
    settings = console_on(assistant_settings(tmp, models_dir))
    settings.agent.mode = "echo"
    daemon = Daemon(settings)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def until(page: Any, expression: str, within_s: float = 20.0) -> Any:
    """Poll `expression` in the page until truthy. Not `wait_for_function`: its predicate runs through eval(),
    which the console's Content-Security-Policy forbids (as it should)."""
    async with asyncio.timeout(within_s):
        while not (value := await page.evaluate(expression)):
            await asyncio.sleep(0.1)
    return value


async def get(url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False, **kw) as r:
        return r.status, dict(r.headers), await r.read()


# -- the live view, during the demo call --------------------------------------------------------------
async def test_the_live_view_follows_the_call_as_it_happens(demo: Any) -> None:
    result, dialer = demo
    call_id = result.report.call_id
    mine = [c for e in dialer.events for c in e["calls"] if c["call_id"] == call_id]
    assert mine, dialer.events
    assert {c["caller_id"] for c in mine} == {DEMO_PHONE}
    assert {c["ingress"] for c in mine} == {"audiosocket"}
    assert {"listening", "speaking"} <= {c["state"] for c in mine}
    assert max(len(c["turns"]) for c in mine) >= 4  # greeting, request, confirmation question, …
    assert any(c["reply_latency_ms"] for c in mine)
    assert dialer.events[-1]["calls"] == []  # pushed again when the call ended
    # The page: a card appeared, changed state and grew turns without a reload, then went.
    seen = dialer.page_seen
    assert seen and {s["id"] for s in seen} == {call_id}
    assert len({s["state"] for s in seen}) >= 2, seen
    assert seen[-1]["turns"] > seen[0]["turns"], seen
    assert not dialer.reloaded
    assert DEMO_PHONE in dialer.recent_after


# -- the API ------------------------------------------------------------------------------------------
async def test_the_call_list_finds_the_call_by_every_filter(console: Daemon, demo: Any) -> None:
    call_id = demo[0].report.call_id
    base = console.console.url()
    today = dt.date.today().isoformat()
    matching = ["", "?caller=5551112233", "?caller=yilmaz", "?status=completed", "?ingress=audiosocket",
                f"?date={today}", "?limit=1&offset=0"]  # fmt: skip
    for query in matching:
        status, headers, body = await get(base + "api/calls" + query)
        assert status == 200 and headers["Cache-Control"] == "no-store"
        data = json.loads(body)
        assert [c["call_id"] for c in data["calls"]] == [call_id], query
        assert data["calls"][0]["turns"] == len(demo[0].context.turns)
    for query in ["?caller=5550000000", "?status=unfinished_call", "?ingress=twilio", "?date=2001-01-01",
                  "?offset=1", "?outcome=nothing"]:  # fmt: skip
        data = json.loads((await get(base + "api/calls" + query))[2])
        assert data["calls"] == [] and (data["total"] == 0 or query == "?offset=1"), query
    assert (await get(base + "api/calls?date=yesterday"))[0] == 400


async def test_a_call_has_its_transcript_latency_split_booking_jobs_and_sentiment(console: Daemon, demo: Any) -> None:
    result = demo[0]
    base = console.console.url()
    status, headers, body = await get(base + f"api/calls/{result.report.call_id}")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    d = json.loads(body)
    assert [t["text"] for t in d["turns"]] == [t.text for t in result.context.turns]
    assert all(isinstance(t["start_s"], float) for t in d["turns"])
    replies = [t for t in result.context.turns if t.who == "agent" and t.latency_ms is not None]
    assert len(d["latency"]) == len(replies) >= 2
    for entry, turn in zip(d["latency"], replies, strict=True):
        assert entry["total_ms"] == turn.latency_ms
        assert entry["split"]["other_ms"] >= 0
        assert entry["split"]["stt_ms"] is not None and entry["split"]["tts_first_audio_ms"] is not None
    assert d["booking"] is not None and dt.datetime.fromtimestamp(d["booking"]["start_ts"]).isoformat()
    assert demo[0].booking["booking_id"] == d["booking"]["booking_id"]
    assert d["timezone"] == Settings().business.timezone
    assert {j["kind"] for j in d["jobs"]} >= {"summary", "archive", "analytics"}
    assert {j["status"] for j in d["jobs"]} == {"done"}
    assert d["analytics"]["caller_sentiment_label"] in ("positive", "neutral", "negative")
    assert d["recording"] is True and d["recording_url"].endswith("/recording.wav")
    assert (await get(base + "api/calls/no-such-call"))[0] == 404


async def test_the_recording_is_served_whole_and_by_range(console: Daemon, demo: Any) -> None:
    base = console.console.url()
    url = base + f"api/calls/{demo[0].report.call_id}/recording.wav"
    status, headers, whole = await get(url)
    assert status == 200 and headers["Content-Type"] == "audio/wav" and headers["Cache-Control"] == "no-store"
    path = ARTIFACTS / "console-recording.wav"
    ARTIFACTS.mkdir(exist_ok=True)
    path.write_bytes(whole)
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > w.getframerate() * 5
    status, headers, part = await get(url, headers={"Range": "bytes=1000-1999"})
    assert status == 206 and part == whole[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(whole)}"


async def test_health_and_live_answer(console: Daemon) -> None:
    base = console.console.url()
    health = json.loads((await get(base + "api/health"))[2])
    assert health["status"] == "ok" and "console" in health["listening"]
    live = json.loads((await get(base + "api/live"))[2])
    assert live == {"active_calls": 0, "draining": False, "calls": []}


async def test_the_overview_counts_the_stored_call_per_hour(console: Daemon, demo: Any) -> None:
    ctx = demo[0].context
    data = json.loads((await get(console.console.url("/api/overview?days=1")))[2])
    [hour] = data["hours"]
    assert hour["calls"] == 1 and hour["by_status"] == {"completed": 1} and hour["busy_rejections"] == 0
    latencies = sorted(ctx.timings["reply_latency_ms"])
    assert hour["latency_p50_ms"] == latencies[(len(latencies) + 1) // 2 - 1]
    assert hour["latency_p95_ms"] == latencies[-1]
    assert hour["engine_p95_ms"]["stt_ms"] == max(ctx.timings["stt_ms"])
    assert data["outcomes"] == {ctx.outcome or "completed": 1}
    assert set(data["process"]) >= {"llm_fallbacks", "barge_ins", "uptime_s"}


# -- the pages, in Chromium ---------------------------------------------------------------------------
async def test_the_call_page_shows_transcript_waveform_player_and_one_bar_per_turn(console: Daemon, demo: Any) -> None:
    from playwright.async_api import async_playwright

    result = demo[0]
    call_id = result.report.call_id
    replies = [t for t in result.context.turns if t.who == "agent" and t.latency_ms is not None]
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(console.console.url("/calls"))
            row = page.locator(f'tr[data-call-id="{call_id}"]')
            await row.wait_for()
            assert DEMO_PHONE in await row.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "console-calls.png"), full_page=True)
            # The filters: unfinished calls only → none; back → the call again.
            await page.select_option("select[name=status]", "unfinished_call")
            await page.click("#filters button[type=submit]")
            await page.get_by_text("No calls match.").wait_for()
            assert page.url.endswith("/calls?status=unfinished_call")
            await page.go_back()
            await row.wait_for()
            await row.locator("a").click()
            await page.wait_for_url(f"**/calls/{call_id}")
            await until(page, "window.consoleState.waveform !== 'pending'", 30)
            assert await page.evaluate("window.consoleState.waveform") == "ready"
            items = page.locator("#transcript li")
            assert await items.count() == len(result.context.turns)
            assert result.context.turns[1].text in await items.nth(1).inner_text()
            booked = dt.datetime.fromisoformat(result.booking["start"])  # in the business's time zone
            assert booked.strftime("%-I:%M") in await page.inner_text("#summary")
            # The waveform is drawn: its canvases (in wavesurfer's shadow DOM) hold non-blank pixels.
            drawn = await page.evaluate(
                """() => {
                  const root = document.querySelector('#waveform > div').shadowRoot;
                  return [...root.querySelectorAll('canvas')].map(c => {
                    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let on = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) on++;
                    return on;
                  });
                }"""
            )
            assert sum(drawn) > 1000, drawn
            bars = await page.evaluate("window.consoleState.chart.data.labels.length")
            assert bars == len(replies)
            stacked = await page.evaluate("window.consoleState.chart.data.datasets.map(d => d.data.length)")
            assert set(stacked) == {len(replies)}
            await page.screenshot(path=str(ARTIFACTS / "console-call.png"), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})  # a phone
            await asyncio.sleep(0.5)  # the waveform and the chart redraw for the new width
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            await page.screenshot(path=str(ARTIFACTS / "console-call-phone.png"), full_page=True)
            await page.set_viewport_size({"width": 1100, "height": 900})
            # Clicking a turn plays the recording from that turn.
            turn = result.context.turns[2]
            await items.nth(2).click()
            ws = "window.consoleState.wavesurfer"
            playing = f"{ws}.isPlaying() && {ws}.getCurrentTime() > {turn.start_s + 0.2}"
            await until(page, playing, 10)
            now = await page.evaluate("window.consoleState.wavesurfer.getCurrentTime()")
            assert turn.start_s < now < turn.start_s + 5
            assert not errors, errors
            await page.goto(console.console.url("/overview"))
            await until(page, "window.consoleState && window.consoleState.perHour")
            per_hour = await page.evaluate(
                "window.consoleState.perHour.data.datasets.reduce((n, d) => n + d.data.reduce((a, b) => a + b, 0), 0)"
            )
            assert per_hour == 1
            await page.screenshot(path=str(ARTIFACTS / "console-overview.png"), full_page=True)
            assert not errors, errors
        finally:
            await browser.close()


async def test_a_call_whose_recording_the_disk_refused_says_why_on_its_page(tmp_path: Path) -> None:
    """The recording lives in memory until hang-up; when the disk refuses it, the record keeps why
    (dialog/transcript.py), and the call's page says it instead of a bare "no recording"."""
    from playwright.async_api import async_playwright

    from sentiric_pbx.call.record import CallContext, Turn
    from sentiric_pbx.storage.context_sqlite import SqliteContextStore
    from sentiric_pbx.storage.db import open_database

    settings = console_on(Settings())
    settings.agent.mode = "echo"
    settings.audiosocket.port = settings.fastagi.port = 0
    settings.metrics.enabled = False
    settings.storage.db_path = tmp_path / "sentiric.db"
    ctx = CallContext("c0ffee-disk-full", caller_id="+905551112233", language="en", started_at=1_780_000_000.0)
    ctx.add_turn(Turn("agent", "Hello, how can I help?", 0.0, 1.5))
    ctx.recording_error = "No space left on device"
    db = await open_database(settings)
    try:
        await SqliteContextStore(db).finish(ctx, "completed")
    finally:
        await db.aclose()
    daemon = Daemon(settings)
    await daemon.start()
    try:
        status, _, body = await get(daemon.console.url(f"/api/calls/{ctx.call_id}"))
        d = json.loads(body)
        assert status == 200 and d["recording"] is False and "recording_url" not in d
        assert d["recording_error"] == "No space left on device"
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page()
                await page.goto(daemon.console.url(f"/calls/{ctx.call_id}"))
                note = page.locator("#no-recording")
                await note.wait_for()
                assert "could not be written (No space left on device)" in await note.inner_text()
            finally:
                await browser.close()
    finally:
        await daemon.stop()


# -- who may look -------------------------------------------------------------------------------------
async def test_a_console_beyond_loopback_without_a_token_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTIRIC_CONSOLE__ENABLED", raising=False)  # tests/conftest.py's: the default is on
    path = tmp_path / "pbx.toml"
    path.write_text('[console]\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match=r"console.*token"):
        load_config(path, environ={})
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code != 0 and "token" in result.output
    # Built in code past the validator, the server itself still refuses.
    s = console_on(Settings())
    object.__setattr__(s.console, "host", "0.0.0.0")  # past validate_assignment, as code could
    with pytest.raises(ConfigError, match="token"):
        await ConsoleServer(s, None).start()


async def test_with_a_token_every_request_needs_it(tmp_path: Path) -> None:
    settings = console_on(Settings(), token="s3cret-token-123")
    settings.agent.mode = "echo"
    settings.audiosocket.port = settings.fastagi.port = 0
    settings.metrics.enabled = False
    settings.storage.db_path = tmp_path / "empty.db"
    daemon = Daemon(settings)
    await daemon.start()
    try:
        base = daemon.console.url()
        with structlog.testing.capture_logs() as logs:
            assert (await get(base + "api/calls"))[0] == 401
            assert (await get(base + "api/calls", headers={"Authorization": "Bearer wrong"}))[0] == 401
            assert (await get(base + "calls?token=wrong"))[0] == 401
        refused = [e for e in logs if e["event"] == "console_unauthorized"]
        assert [e["reason"] for e in refused] == ["missing", "wrong", "wrong"]
        assert "s3cret" not in repr(logs)
        status, headers, body = await get(base + "api/calls", headers={"Authorization": "Bearer s3cret-token-123"})
        assert status == 200 and json.loads(body)["calls"] == []
        # A link with ?token= sets an HttpOnly cookie and drops the token from the address.
        status, headers, _ = await get(base + "calls?token=s3cret-token-123&status=completed")
        assert status == 303 and headers["Location"] == "/calls?status=completed"
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        assert headers["Cache-Control"] == "no-store"
        assert (await get(base + "calls", cookies={"sentiric_console": "s3cret-token-123"}))[0] == 200
        # DNS rebinding: another site's name pointed at us is refused before the token is even asked for.
        assert (await get(base + "api/health", headers={"Host": "evil.example"}))[0] == 403
    finally:
        await daemon.stop()



@pytest.mark.fixed_ports
async def test_the_demo_prints_the_console_page_of_its_call(
    tmp_path: Path, models_dir: Path, engines: EnginePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTIRIC_CONSOLE__ENABLED", raising=False)  # the admin's default: the console is on
    # The command's daemon on the session's loaded models instead of loading them again (what is tested is
    # what it prints and stores, not the model load: every `sentiric-pbx run` of tests/faults does that).
    monkeypatch.setattr("sentiric_pbx.tools.demo.run_demo", functools.partial(run_demo, engines=engines))
    config = tmp_path / "pbx.toml"
    config.write_text(
        f'[storage]\ndb_path = "{tmp_path / "sentiric.db"}"\narchive_dir = "{tmp_path / "archive"}"\n'
        f'[models]\ndir = "{models_dir}"\n[dialog]\nno_input_reprompt_s = 30.0\n'
    )
    args = ["demo", "--config", str(config), "--record", str(tmp_path / "demo.wav")]
    # A running daemon's console holds 8095: the demo's own short-lived daemon must not try to take it.
    with socket.create_server(("127.0.0.1", 8095)):
        shown = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    out = json.loads(shown.output.strip().splitlines()[-1])
    call_id = out["call"]["call_id"]
    assert out["console_url"] == f"http://127.0.0.1:8095/calls/{call_id}"
    listed = ["calls", "list", "--json", "--db", str(tmp_path / "sentiric.db")]
    stored = json.loads((await asyncio.to_thread(CliRunner().invoke, app, listed)).output)
    assert [c["call_id"] for c in stored] == [call_id]


async def test_a_taken_console_port_names_the_setting(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        settings = console_on(Settings())
        settings.console.port = taken.getsockname()[1]
        settings.storage.db_path = tmp_path / "empty.db"
        with pytest.raises(OSError, match=r"\[console\] 127\.0\.0\.1:\d+: .*\[console\] port"):
            await ConsoleServer(settings, None).start()


async def test_doctor_checks_the_console_port() -> None:
    from sentiric_pbx.doctor.ports import check_ports

    with socket.create_server(("127.0.0.1", 0)) as taken:
        settings = console_on(Settings())
        settings.console.port = taken.getsockname()[1]
        [check] = [c for c in check_ports(settings) if c.name == "port console"]
    assert check.status == "fail" and "[console]" in check.hint
    settings.console.enabled = False
    assert not [c for c in check_ports(settings) if c.name == "port console"]

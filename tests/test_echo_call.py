"""End to end: the real test caller calls the echo agent through FastAGI and AudioSocket.

The caller registers over FastAGI, streams turns of `demo-turn.wav` in real time on a 20 ms clock,
and measures the replies on the wire. The echo agent must play each turn back after the caller
stops: a reply per turn, as long as the turn's speech, and in the recording the agent's channel
carries the caller's words, later. Then the same through the `sentiric-pbx` command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.tools.caller import CallerOptions, place_call
from tests.asterisk_peer import AGI_SECRET, demo_turn, first_word, log_lines, voiced_span_s, wait_log

Logs = list[dict[str, object]]
REPORT_FIELDS = {"call_id", "greeting_latency_ms", "turns"}
TURN_FIELDS = {"caller_audio_s", "latency_ms", "agent_audio_s", "underruns"}
CLI = [str(Path(sys.executable).parent / "sentiric-pbx")]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A quicker endpointer than the default: the calls run in real time, and this file's budget is seconds.

    300 ms still ends no turn inside the demo turn (its longest pause is 160 ms).
    """
    settings.vad.end_of_turn_silence_ms = 300
    settings.vad.pre_roll_ms = 100
    return settings


def options(daemon: Daemon, **overrides: object) -> CallerOptions:
    """Caller options against the daemon fixture; quicker waits than the CLI's (no greeting to wait for)."""
    values: dict[str, object] = {
        "port": daemon.audiosocket.port,
        "agi": ("127.0.0.1", daemon.fastagi.port),
        "agi_secret": AGI_SECRET,
        "greeting_wait_s": 0.1,
        "reply_silence_s": 0.4,
    }
    values.update(overrides)
    return CallerOptions(**values)  # type: ignore[arg-type]


def envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS per 20 ms frame."""
    n = rate // 50
    frames = samples[: len(samples) // n * n].astype(np.float64).reshape(-1, n)
    return np.sqrt(np.mean(frames * frames, axis=1))


def best_match(pattern: np.ndarray, signal_: np.ndarray, start: int) -> tuple[float, int]:
    """Highest Pearson correlation of `pattern` with a window of `signal_` at lag >= start, and that lag."""
    best = (-1.0, -1)
    for lag in range(start, len(signal_) - len(pattern) + 1):
        window = signal_[lag : lag + len(pattern)]
        if window.std() > 0:
            best = max(best, (float(np.corrcoef(pattern, window)[0, 1]), lag))
    return best


def check_recording(path: Path, rate: int, turn: bytes) -> None:
    """Stereo, at the call's rate; the agent's channel (right) replays the caller's turn (left), later."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, rate)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    left, right = envelope(stereo[:, 0], rate), envelope(stereo[:, 1], rate)
    spoken = envelope(np.frombuffer(turn, dtype="<i2"), rate)
    loud = 32768 * 10 ** (-40 / 20)

    first_turn_at = int(np.argmax(left > loud))
    first_turn = slice(first_turn_at, first_turn_at + len(spoken))
    assert (right[first_turn] > loud).sum() == 0  # the agent is silent while the caller talks
    assert (right > loud).sum() >= 2 * 0.8 * (spoken > loud).sum()  # both replies are there

    corr, lag = best_match(spoken, right, start=first_turn.stop)
    assert corr > 0.8, f"agent channel does not replay the turn (best correlation {corr:.2f} at frame {lag})"


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_two_turns_are_echoed_back(daemon: Daemon, logs: Logs, tmp_path: Path, rate: int) -> None:
    turn = demo_turn(rate)
    record = tmp_path / f"call-{rate}.wav"
    report = await place_call([turn, turn], options(daemon, rate=rate, record=record))
    data = json.loads(json.dumps(report.to_dict()))  # what `sentiric-pbx call --json` prints

    assert REPORT_FIELDS <= set(data)
    assert data["call_id"] == report.call_id
    assert data["greeting_latency_ms"] is None  # the echo agent does not greet
    assert len(data["turns"]) == 2
    speech_s = voiced_span_s(turn, rate)
    for t in data["turns"]:
        assert set(t) == TURN_FIELDS
        assert t["caller_audio_s"] == pytest.approx(len(turn) / (2 * rate), abs=0.001)
        assert t["latency_ms"] is not None and t["latency_ms"] > 0
        assert t["agent_audio_s"] == pytest.approx(speech_s, abs=0.3)
        assert isinstance(t["underruns"], int) and t["underruns"] >= 0
    assert data["ended_by"] == "caller"

    started = await wait_log(logs, "call_started", call_id=report.call_id)
    assert (started["caller_id"], started["registered"]) == ("+905551112233", True)
    assert len(log_lines(logs, "turn_ended", call_id=report.call_id)) == 2
    ended = await wait_log(logs, "call_ended", call_id=report.call_id)
    assert (ended["by"], ended["reason"]) == ("caller", "hangup_frame")
    check_recording(record, rate, turn)


async def test_caller_hangs_up_mid_word_beside_another_call(daemon: Daemon, logs: Logs) -> None:
    """`--hangup-after`: the caller closes TCP in the middle of a word. Only that call ends."""
    # 1.2 s after connecting: 0.2 s greeting wait, then 1.0 s into the turn, inside its third word.
    hang_up = options(daemon, greeting_wait_s=0.2, hangup_after_s=1.2)
    cut, other = await asyncio.gather(
        place_call([demo_turn(8000)], hang_up), place_call([first_word(8000)], options(daemon))
    )

    assert cut.ended_by == "caller_hangup_after" and cut.turns == []
    ended = await wait_log(logs, "call_ended", call_id=cut.call_id)
    assert (ended["by"], ended["reason"]) == ("caller", "tcp_close")
    assert not log_lines(logs, "turn_ended", call_id=cut.call_id)  # the turn was still going on

    assert len(other.turns) == 1 and other.turns[0].latency_ms is not None
    assert other.turns[0].agent_audio_s == pytest.approx(voiced_span_s(first_word(8000), 8000), abs=0.3)
    other_ended = await wait_log(logs, "call_ended", call_id=other.call_id)
    assert (other_ended["by"], other_ended["reason"]) == ("caller", "hangup_frame")
    assert not log_lines(logs, "audiosocket_protocol_error")


# -- the command line ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_wav(path: Path, pcm: bytes, rate: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def json_lines(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text().splitlines():
        with_brace = line.strip()
        if with_brace.startswith("{"):
            out.append(json.loads(with_brace))
    return out


@pytest.fixture
def daemon_process(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """`sentiric-pbx run` on two free ports picked here; yields (audiosocket, fastagi, log file)."""
    audiosocket_port, fastagi_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIRIC_")}
    env |= {
        "SENTIRIC_AUDIOSOCKET__PORT": str(audiosocket_port),
        "SENTIRIC_FASTAGI__PORT": str(fastagi_port),
        "SENTIRIC_FASTAGI__SECRET": AGI_SECRET,
        "SENTIRIC_METRICS__ENABLED": "false",
        "SENTIRIC_CONSOLE__ENABLED": "false",
        "SENTIRIC_LOGGING__FORMAT": "json",
        "SENTIRIC_AGENT__MODE": "echo",
    }
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "run"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not any(e.get("event") == "daemon_ready" for e in json_lines(log)):
            assert proc.poll() is None, f"the daemon exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"the daemon never became ready: {log.read_text()}"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", audiosocket_port), timeout=5):
            pass  # the port answers (this connection ends before its UUID; the daemon logs that)
        yield audiosocket_port, fastagi_port, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert proc.returncode == 0, log.read_text()
    assert any(e.get("event") == "daemon_stopped" for e in json_lines(log))


def test_cli_call_prints_one_json_report(daemon_process: tuple[int, int, Path], tmp_path: Path) -> None:
    audiosocket_port, fastagi_port, log = daemon_process
    turn = write_wav(tmp_path / "turn.wav", first_word(16000), 16000)
    record = tmp_path / "call.wav"
    result = subprocess.run(
        [
            *CLI,
            "call",
            "--json",
            "--to",
            f"127.0.0.1:{audiosocket_port}",
            "--agi",
            f"127.0.0.1:{fastagi_port}",
            "--agi-secret",
            AGI_SECRET,
            "--record",
            str(record),
            str(turn),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    report = json.loads(lines[0])
    assert REPORT_FIELDS <= set(report)
    assert len(report["turns"]) == 1
    assert set(report["turns"][0]) == TURN_FIELDS
    assert report["turns"][0]["latency_ms"] > 0
    assert record.exists()

    events = json_lines(log)
    started = [e for e in events if e.get("event") == "call_started" and e.get("call_id") == report["call_id"]]
    assert len(started) == 1 and started[0]["caller_id"] == "+905551112233"


def test_cli_call_to_a_closed_port_fails_in_one_line(tmp_path: Path) -> None:
    turn = write_wav(tmp_path / "turn.wav", first_word(8000), 8000)
    port = free_port()  # bound and released: nothing listens there now
    result = subprocess.run(
        [*CLI, "call", "--to", f"127.0.0.1:{port}", str(turn)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sentiric-pbx: error: cannot reach AudioSocket at 127.0.0.1:")
    assert str(port) in lines[0]

"""webrtcvad vs. Silero VAD as the endpointer's voice detector, on phone audio with noise.

    python bench/vad.py [--json] [--cache DIR]

The endpointer (audio/vad.py) is the same for both; only `is_speech(frame)` changes: webrtcvad (mode
`[vad] aggressiveness`, 2) or Silero VAD v6.2 (`[vad] engine = "silero"`: audio/silero.py, the model
bundled:silero-vad from the pipecat-ai wheel that also carries the turn model), fed the same 20 ms frames.

The material, all through the 8 kHz μ-law phone band and back to 16 kHz:
  * noise alone, 6 s each: line hiss at −45 and −35 dBFS, mains hum with hiss, a click every 0.4 s
    (a bad cord, a keypad), crackle (short bursts of noise), clicks on hiss;
  * speech (the short answers and whole sentences of bench/turns_utterances.jsonl, four voices) on hiss at
    20, 10 and 5 dB SNR, on hum at 10 dB, and with clicks around it.

Reported per detector: false starts per minute of noise (the noise-alone scenes and the noise before and
after each speech; a start on the noise before the speech also counts that speech as missed); turns
missed; the onset — first voiced frame minus the speech's true start (p50 / p95) — and onsets clipped (a
turn whose audio, pre-roll included, starts after the first syllable); the end — last voiced frame minus
the true end (p5 / p50 / p95; negative: the tail of the last word was called silence); and the CPU per
20 ms frame. A benchmark: no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.turns import AUDIBLE, DATA, VOICES, Voices
from sentiric_pbx.audio.frames import FRAME_BYTES, SAMPLE_RATE
from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.audio.silero import SileroEndpointer, SileroVad
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted, TurnEnded
from sentiric_pbx.config import Settings, VadConfig

LEAD_MS, TAIL_MS = 1000, 1500
NOISE_S = 6.0
RATE = SAMPLE_RATE


def phone(track: np.ndarray) -> np.ndarray:
    pcm = np.clip(np.round(track), -32768, 32767).astype("<i2").tobytes()
    narrow = ulaw_decode(ulaw_encode(resample(pcm, RATE, 8000)))
    return np.frombuffer(resample(narrow, 8000, RATE), dtype="<i2")


def level(dbfs: float) -> float:
    return 32768 * 10 ** (dbfs / 20)


def hiss(n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0, level(dbfs), n)


def hum(n: int, dbfs: float) -> np.ndarray:
    t = np.arange(n) / RATE
    sig = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3, 5))
    return sig * level(dbfs) / np.sqrt(np.mean(sig**2))


def clicks(n: int, every_s: float, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Sharp decaying pops: a loose cord, a handset knocked, a keypad's mechanical click."""
    out = np.zeros(n)
    decay = np.exp(-np.arange(160) / 25.0)
    for at in np.arange(rng.uniform(0.05, every_s), n / RATE - 0.02, every_s):
        i = int(at * RATE)
        out[i : i + 160] += rng.choice([-1, 1]) * level(dbfs) * decay * rng.uniform(0.5, 1.0)
    return out


def crackle(n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """10–40 ms bursts of noise at random, ~3 a second: a bad line."""
    out = np.zeros(n)
    for _ in range(int(3 * n / RATE)):
        i, d = rng.integers(0, n - 700), int(rng.uniform(0.01, 0.04) * RATE)
        out[i : i + d] += rng.normal(0, level(dbfs), d)
    return out


NOISES = {
    "hiss -45": lambda n, r: hiss(n, -45, r),
    "hiss -35": lambda n, r: hiss(n, -35, r),
    "hum+hiss": lambda n, r: hum(n, -35) + hiss(n, -50, r),
    "clicks": lambda n, r: clicks(n, 0.4, -12, r),
    "crackle": lambda n, r: crackle(n, -25, r),
    "clicks+hiss": lambda n, r: clicks(n, 0.7, -15, r) + hiss(n, -45, r),
}


@dataclass(slots=True)
class Scene:
    name: str
    pcm: np.ndarray
    speech: tuple[int, int] | None
    """(start ms, end ms) of the speech, None for noise alone."""


def scenes(settings: Settings, cache: Path) -> list[Scene]:
    path = cache / "vad-speech.npz"
    if path.exists():
        clips = list(np.load(path).values())
    else:
        voices = Voices(settings)
        rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
        texts = [r["text"] if r["kind"] == "short" else f"{r['first']} {r['second']}" for r in rows][::3]
        clips = [voices.say(VOICES[i % len(VOICES)], t) for i, t in enumerate(texts)]
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, *clips)
    rng = np.random.default_rng(7)
    out = []
    n = int(NOISE_S * RATE)
    for name, make in NOISES.items():
        for k in range(3):
            out.append(Scene(f"noise {name} #{k}", phone(make(n, rng)), None))
    lead, tail = LEAD_MS * RATE // 1000, TAIL_MS * RATE // 1000
    for i, clip in enumerate(clips):
        speech = clip.astype(np.float64)
        power = np.sqrt(np.mean(speech[np.abs(speech) > AUDIBLE] ** 2))
        track = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
        span = (LEAD_MS, LEAD_MS + len(clip) * 1000 // RATE)
        for snr in (20, 10, 5):
            noisy = track + rng.normal(0, power / 10 ** (snr / 20), len(track))
            out.append(Scene(f"speech hiss {snr} dB #{i}", phone(noisy), span))
        out.append(
            Scene(f"speech hum 10 dB #{i}", phone(track + hum(len(track), 20 * np.log10(power / 32768) - 10)), span)
        )
        out.append(
            Scene(
                f"speech clicks #{i}",
                phone(track + clicks(len(track), 0.5, -15, rng) + hiss(len(track), -50, rng)),
                span,
            )
        )
    return out


# -- scoring ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Tally:
    noise_s: float = 0.0
    false_starts: int = 0
    speech: int = 0
    missed: int = 0
    clipped: int = 0
    onset_ms: list[int] = field(default_factory=list)
    end_ms: list[int] = field(default_factory=list)
    extra_turns: int = 0
    frames: int = 0
    cpu_s: float = 0.0


def run(scene: Scene, endpointer: Endpointer, tally: Tally, pre_roll_ms: int) -> None:
    pcm = scene.pcm.tobytes()
    events = []
    started = time.process_time()
    for i in range(len(pcm) // FRAME_BYTES):
        events += endpointer.process(pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
    tally.cpu_s += time.process_time() - started
    tally.frames += len(pcm) // FRAME_BYTES
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, TurnEnded)]
    if scene.speech is None:
        tally.noise_s += len(pcm) / 2 / RATE
        tally.false_starts += len(starts)
        return
    tally.speech += 1
    tally.noise_s += (LEAD_MS + TAIL_MS) / 1000
    a, b = scene.speech
    inside = [s for s in starts if a - 200 <= s.at_ms <= b]
    tally.false_starts += len(starts) - len(inside)  # starts on the noise before or after the speech
    if not inside:
        tally.missed += 1
        return
    tally.extra_turns += len(inside) - 1
    tally.onset_ms.append(inside[0].at_ms - a)
    tally.clipped += inside[0].at_ms - pre_roll_ms > a + 20
    last = [e.last_voiced_ms for e in ends if e.last_voiced_ms >= a]
    if last:
        tally.end_ms.append(min(last, key=lambda t: abs(t - b)) - b)


def summary(t: Tally) -> dict[str, Any]:
    def pct(v: list[int], q: float) -> float | None:
        return round(float(np.percentile(v, q)), 1) if v else None

    return {
        "false_starts_per_min_noise": round(t.false_starts / max(t.noise_s, 1e-9) * 60, 2),
        "false_starts": t.false_starts,
        "speech_turns": t.speech,
        "missed": t.missed,
        "split": t.extra_turns,
        "onset_ms": {"p50": pct(t.onset_ms, 50), "p95": pct(t.onset_ms, 95)},
        "clipped_onsets": t.clipped,
        "end_ms": {"p5": pct(t.end_ms, 5), "p50": pct(t.end_ms, 50), "p95": pct(t.end_ms, 95)},
        "cpu_us_per_frame": round(t.cpu_s / max(t.frames, 1) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "sentiric-bench-turns")
    args = parser.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    settings = Settings()
    vad = VadConfig(end_of_turn_silence_ms=1000)  # long enough that a turn's end is where its voice ended
    from sentiric_pbx.models import resolve_model

    silero = SileroVad(resolve_model("bundled:silero-vad", settings))
    silero.load()
    detectors = {
        "webrtc": lambda: Endpointer(vad),
        "silero": lambda: SileroEndpointer(vad.model_copy(update={"engine": "silero"}), stream=silero.stream()),
    }
    all_scenes = scenes(settings, args.cache)
    report: dict[str, Any] = {"scenes": len(all_scenes), "by_kind": {}}
    for name, make in detectors.items():
        total = Tally()
        kinds: dict[str, Tally] = {}
        for scene in all_scenes:
            kind = scene.name.rsplit(" #", 1)[0]
            for t in (total, kinds.setdefault(kind, Tally())):
                run(scene, make(), t, vad.pre_roll_ms)
        report[name] = summary(total)
        report["by_kind"][name] = {k: summary(t) for k, t in kinds.items()}
    if args.json:
        print(json.dumps(report))
        return
    cols = ["false starts / min of noise", "missed", "split", "onset p50/p95", "clipped", "end p5/p50/p95", "µs/frame"]
    print("| detector | " + " | ".join(cols) + " |")
    print("| --- " * (len(cols) + 1) + "|")
    for name in detectors:
        r = report[name]
        print(
            f"| {name} | {r['false_starts_per_min_noise']} | {r['missed']}/{r['speech_turns']} | {r['split']} | "
            f"{r['onset_ms']['p50']} / {r['onset_ms']['p95']} ms | {r['clipped_onsets']} | "
            f"{r['end_ms']['p5']} / {r['end_ms']['p50']} / {r['end_ms']['p95']} ms | {r['cpu_us_per_frame']} |"
        )
    print()
    for name in detectors:
        for kind, r in report["by_kind"][name].items():
            print(
                f"{name:7} {kind:22} false {r['false_starts']:3} missed {r['missed']:2} split {r['split']:2} "
                f"onset p50 {r['onset_ms']['p50']} clipped {r['clipped_onsets']} end p50 {r['end_ms']['p50']}"
            )


if __name__ == "__main__":
    main()

"""False cut-offs and end-of-turn latency: the silence and word rules alone vs. with the turn model.

    python bench/turns.py [--json] [--stt-ms 400] [--model-ms 60] [--words reference|whisper] [--cache DIR]
                          [--cues [--tune-only]] [--separation] [--band phone|wide]

The utterances are `bench/turns_utterances.jsonl`, split into a tuning and a held-out set when the file was
written, before any result was seen (even lines tune, odd lines held out):

  * paused: a sentence said in two halves with a 300–600 ms pause inside ("I would like to book an
    appointment" … "for next Tuesday."). The first half is synthesized with a trailing comma, so it keeps the
    voice of a sentence that goes on; a turn that ends inside the pause cuts the caller off;
  * whole: the same sentence without the pause;
  * short: complete short answers ("Yes, please.", "Tuesday at three.").

Each is spoken by four voices (Piper en_US-joe-medium at two speeds, espeak-ng en-us and en-gb), put through
the phone band (8 kHz μ-law and back to 16 kHz) with a −60 dBFS noise floor, between 0.8 s and 2.5 s of it
(`--band wide` leaves it at 16 kHz, as a G.722 or slin16 call delivers it).

The turn-taking of dialog/listening.py then runs on every 20 ms frame: the real endpointer (webrtcvad), the
real `may_end_turn` rule and the real turn model (bundled:smart-turn-v3), in simulated time. The STT's
words arrive `--stt-ms` after the preview starts (Whisper base with the 10 s window on this host: 200 ms
alone, 350–450 ms on a busy host). With `--words reference` (the default) they are the words spoken before
the pause (the text, spread over the speech in proportion to its letters), so a recognition error never hides
a turn-taking one; with `--words whisper` they are what the daemon has: the bundled Whisper's transcript of
the turn so far (the endpointer's turn audio at the preview, the same engine and mel window as the daemon),
its punctuation included, each decode cached on disk under `--cache`. The model's answer arrives
`--model-ms` after it is asked (its answers are cached on disk too).

Reported, per set: the share of paused utterances cut before the caller finished, and the silence from the
caller's last word to the end of the turn (median / p95) for the utterances that are complete at the end.
The turn model's settings (`turn_model_after_ms`, `turn_model_threshold`, `turn_model_wait_ms`) are chosen
on the tuning set only: the lowest median latency with at most 2 % cut-offs. `--cues` then tunes what the
daemon does not have (`Cues`: a confident end when every cue says "finished", the pause dated by its energy)
with the daemon's silences, and scores two choices on both sets (`--tune-only`: the tuning set alone).
A benchmark: no pass/fail.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.audio.vad import _HANGOVER_TAIL_FRAMES, Endpointer, SpeechStarted, TurnEnded, TurnEvent
from sentiric_pbx.config import Settings, VadConfig
from sentiric_pbx.dialog.turntaking import may_end_turn, sounds_unfinished
from sentiric_pbx.engines.turn import WINDOW_S

if TYPE_CHECKING:
    from sentiric_pbx.engines.stt.whisper import WhisperStt

DATA = Path(__file__).with_name("turns_utterances.jsonl")
VOICES = ("piper-joe", "piper-joe-slow", "espeak-en-us", "espeak-en-gb")
LEAD_MS, TAIL_MS = 800, 2500
NOISE_DBFS = -60.0
AUDIBLE = 180
"""≈ −45 dBFS: where a clean synthesized signal counts as speech (its start and end)."""
GRID = {
    "turn_model_after_ms": (100, 160),
    "turn_model_threshold": (0.5, 0.9, 0.95, 0.98, 1.0),
    "turn_model_unfinished_below": (0.0, 0.3, 0.5, 0.7),
    "turn_model_wait_ms": (700, 1000),
}
CUES = {
    "energy_dated": (False, True),
    "preview_after_ms": (60, 100),
    "early_end_of_turn_ms": (400, 500, 600),
    "turn_model_unfinished_below": (0.7, 0.8, 0.9, 0.95),
    "confident_end_ms": (None, 200, 300),
    "confident_above": (0.5, 0.9, 0.98),
}
"""`--cues`: the turn model's hold as chosen above, plus an end of turn when the words, the STT's punctuation
and the model all say "finished" (`Cues`), tuned together with the daemon's own silences."""
GOAL_CUT = 0.02


@dataclass(slots=True)
class Utt:
    """One spoken utterance on the line: its samples, where its words are, where the caller finished."""

    id: str
    set: str
    kind: str
    voice: str
    pcm: np.ndarray
    words: list[tuple[int, str]]
    """(ms at which the word has been said, word) in order: what an STT could know at a pause."""
    speech_end_ms: int

    def text_until(self, ms: int) -> str:
        return " ".join(w for end, w in self.words if end <= ms)


@dataclass(slots=True)
class Outcome:
    cut: bool
    latency_ms: int
    asked: int


# -- the corpus ---------------------------------------------------------------------------------------
class Voices:
    """Text → clean 16 kHz int16 samples, trimmed to the speech, for each of `VOICES`."""

    def __init__(self, settings: Settings) -> None:
        from sentiric_pbx.engines.tts.piper import PiperTts
        from sentiric_pbx.models import resolve_model

        onnx = resolve_model(settings.tts.voice, settings)
        self.piper = {"piper-joe": PiperTts(onnx), "piper-joe-slow": PiperTts(onnx, length_scale=1.25)}
        for tts in self.piper.values():
            tts.load()

    def say(self, voice: str, text: str) -> np.ndarray:
        if voice in self.piper:
            pcm = self.piper[voice].synthesize_blocking(text)
        else:
            name, rate = {"espeak-en-us": ("en-us+m3", "165"), "espeak-en-gb": ("en-gb+f2", "150")}[voice]
            with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
                subprocess.run(["espeak-ng", "-v", name, "-s", rate, "-w", tmp.name, text], check=True)
                with wave.open(tmp.name) as w:
                    pcm = resample(w.readframes(w.getnframes()), w.getframerate(), SAMPLE_RATE)
        samples = np.frombuffer(pcm, dtype="<i2")
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > AUDIBLE)
        return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def _spread(words: str, start_ms: int, end_ms: int) -> list[tuple[int, str]]:
    """Each word's end, the segment's time shared out in proportion to the words' letters."""
    parts = words.split()
    total = sum(len(p) for p in parts)
    out, done = [], 0
    for p in parts:
        done += len(p)
        out.append((start_ms + (end_ms - start_ms) * done // total, p))
    return out


def phone_line(clean: np.ndarray, seed: int, band: str = "phone") -> np.ndarray:
    """Lead and tail of line noise around `clean`, through the 8 kHz μ-law phone band, back at 16 kHz (or, with
    `band="wide"`, left at 16 kHz: a G.722 or slin16 call, for comparing what the phone band costs)."""
    lead, tail = LEAD_MS * SAMPLE_RATE // 1000, TAIL_MS * SAMPLE_RATE // 1000
    track = np.concatenate([np.zeros(lead), clean.astype(np.float64), np.zeros(tail)])
    track += np.random.default_rng(seed).normal(0, 32768 * 10 ** (NOISE_DBFS / 20), len(track))
    pcm = np.clip(np.round(track), -32768, 32767).astype("<i2").tobytes()
    if band == "wide":
        return np.frombuffer(pcm, dtype="<i2")
    narrow = ulaw_decode(ulaw_encode(resample(pcm, SAMPLE_RATE, 8000)))
    return np.frombuffer(resample(narrow, 8000, SAMPLE_RATE), dtype="<i2")


def build_corpus(settings: Settings, cache: Path, band: str = "phone") -> list[Utt]:
    """Every utterance of the data file in every voice (cached on disk by the data file's hash)."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    line = (VOICES, LEAD_MS, TAIL_MS, NOISE_DBFS) + ((band,) if band != "phone" else ())  # phone: the old key
    key = hashlib.sha256(DATA.read_bytes() + repr(line).encode()).hexdigest()[:16]
    path = cache / f"turns-{key}.npz"
    meta_path = cache / f"turns-{key}.json"
    if path.exists() and meta_path.exists():
        arrays = np.load(path)
        loaded = []
        for i, m in enumerate(json.loads(meta_path.read_text())):
            words = [(int(end), str(w)) for end, w in m.pop("words_")]
            loaded.append(Utt(**m, pcm=arrays[f"u{i}"], words=words))
        return loaded
    voices = Voices(settings)
    utts: list[Utt] = []
    ms = 1000 / SAMPLE_RATE
    for row, voice in itertools.product(rows, VOICES):
        seed = int(hashlib.sha256(f"{row['id']}{voice}".encode()).hexdigest()[:8], 16)
        variants: list[tuple[str, np.ndarray, list[tuple[int, str]]]] = []
        if row["kind"] == "paused":
            first, second = voices.say(voice, row["first"] + ","), voices.say(voice, row["second"])
            gap = np.zeros(row["pause_ms"] * SAMPLE_RATE // 1000)
            a_end = LEAD_MS + int(len(first) * ms)
            b_start = a_end + row["pause_ms"]
            words = _spread(row["first"], LEAD_MS, a_end) + _spread(
                row["second"], b_start, b_start + int(len(second) * ms)
            )
            variants.append(("paused", np.concatenate([first, gap, second]), words))
            whole = voices.say(voice, f"{row['first']} {row['second']}")
            text = f"{row['first']} {row['second']}"
            variants.append(("whole", whole, _spread(text, LEAD_MS, LEAD_MS + int(len(whole) * ms))))
        else:
            clean = voices.say(voice, row["text"])
            variants.append(("short", clean, _spread(row["text"], LEAD_MS, LEAD_MS + int(len(clean) * ms))))
        for kind, clean, words in variants:
            pcm = phone_line(clean, seed, band)
            utts.append(Utt(f"{row['id']}-{kind}", row["set"], kind, voice, pcm, words, LEAD_MS + int(len(clean) * ms)))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"u{i}": u.pcm for i, u in enumerate(utts)})
    meta = [{"id": u.id, "set": u.set, "kind": u.kind, "voice": u.voice, "speech_end_ms": u.speech_end_ms,
             "words_": u.words} for u in utts]  # fmt: skip
    meta_path.write_text(json.dumps(meta))
    return utts


# -- a turn-ending policy tried here -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cues:
    """The daemon's rule (`may_end_turn`), plus a *confident* end: after `confident_end_ms` of silence when
    every cue the daemon has says the caller has finished — the words so far are complete, the STT closed them
    as a sentence ("." "?" "!", Whisper's own punctuation) and the turn model's P(complete) is at least
    `confident_above` (and not under the model's hold). Any cue that says "unfinished" keeps the daemon's
    longer waits. Tried with `--cues`; not in the daemon (it did not reach the cut-off goal, bench/README.md)."""

    confident_end_ms: int | None = None
    confident_above: float = 0.5
    energy_dated: bool = False
    """Every silence counted from the last frame louder than the line's noise (`_Replayed`), not from the end
    of webrtcvad's hangover."""

    def may_end_turn(self, silence_ms: int, preview: str | None, vad: VadConfig, completion: float | None) -> bool:
        if may_end_turn(silence_ms, preview, vad, "en", completion):
            return True
        if self.confident_end_ms is None or preview is None or silence_ms < self.confident_end_ms:
            return False
        if sounds_unfinished(preview) or not ends_sentence(preview):
            return False
        if completion is None:
            return self.confident_above <= 0.0
        return completion >= max(self.confident_above, vad.turn_model_unfinished_below)


def ends_sentence(text: str) -> bool:
    """Did the STT close the words as a sentence ("." "?" "!"; not "...", Whisper's trailing off)?"""
    stripped = text.rstrip()
    return stripped.endswith((".", "?", "!")) and not stripped.endswith(("...", "…"))


NO_CUES = Cues()


# -- the listening loop, in simulated time --------------------------------------------------------------
def _audio_key(pcm: bytes) -> str:
    return hashlib.sha256(pcm).hexdigest()[:24]


@dataclass(slots=True)
class DiskCache:
    """Answers by the hash of the audio they are about, kept in a JSON file between runs (a Whisper decode or a
    model inference is the slow part of a run; the turn-taking itself is simulated in moments)."""

    path: Path
    answers: dict[str, Any] = field(default_factory=dict)
    fresh: int = 0

    def __post_init__(self) -> None:
        if self.path.exists():
            self.answers = json.loads(self.path.read_text())

    def answer(self, pcm: bytes, compute: Callable[[bytes], Any], times_ms: list[float]) -> Any:
        """The stored answer about `pcm`, or `compute(pcm)`'s, timed into `times_ms` and kept."""
        key = _audio_key(pcm)
        if key not in self.answers:
            started = time.perf_counter()
            self.answers[key] = compute(pcm)
            times_ms.append((time.perf_counter() - started) * 1000)
            self.fresh += 1
        return self.answers[key]

    def save(self) -> None:
        if self.fresh:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.answers))
            tmp.replace(self.path)
            self.fresh = 0


@dataclass(slots=True)
class TurnModelCache:
    """The real model, each heard window asked once however many settings are tried (and across runs)."""

    model: Any
    disk: DiskCache
    times_ms: list[float] = field(default_factory=list)

    def __call__(self, utt: Utt, frame: int, heard: bytes) -> float:
        return float(self.disk.answer(heard, self.model.completion_blocking, self.times_ms))


@dataclass(slots=True)
class PreviewWords:
    """The STT's words at a pause: the reference text said so far, or the bundled Whisper on the turn audio."""

    whisper: WhisperStt | None = None
    disk: DiskCache | None = None
    times_ms: list[float] = field(default_factory=list)

    def __call__(self, utt: Utt, turn_audio: bytes, until_ms: int) -> str:
        if self.whisper is None or self.disk is None:
            return utt.text_until(until_ms)
        whisper = self.whisper
        text = self.disk.answer(turn_audio, lambda pcm: whisper.transcribe_blocking(pcm).text.strip(), self.times_ms)
        if self.disk.fresh >= 50:
            self.disk.save()
        return str(text)


QUIET_ABOVE_NOISE_DB = 9.0


@dataclass(slots=True)
class _Replayed(Endpointer):
    """The endpointer with webrtcvad's verdicts computed once per utterance (they do not depend on the settings
    tried: webrtcvad sees every frame whatever the endpointer decides).

    With `dated` (`Cues.energy_dated`), a pause is dated from the turn's last frame louder than the line's
    noise floor (+9 dB; the floor a running mean of the frames webrtcvad calls silence): webrtcvad keeps saying
    "voice" for ~100 ms after the voice stops, and those frames are as quiet as the line."""

    verdicts: list[bool] = field(default_factory=list)
    dated: bool = False
    _noise: float = 0.0
    _quiet: int = 0

    def is_speech(self, frame: bytes) -> bool:
        return self.verdicts[self._frames_seen - 1]

    def process(self, frame: bytes) -> list[TurnEvent]:
        if self.dated:
            voiced = self.verdicts[self._frames_seen]
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
            rms = float(np.sqrt(np.mean(samples * samples)))
            if not voiced:
                self._noise = rms if self._noise == 0.0 else self._noise + 0.05 * (rms - self._noise)
            elif rms <= max(self._noise, 1.0) * 10 ** (QUIET_ABOVE_NOISE_DB / 20):
                self._quiet = 1 if self._trailing_silence else self._quiet + 1
            else:
                self._quiet = 0
        events = Endpointer.process(self, frame)
        if any(isinstance(e, SpeechStarted) for e in events):
            self._quiet = 0
        return events

    @property
    def trailing_silence_ms(self) -> int:
        silence = self._trailing_silence * FRAME_MS if self._in_turn else 0
        if not self.dated or not silence:
            return silence
        return silence + min(self._quiet, _HANGOVER_TAIL_FRAMES[self.options.aggressiveness]) * FRAME_MS


_VERDICTS: dict[tuple[str, str, int], list[bool]] = {}


def _verdicts(utt: Utt, pcm: bytes, aggressiveness: int) -> list[bool]:
    key = (utt.id, utt.voice, aggressiveness)
    if key not in _VERDICTS:
        ep = Endpointer(VadConfig(aggressiveness=aggressiveness))
        whole = len(pcm) - FRAME_BYTES + 1
        _VERDICTS[key] = [ep.is_speech(pcm[i : i + FRAME_BYTES]) for i in range(0, whole, FRAME_BYTES)]
    return _VERDICTS[key]


def simulate(
    utt: Utt,
    vad: VadConfig,
    model: TurnModelCache | None,
    stt_ms: int,
    model_ms: int,
    stt: PreviewWords,
    cues: Cues = NO_CUES,
) -> Outcome:
    """What dialog/listening.py's turn-taking does with this utterance, frame by frame."""
    ceiling = max(vad.end_of_turn_silence_ms, vad.unfinished_end_of_turn_ms, vad.early_end_of_turn_ms)
    if model is not None:
        ceiling = max(ceiling, vad.turn_model_wait_ms)
    pcm = utt.pcm.tobytes()
    endpointer = _Replayed(vad.model_copy(update={"end_of_turn_silence_ms": ceiling}), dated=cues.energy_dated)
    endpointer.verdicts = _verdicts(utt, pcm, vad.aggressiveness)
    ends: list[int] = []
    heard: list[bytes] = []
    words: str | None = None
    words_at = verdict_at = 0
    verdict: float | None = None
    paused = asked = False
    asks = 0
    keep = WINDOW_S * 1000 // FRAME_MS
    for i in range(len(pcm) // FRAME_BYTES):
        now = (i + 1) * FRAME_MS
        frame = pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]
        events = endpointer.process(frame)
        if any(isinstance(e, SpeechStarted) for e in events):
            audio = endpointer.turn_audio()
            heard = [audio[j : j + FRAME_BYTES] for j in range(0, len(audio), FRAME_BYTES)]
            paused = asked = False
        elif endpointer.in_turn:
            heard.append(frame)
            silence = endpointer.trailing_silence_ms
            if silence == 0:
                paused = asked = False
            else:
                if not paused and silence >= vad.preview_after_ms:
                    heard_until = now - endpointer._trailing_silence * FRAME_MS  # where turn_audio() ends
                    said = stt(utt, endpointer.turn_audio(), heard_until)
                    paused, words, words_at = True, said, now + stt_ms
                if model is not None and not asked and silence >= vad.turn_model_after_ms:
                    asked, asks = True, asks + 1
                    verdict, verdict_at = model(utt, i, b"".join(heard[-keep:])), now + model_ms
                preview = words if paused and now >= words_at else None
                completion = verdict if asked and now >= verdict_at else None
                if cues.may_end_turn(silence, preview, vad, completion):
                    ended = endpointer.end_turn()
                    if ended is not None:
                        events.append(ended)
        ends += [now for e in events if isinstance(e, TurnEnded)]
    ends = ends or [len(pcm) // FRAME_BYTES * FRAME_MS]
    cut = any(t < utt.speech_end_ms for t in ends)
    final = next((t for t in ends if t >= utt.speech_end_ms), ends[-1])
    return Outcome(cut, final - utt.speech_end_ms, asks)


def score(
    utts: list[Utt], vad: VadConfig, model: TurnModelCache | None, args: argparse.Namespace, cues: Cues = NO_CUES
) -> dict:
    outcomes = [(u, simulate(u, vad, model, args.stt_ms, args.model_ms, args.stt, cues)) for u in utts]
    paused = [o for u, o in outcomes if u.kind == "paused"]
    complete = [o.latency_ms for u, o in outcomes if u.kind != "paused" and not o.cut]
    every = [o.latency_ms for _, o in outcomes]
    return {
        "paused": len(paused),
        "cut": sum(o.cut for o in paused),
        "cut_share": round(sum(o.cut for o in paused) / max(1, len(paused)), 4),
        "cut_unpaused": sum(o.cut for u, o in outcomes if u.kind != "paused"),
        "latency_ms": {"p50": float(np.percentile(complete, 50)), "p95": float(np.percentile(complete, 95))},
        "latency_all_ms": {"p50": float(np.percentile(every, 50)), "p95": float(np.percentile(every, 95))},
        "model_asks": sum(o.asked for _, o in outcomes),
        "cut_by_voice": {v: sum(o.cut for u, o in outcomes if u.kind == "paused" and u.voice == v) for v in VOICES},
    }


def tune(
    tuning: list[Utt], base: VadConfig, model: TurnModelCache, args: argparse.Namespace, grid: dict = GRID
) -> list[dict]:
    rows = []
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values, strict=True))
        if settings.get("confident_end_ms", 0) is None and settings["confident_above"] != NO_CUES.confident_above:
            continue  # off: one row is enough
        vad, cues = split(base, settings)
        rows.append({"settings": settings, **score(tuning, vad, model, args, cues)})
    return rows


def split(base: VadConfig, settings: dict[str, Any]) -> tuple[VadConfig, Cues]:
    """A grid row's settings: the daemon's (`[vad]`) and the tried policy's (`Cues`)."""
    tried = {k: v for k, v in settings.items() if k in Cues.__dataclass_fields__}
    vad = base.model_copy(update={k: v for k, v in settings.items() if k not in tried})
    return vad, Cues(**tried)


def pick(rows: list[dict], most_cuts: int | None = None) -> dict:
    """The lowest median latency within the cut-off goal (else the fewest cut-offs), on the tuning set; with
    `most_cuts`, within that many cut-offs instead."""
    within = [r for r in rows if (r["cut_share"] <= GOAL_CUT if most_cuts is None else r["cut"] <= most_cuts)]
    if within:
        return min(within, key=lambda r: (r["latency_ms"]["p50"], r["latency_ms"]["p95"], r["cut"]))
    return min(rows, key=lambda r: (r["cut"], r["latency_ms"]["p50"]))


SEPARATION_MS = (100, 200, 300, 400)


def separation(utts: list[Utt], vad: VadConfig, model: TurnModelCache) -> dict[int, dict[str, float]]:
    """`--separation`: how well the model's P(complete) tells a real end from a mid-sentence pause when it is
    asked after 100–400 ms of (endpointer) silence — would asking it later in the pause help? ROC AUC, and the
    share of each that P ≥ 0.5 / 0.9 would end."""
    keep = WINDOW_S * 1000 // FRAME_MS
    heard_p: dict[int, dict[str, list[float]]] = {ms: {"end": [], "pause": []} for ms in SEPARATION_MS}
    for utt in utts:
        pcm = utt.pcm.tobytes()
        endpointer = _Replayed(vad.model_copy(update={"end_of_turn_silence_ms": 3000}))
        endpointer.verdicts = _verdicts(utt, pcm, vad.aggressiveness)
        heard: list[bytes] = []
        for i in range(len(pcm) // FRAME_BYTES):
            now = (i + 1) * FRAME_MS
            frame = pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]
            if any(isinstance(e, SpeechStarted) for e in endpointer.process(frame)):
                audio = endpointer.turn_audio()
                heard = [audio[j : j + FRAME_BYTES] for j in range(0, len(audio), FRAME_BYTES)]
                continue
            if not endpointer.in_turn:
                continue
            heard.append(frame)
            silence = endpointer.trailing_silence_ms
            if silence not in heard_p:
                continue
            if now - silence >= utt.speech_end_ms - 100:  # within webrtcvad's hangover of the real end
                kind = "end"
            elif utt.kind == "paused" and now < utt.speech_end_ms:
                kind = "pause"
            else:
                continue
            heard_p[silence][kind].append(model(utt, i, b"".join(heard[-keep:])))
    out = {}
    for ms, p in heard_p.items():
        ends, pauses = np.array(p["end"]), np.array(p["pause"])
        if not len(ends) or not len(pauses):
            continue
        above = (ends[:, None] > pauses[None, :]).mean() + 0.5 * (ends[:, None] == pauses[None, :]).mean()
        share = {f"{name}_p{int(t * 100)}": round(float((xs >= t).mean()), 2)
                 for name, xs in (("ends", ends), ("pauses", pauses)) for t in (0.5, 0.9)}  # fmt: skip
        out[ms] = {"ends": len(ends), "pauses": len(pauses), "auc": round(float(above), 3), **share}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--stt-ms", type=int, default=400, help="preview recognition time (default 400)")
    parser.add_argument("--model-ms", type=int, default=60, help="turn model answer time (default 60)")
    parser.add_argument("--words", choices=("reference", "whisper"), default="reference",
                        help="the preview words: reference text so far, or the bundled Whisper")  # fmt: skip
    parser.add_argument("--separation", action="store_true", help="only the model's AUC asked later in a pause")
    parser.add_argument("--cues", action="store_true", help="also tune the confident end of turn (CUES)")
    parser.add_argument("--tune-only", action="store_true", help="with --cues: score the choice on the tuning set only")
    parser.add_argument("--band", choices=("phone", "wide"), default="phone",
                        help="the line: 8 kHz μ-law (default) or 16 kHz wideband (G.722, slin16)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "sentiric-bench-turns")
    args = parser.parse_args()

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    from sentiric_pbx.engines.turn.smart_turn import SmartTurn
    from sentiric_pbx.models import resolve_model

    settings = Settings()
    utts = build_corpus(settings, args.cache, args.band)
    model = SmartTurn(resolve_model("bundled:smart-turn-v3", settings))
    model.load()
    model.warmup()
    cache = TurnModelCache(model, DiskCache(args.cache / "smart-turn-v3-answers.json"))
    args.stt = PreviewWords()
    if args.words == "whisper":
        from sentiric_pbx.engines.stt.whisper import WhisperStt

        cfg = settings.stt
        whisper = WhisperStt(
            resolve_model(cfg.whisper_model, settings), cfg.default_language, compute_type=cfg.whisper_compute_type,
            beam_size=cfg.whisper_beam_size, min_context_s=cfg.whisper_min_context_s,
        )  # fmt: skip
        whisper.load()
        key = f"{cfg.whisper_model}-{cfg.whisper_compute_type}-{cfg.whisper_beam_size}-{cfg.whisper_min_context_s}"
        name = f"whisper-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
        args.stt = PreviewWords(whisper, DiskCache(args.cache / name))
    base = settings.vad
    sets = {name: [u for u in utts if u.set == name] for name in ("tune", "held")}
    if args.separation:
        table = separation(sets["tune"], base, cache)
        cache.disk.save()
        print(json.dumps({str(ms): row for ms, row in table.items()}) if args.json else "\n".join(
            f"asked at {ms} ms: {r}" for ms, r in table.items()))  # fmt: skip
        return
    grid = tune(sets["tune"], base, cache, args)
    chosen = pick(grid)
    tuned = base.model_copy(update=chosen["settings"])
    cues: dict[str, Any] = {}
    if args.cues:
        cue_grid = tune(sets["tune"], tuned, cache, args, CUES)
        today = score(sets["tune"], tuned, cache, args)["cut"]
        choices = {"within the goal": pick(cue_grid), "no more cuts than today": pick(cue_grid, today)}
        for rule, chosen_row in choices.items():
            cued_vad, cued = split(tuned, chosen_row["settings"])
            cues[rule] = {"chosen": chosen_row["settings"],
                          "results": {name: score(us, cued_vad, cache, args, cued) for name, us in sets.items()
                                      if name == "tune" or not args.tune_only}}  # fmt: skip
        cues["grid"] = cue_grid
    report: dict[str, Any] = {
        "utterances": {
            name: {k: sum(u.kind == k for u in us) for k in ("paused", "whole", "short")} for name, us in sets.items()
        },
        "voices": list(VOICES),
        "stt_ms": args.stt_ms,
        "model_ms": args.model_ms,
        "chosen": chosen["settings"],
        "results": {
            name: {
                "rules": score(us, base, None, args),
                "rules+model (defaults)": score(us, base, cache, args),
                "rules+model (tuned)": score(us, tuned, cache, args),
            }
            for name, us in sets.items()
        },
        "model_inference_ms": {
            "p50": round(float(np.percentile(cache.times_ms or [0.0], 50)), 1),
            "p95": round(float(np.percentile(cache.times_ms or [0.0], 95)), 1),
            "n": len(cache.times_ms),
        },
        "grid": grid,
    }
    report["words"] = args.words
    if cues:
        report["cues"] = cues
    if args.stt.times_ms:
        report["whisper_decode_ms"] = {"p50": round(float(np.percentile(args.stt.times_ms, 50)), 1),
                                       "n": len(args.stt.times_ms)}  # fmt: skip
    for disk in (cache.disk, args.stt.disk):
        if disk is not None:
            disk.save()
    if args.json:
        print(json.dumps(report))
        return
    print(f"{len(utts)} utterances ({', '.join(VOICES)})")
    print(f"STT words {args.stt_ms} ms after the preview starts, the model's answer {args.model_ms} ms after asking")
    if report["model_inference_ms"]["n"]:
        print(f"model inference p50 {report['model_inference_ms']['p50']} ms, "
              f"p95 {report['model_inference_ms']['p95']} ms")  # fmt: skip
    else:
        print(f"model answers all from the cache ({args.cache}): no inference timed")
    print(f"chosen on the tuning set: {chosen['settings']}")
    print("| set | turn-taking | cut before the caller finished | silence → end of turn p50 / p95 (complete) |")
    print("| --- | --- | --- | --- |")
    for name, results in report["results"].items():
        for label, r in results.items():
            lat = r["latency_ms"]
            print(f"| {name} | {label} | {r['cut']}/{r['paused']} ({r['cut_share']:.1%}) | "
                  f"{lat['p50']:.0f} / {lat['p95']:.0f} ms |")  # fmt: skip
    for rule, chosen_cues in cues.items():
        if rule == "grid":
            continue
        print(f"cues chosen on the tuning set, {rule}: {chosen_cues['chosen']}")
        for name, r in chosen_cues["results"].items():
            lat = r["latency_ms"]
            print(f"| {name} | rules+model+cues ({rule}) | {r['cut']}/{r['paused']} ({r['cut_share']:.1%}) | "
                  f"{lat['p50']:.0f} / {lat['p95']:.0f} ms |")  # fmt: skip

if __name__ == "__main__":
    main()

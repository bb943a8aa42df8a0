"""The assistant agent: what `[agent] mode = "assistant"` runs for every call.

It owns what calls share (engines, stores, CRM, calendar, post-call queue) and gives each call a
`CallSession`. Two things happen before a call's audio arrives, to make the first word fast:
  * at start-up, the phrases every call may say (plain greeting, reprompt, apology) are synthesized
    once and cached;
  * the call's language (dialog/language.py: dialplan, CRM, number, default) picks its STT and its voice
    before the greeting, which is already in that language;
  * at FastAGI registration (`prefetch`), the CRM lookup for the caller starts, so by the time
    AudioSocket connects the profile is usually there. The greeting waits for it at most
    `[dialog] crm_lookup_timeout_s`, then greets without the name.
After the call: the context is finished in the store and the seed's post-call jobs (summary,
archive, analytics) are queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.aio import within
from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.call.transport import CallInfo, CallTransport
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.brain import PHRASES, AssistantBrain, phrase
from sentiric_pbx.dialog.greeting import WRITTEN, greeting_text
from sentiric_pbx.dialog.language import CallLanguage, call_language
from sentiric_pbx.dialog.session import CallSession
from sentiric_pbx.dialog.tasks.registry import default_registry
from sentiric_pbx.dialog.unsaved import UnsavedRecords
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.engines.tts.cache import CachedTts
from sentiric_pbx.integrations.calendar.base import Calendar
from sentiric_pbx.integrations.crm.base import Crm, CustomerProfile
from sentiric_pbx.integrations.crm.factory import lookup_caller
from sentiric_pbx.postcall.queue import JobQueue
from sentiric_pbx.postcall.worker import enqueue_postcall
from sentiric_pbx.storage.context_store import ContextStore
from sentiric_pbx.storage.greetings import GreetingStore
from sentiric_pbx.storage.recording_upload import RecordingUploader

log = structlog.get_logger("sentiric_pbx.assistant")


@dataclass(slots=True)
class Services:
    """What every call of the assistant shares."""

    settings: Settings
    engines: EnginePool
    store: ContextStore
    crm: Crm | None
    calendar: Calendar
    queue: JobQueue | None
    fallback_queue: JobQueue | None
    recordings_dir: Path
    greetings: GreetingStore | None = None
    """Greetings written for known callers after their last call (dialog/next_greeting.py)."""
    uploader: RecordingUploader | None = None
    """With `[storage] recordings_url`: copies each finished recording to the store every host reads."""


class Assistant:
    def __init__(self, services: Services) -> None:
        self.s = services
        settings = services.settings
        assert services.engines.tts is not None
        self.tts = CachedTts(services.engines.tts)  # type: ignore[arg-type]
        """The default voice; `voice_for(language)` gives a call's."""
        self.voices = {lang: CachedTts(v) for lang, v in services.engines.voices.items()}  # type: ignore[arg-type]
        self.brain = AssistantBrain(settings, services.calendar, default_registry(), services.engines.llm)
        self._lookups: dict[str, asyncio.Task[CustomerProfile | None]] = {}
        self.sessions: dict[str, CallSession] = {}
        """The calls in conversation now, by call id (the web console's live view reads them)."""
        self.unsaved = UnsavedRecords(self._store_record)
        """Finished records the database refused (disk full, read-only): kept, retried, then their jobs queued."""

    async def start(self) -> None:
        from sentiric_pbx.dialog import nlu

        await asyncio.to_thread(nlu.warmup)  # dateparser loads its language data on first use (~0.2 s)
        business = self.s.settings.business.name
        default = getattr(self.tts.tts, "language", "en")
        for lang, phrases in PHRASES.items():
            if lang == default or lang in self.voices:
                await self.voice_for(lang).preload(greeting_text(None, business, lang), *phrases.values())
        cached = len(self.tts._cache) + sum(len(v._cache) for v in self.voices.values())
        log.info("assistant_ready", cached_phrases=cached, voices={k: v.name for k, v in self.voices.items()})

    def voice_for(self, language: str) -> CachedTts:
        """The (cached) voice of a call in `language`: its own if the pool has one, else the default."""
        return self.voices.get(language, self.tts)

    def _language(self, info: CallInfo, crm: str | None) -> CallLanguage:
        caller = normalize_e164(info.caller_id, self.s.settings.business.default_country_code)
        heard = [lang for lang in self.s.settings.stt.engines if lang != "default"]
        return call_language(self.s.settings.language, channel=info.language, crm=crm, heard=heard,
                             called_number=info.called_number, caller_e164=caller, call_id=info.call_id)  # fmt: skip

    # -- before the call ---------------------------------------------------------------------
    def prefetch(self, info: CallInfo) -> None:
        """FastAGI registered a call: start its CRM lookup now (the audio leg follows in ms)."""
        if info.call_id not in self._lookups:
            self._lookups[info.call_id] = asyncio.create_task(self._lookup(info))

    def forget(self, call_id: str) -> None:
        """The registration expired with no call to claim it (`CallRegistry.on_expire`): drop its lookup, so the
        cache lives exactly as long as the registrations it was started for."""
        task = self._lookups.pop(call_id, None)
        if task is not None:
            task.cancel()

    async def _lookup(self, info: CallInfo) -> CustomerProfile | None:
        phone = normalize_e164(info.caller_id, self.s.settings.business.default_country_code)
        if phone is None or self.s.crm is None:
            return None
        profile = await lookup_caller(self.s.crm, phone)
        if profile is not None and self.s.greetings is not None:
            lang = self._language(info, profile.language).code
            try:
                written = await self.s.greetings.get(phone, lang)
            except Exception as exc:  # our own table: never worth a template-less call
                log.warning("next_greeting_lookup_failed", error=repr(exc))
                written = None
            if written is not None:
                profile.extra = {**profile.extra, WRITTEN: written.text}
        return profile

    async def _profile(self, info: CallInfo) -> CustomerProfile | None:
        task = self._lookups.pop(info.call_id, None) or asyncio.create_task(self._lookup(info))
        try:
            async with asyncio.timeout(self.s.settings.dialog.crm_lookup_timeout_s):
                return await asyncio.shield(task)
        except TimeoutError:
            log.info("crm_lookup_slow", waited_s=self.s.settings.dialog.crm_lookup_timeout_s)
            return None

    # -- the call ----------------------------------------------------------------------------
    async def __call__(self, transport: CallTransport) -> None:
        await self._converse(transport)

    async def busy(self, transport: CallTransport) -> None:
        """Every line is taken (`[agent] max_calls`, claimed by the call's `CallLife`): say so politely (a cached
        phrase, no engine work), hang up, and keep a record of the call as `rejected_busy`."""
        info = transport.info
        self._lookups.pop(info.call_id, None)
        ctx = CallContext(
            call_id=info.call_id,
            caller_id=normalize_e164(info.caller_id, self.s.settings.business.default_country_code),
            caller_name=info.caller_name,
            called_number=info.called_number,
            language=self._language(info, None).code,
            ingress=info.ingress,
        )
        ctx.outcome = "rejected_busy"
        metrics.CALLS_BY_OUTCOME.labels(outcome="rejected_busy").inc()
        with contextlib.suppress(Exception):
            async for pcm in self.voice_for(ctx.language).synthesize(phrase(ctx.language, "busy")):
                transport.play(pcm)
            await within(transport.wait_played(), 15)
        with contextlib.suppress(Exception):
            await transport.hangup()
        try:
            await self.s.store.finish(ctx, "rejected_busy")
        except Exception as exc:
            log.error("context_finish_failed", error=repr(exc))

    async def _converse(self, transport: CallTransport) -> None:
        info = transport.info
        profile = await self._profile(info)
        language = self._language(info, profile.language if profile is not None else None)
        session = CallSession(
            self.s.settings,
            transport,
            stt=self.s.engines.stt_for(language.code),
            tts=self.voice_for(language.code),
            brain=self.brain,
            save=self.s.store.save,
            finish=self._finish,
            recording_path=self.s.recordings_dir / f"{info.call_id}.wav",
        )
        session.ctx.language = language.code
        if profile is not None:
            session.ctx.customer = asdict(profile)
        log.info("assistant_call", known_caller=profile is not None, language=language.code,
                 language_from=language.source)  # fmt: skip
        self.sessions[info.call_id] = session
        try:
            await session.run()
        finally:
            self.sessions.pop(info.call_id, None)

    async def _finish(self, ctx: CallContext) -> None:
        """The call is over: store its record and queue its post-call work now, or as soon as the database
        takes them (`UnsavedRecords`: a full or read-only disk must not leave the call `active` for good)."""
        await self.unsaved.finish(ctx)

    async def _store_record(self, ctx: CallContext) -> None:
        """Make the record durable first, then queue the post-call work (seed §5); raise if either fails.

        With a shared recordings store the record names the recording by its URL there before the
        upload starts: a job on another host then knows what to wait for (the upload is in the background,
        retried until the store has it; the local file goes only then)."""
        uploader = self.s.uploader
        local = Path(ctx.recording_path) if ctx.recording_path else None
        if uploader is not None and local is not None and local.is_file():
            ctx.recording_url = uploader.url_of(ctx.call_id)
        await self.s.store.finish(ctx, ctx.status)
        if uploader is not None and local is not None and ctx.recording_url:
            uploader.submit(local)
        if self.s.queue is not None:
            await enqueue_postcall(self.s.queue, ctx, self.s.fallback_queue)

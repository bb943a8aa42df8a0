"""The three post-call jobs of seed §5 — `summary`, `archive`, `analytics` — as queue handlers.

Each is idempotent: the queue delivers at least once (a worker may die after the work and before
the acknowledgement), so running a job twice must leave the same state as running it once —
upserts keyed by call_id, files renamed into place, a summary reused rather than rewritten.

A job finds its call in the `ContextStore` (the record the daemon finished) and falls back to the
snapshot `enqueue_postcall` put in the payload, so a job still runs when the store has expired
the context or was unreachable when the call ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmEngine
from sentiric_pbx.integrations.crm.base import CallSummary, Crm
from sentiric_pbx.postcall.analytics import analyze_call, save_analytics
from sentiric_pbx.postcall.archive import archive_call, archive_stored_call
from sentiric_pbx.postcall.queue import Job
from sentiric_pbx.postcall.summary import write_summary
from sentiric_pbx.storage.context_store import ContextStore
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.paths import archive_dir, db_path
from sentiric_pbx.storage.recording_store import RecordingStore

log = structlog.get_logger("sentiric_pbx.postcall.jobs")

Handler = Callable[[Job], Awaitable[None]]

SUMMARY, ARCHIVE, ANALYTICS = "summary", "archive", "analytics"
KINDS = (SUMMARY, ARCHIVE, ANALYTICS)


class MissingContext(Exception):
    """Neither the store nor the payload has this call (yet): retry later."""


async def load_context(job: Job, contexts: ContextStore | None) -> CallContext:
    """The call's context: the stored record, unless the payload's snapshot is further along."""
    stored = await contexts.load(job.call_id) if contexts is not None else None
    raw = job.payload.get("context")
    snapshot = CallContext.from_dict(raw) if isinstance(raw, dict) else None
    if stored is None:
        if snapshot is None:
            raise MissingContext(f"no context for call {job.call_id}")
        return snapshot
    if snapshot is None:
        return stored
    behind = len(stored.turns) < len(snapshot.turns) or (stored.ended_at is None and snapshot.ended_at is not None)
    if behind:
        snapshot.summary = snapshot.summary or stored.summary
        return snapshot
    return stored


AfterSummary = Callable[[CallContext, str], Awaitable[object]]
"""A step run once a call's summary is written, with the call and the summary (the next greeting)."""


class SummaryJob:
    """summary → CRM and onto the call record. The LLM writes it if it answers within `llm_budget_s`.

    `after` runs once, when the summary is first written (not on a retry for a CRM outage); its failure
    is logged and costs the summary nothing."""

    def __init__(
        self,
        contexts: ContextStore | None,
        crm: Crm | None,
        llm: LlmEngine | None = None,
        llm_budget_s: float = 10.0,
        after: AfterSummary | None = None,
        temperature: float | None = None,
    ) -> None:
        self.contexts = contexts
        self.crm = crm
        self.llm = llm
        self.llm_budget_s = llm_budget_s
        self.after = after
        self.temperature = temperature

    async def __call__(self, job: Job) -> None:
        context = await load_context(job, self.contexts)
        if context.summary:
            text, method = context.summary, "reused"  # a rerun: the CRM gets the same text again
        else:
            text, method = await write_summary(context, self.llm, self.llm_budget_s, self.temperature)
            context.summary = text
            context.outcome = context.outcome or context.status
            if self.contexts is not None:
                # Saved before the CRM call so a CRM outage's retries do not ask the LLM again. `finish`, not
                # `save`: the call is over, and with Redis in front a save reaches Redis alone (its TTL), while
                # `calls list|show` on every host read the durable record (the site store).
                await self.contexts.finish(context, context.status)
            if self.after is not None:
                try:
                    await self.after(context, text)
                except Exception as exc:
                    log.warning("after_summary_failed", error=repr(exc))
        if self.crm is not None:
            await self.crm.save_call_summary(
                CallSummary(
                    call_id=context.call_id,
                    customer_id=(context.customer or {}).get("customer_id"),
                    phone=context.caller_id,
                    started_at=context.started_at,
                    ended_at=context.ended_at,
                    outcome=context.outcome or context.status,
                    summary=text,
                    intents=list(dict.fromkeys(context.intents)),
                )
            )
        log.info("summary_saved", method=method, chars=len(text), crm=self.crm is not None)


class ArchiveJob:
    """Recording + transcript into `<archive>/<YYYY>/<MM>/<DD>/`. Old days go with the daily retention
    sweep (retention.py), which runs whether or not calls are being archived."""

    def __init__(
        self,
        archive_dir: Path,
        db_path: Path,
        contexts: ContextStore | None = None,
        move: bool = True,
        recordings: RecordingStore | None = None,
    ) -> None:
        self.archive_dir = archive_dir
        self.db_path = db_path
        self.contexts = contexts
        self.move = move
        self.recordings = recordings
        """`[storage] recordings_url`: a call recorded into it is archived there, on whatever host runs this."""

    async def __call__(self, job: Job) -> None:
        context = await load_context(job, self.contexts)
        if context.recording_url:
            if self.recordings is None:  # the answering host uploaded it; this one cannot read it
                raise LookupError(
                    f"the recording is in {context.recording_url.split('://')[0]}:// but this host has no"
                    " [storage] recordings_url: set the site's on every worker"
                )
            result = await archive_stored_call(context, self.recordings, self.db_path)
        else:
            result = await archive_call(context, self.archive_dir, self.db_path, move=self.move)
        log.info("call_archived", wav=str(result.wav_path) if result.wav_path else None, turns=len(context.turns))


class AnalyticsJob:
    """Sentiment, durations, talk time, silence, interruptions, latency → `analytics_calls`."""

    def __init__(self, db_path: Path | Database, contexts: ContextStore | None = None) -> None:
        self.db_path = db_path
        self.contexts = contexts

    async def __call__(self, job: Job) -> None:
        context = await load_context(job, self.contexts)
        # VADER is pure Python; a long call's turns take milliseconds, but not on the playout loop.
        result = await asyncio.to_thread(analyze_call, context)
        await save_analytics(self.db_path, result)
        log.info(
            "call_analyzed",
            duration_s=result.duration_s,
            interruptions=result.interruptions,
            latency_p50_ms=result.latency_p50_ms,
            caller_sentiment=result.caller_sentiment,
        )


def build_handlers(
    settings: Settings,
    *,
    contexts: ContextStore | None,
    crm: Crm | None,
    llm: LlmEngine | None,
    after_summary: AfterSummary | None,
    site: Database | None = None,
    recordings: RecordingStore | None = None,
) -> dict[str, Handler]:
    """The kind → handler map a `PostcallWorker` runs, as `[postcall]` and `[storage]` configure it: built
    here once for the daemon's in-process workers and for `sentiric-pbx worker`, so the two never differ.

    `llm`: the post-call model (`postcall_llm`); `after_summary`: what runs on the note (the next greeting).
    `site`: the daemon's database; when it is the PostgreSQL site store, analytics go there (every host
    reads them), while the archive records stay in the host's file at `db_path` with the files they name.
    `recordings`: the shared recordings store ([storage] recordings_url), where calls recorded into it are
    archived."""
    host_db = db_path(settings)
    budget, temperature = settings.postcall.llm_budget_s, settings.postcall.llm_temperature
    analytics: Path | Database = site if site is not None and site.dialect == "postgresql" else host_db
    return {
        SUMMARY: SummaryJob(contexts, crm, llm, budget, after_summary, temperature),
        ARCHIVE: ArchiveJob(archive_dir(settings), host_db, contexts, recordings=recordings),
        ANALYTICS: AnalyticsJob(analytics, contexts),
    }

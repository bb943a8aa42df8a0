"""The call summary the CRM keeps (seed §5): what the caller wanted, what was done, what was booked.

Two ways to write it. An LLM writes the nicer note when one is configured and answers within its
budget; the extractive summary is built from facts the call already recorded (intents, finished
tasks, the booking) and is always available, so a slow or absent model never loses a summary.
Whatever the LLM writes, a booked time it left out is appended: the booking is the fact a
receptionist reading the CRM needs most, and a small model drops it more often than one would like.

Booking facts are read from the context by convention: a dict under `slots["booking"]`,
`task_state["booking"]` or `task_state[<task>]["booking"]` with `start` (ISO 8601 datetime, or
unix seconds), and optionally `end`, `booking_id`, `name`. A finished task is a `task_state[<task>]`
dict whose `status` is done/completed/booked/confirmed, or a name listed in `task_state["done"]`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.engines.base import ChatMessage, LlmEngine, LlmRequest

log = structlog.get_logger("sentiric_pbx.postcall.summary")

_DONE = {"done", "completed", "complete", "booked", "confirmed", "succeeded"}
_MAX_TRANSCRIPT_CHARS = 3000
"""The tail of the transcript the LLM sees: the local model's context is 2048 tokens."""


def _when(value: Any) -> tuple[datetime | None, str]:
    """A booking time → (datetime, "Fri 14 Mar 2025 15:00"), in the time zone it was recorded in."""
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError, OverflowError):
        return None, str(value)
    return moment, moment.strftime("%a %d %b %Y %H:%M")


def bookings(context: CallContext) -> list[dict[str, Any]]:
    """Every booking dict the call recorded (see the module docstring for where they are looked up)."""
    found: list[dict[str, Any]] = []
    candidates: list[Any] = [context.slots.get("booking"), context.task_state.get("booking")]
    candidates += [v.get("booking") for v in context.task_state.values() if isinstance(v, dict)]
    for item in candidates:
        if isinstance(item, dict) and item.get("start") is not None and item not in found:
            found.append(item)
    return found


def booking_texts(context: CallContext) -> list[str]:
    """Each booking as "Fri 14 Mar 2025 15:00 (booking B-17, for Ahmet Yılmaz)"."""
    texts = []
    for booking in bookings(context):
        _, start = _when(booking["start"])
        extra = [f"booking {booking['booking_id']}"] if booking.get("booking_id") else []
        extra += [f"for {booking['name']}"] if booking.get("name") else []
        texts.append(start + (f" ({', '.join(extra)})" if extra else ""))
    return texts


def tasks_done(context: CallContext) -> list[str]:
    listed = context.task_state.get("done")
    done = [str(t) for t in listed] if isinstance(listed, list) else []
    for name, state in context.task_state.items():
        if isinstance(state, dict) and str(state.get("status", "")).lower() in _DONE and name not in done:
            done.append(name)
    return done


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _duration(context: CallContext) -> str:
    end = context.ended_at or (context.started_at + max((t.end_s for t in context.turns), default=0.0))
    seconds = max(0, round(end - context.started_at))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def extractive_summary(context: CallContext) -> str:
    """A summary from recorded facts only; never invents anything, never needs a model.

    >>> ctx = CallContext("c1", caller_id="+905551112233", started_at=0.0, ended_at=75.0, status="completed")
    >>> ctx.slots["booking"] = {"start": "2025-03-14T15:00:00+03:00"}
    >>> extractive_summary(ctx)
    'Caller +905551112233 called (1 min 15 s). Booked: Fri 14 Mar 2025 15:00. Outcome: completed.'
    """
    who = context.caller_name or (context.customer or {}).get("name") or context.caller_id or "An anonymous caller"
    parts = [f"{'Caller ' if who != 'An anonymous caller' else ''}{who} called ({_duration(context)})."]
    intents = _unique([i.replace("_", " ") for i in context.intents])
    if intents:
        parts.append(f"Asked about: {', '.join(intents)}.")
    done = _unique([t.replace("_", " ") for t in tasks_done(context)])
    if done:
        parts.append(f"Done: {', '.join(done)}.")
    booked = booking_texts(context)
    if booked:
        parts.append(f"Booked: {'; '.join(booked)}.")
    outcome = context.outcome or context.status
    if context.status == "unfinished_call":
        parts.append(
            f"The line dropped before the call was finished (unfinished_call) after {len(context.turns)} turns."
        )
    else:
        parts.append(f"Outcome: {outcome}.")
    first = next((t.text.strip() for t in context.turns if t.who == "caller" and t.text.strip()), None)
    if first and not intents:
        parts.append(f'Caller said: "{first[:160]}".')
    return " ".join(parts)


def _llm_request(context: CallContext, temperature: float | None = None) -> LlmRequest:
    lines = [f"{'Caller' if t.who == 'caller' else 'Agent'}: {t.text}" for t in context.turns if t.text.strip()]
    transcript = "\n".join(lines)[-_MAX_TRANSCRIPT_CHARS:]
    facts = extractive_summary(context)
    messages: list[ChatMessage] = [
        {
            "role": "system",
            "content": "Write a note for the CRM about this phone call in two or three sentences of your own: who "
            "called, what they wanted, what was agreed (with the exact date and time as the facts give them, not "
            "'tomorrow'), and any follow-up. Do not copy the transcript. Plain text only.",
        },
        {"role": "user", "content": f"Facts: {facts}\n\nTranscript:\n{transcript}\n\nCRM note:"},
    ]
    return LlmRequest(messages=messages, max_tokens=160, temperature=0.2 if temperature is None else temperature)


def _copies(text: str, context: CallContext) -> bool:
    """A "note" that is the transcript again: speaker labels, or any turn of 40+ characters verbatim (a small
    model asked for a summary often echoes its input — Qwen2.5-Coder-1.5B did in the demo)."""
    if "Caller:" in text or "Agent:" in text:
        return True
    return any(len(t.text) >= 40 and t.text.strip() in text for t in context.turns)


async def llm_summary(
    llm: LlmEngine, context: CallContext, budget_s: float, temperature: float | None = None
) -> str | None:
    """The LLM's note, or None if it is slow, fails or says nothing (the caller falls back)."""
    try:
        request = _llm_request(context, temperature)
        text = (await within(llm.complete(request), budget_s)).strip()
    except TimeoutError:
        log.warning("summary_llm_timeout", engine=getattr(llm, "name", "?"), budget_s=budget_s)
        return None
    except Exception as exc:  # any engine error: the extractive summary still goes out
        log.warning("summary_llm_failed", engine=getattr(llm, "name", "?"), error=repr(exc))
        return None
    if not text:
        return None
    if _copies(text, context):
        log.info("summary_llm_copied", chars=len(text))  # the model echoed the call: the extractive note is better
        return None
    for booking in bookings(context):
        moment, label = _when(booking["start"])
        if moment is None or not _says_time(text, moment):
            text += f" Booked: {label}."
    return text


def _says_time(text: str, moment: datetime) -> bool:
    """The note names the booked time: "14:00", or as people write it, "2 PM" / "2:00 p.m." (Qwen2.5 does)."""
    if moment.strftime("%H:%M") in text:
        return True
    hour, minute = moment.hour % 12 or 12, f":{moment.minute:02d}"
    optional = f"(?:{minute})?" if moment.minute == 0 else minute
    half = "a" if moment.hour < 12 else "p"
    return re.search(rf"\b{hour}{optional}\s*{half}\.?\s?m\b", text, re.IGNORECASE) is not None


async def write_summary(
    context: CallContext, llm: LlmEngine | None = None, llm_budget_s: float = 10.0, temperature: float | None = None
) -> tuple[str, str]:
    """(summary text, method): "llm" when the model answered in time, else "extractive"."""
    if llm is not None:
        text = await llm_summary(llm, context, llm_budget_s, temperature)
        if text:
            return text, "llm"
    return extractive_summary(context), "extractive"

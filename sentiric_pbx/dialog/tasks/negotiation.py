"""Agreeing on a time: the part of booking (and rescheduling) that goes back and forth with the caller.

One step of `negotiate()` reads the caller's turn and the state so far and either answers (ask for a
time, offer two free slots, ask "Shall I book you for Thursday at 3 pm?") or returns the `Slot` the
caller has just said yes to — the task then books it. State, in the dict the task passes:

    pending  {"start", "end"} of the slot we asked the caller to confirm, or absent
    offered  [{"start", "end"}, ...] the free slots we offered last
    day      ISO date we are talking about, so "make it 4" means 4 pm *that* day
    ref      ISO start of the appointment being moved, so "an hour later" means an hour after it

Rules, in the order the seed's `ReservationTask` needs them:
- no time named yet → ask when;
- a day or daypart → offer the first two free slots in it (day full → say so, offer the next two;
  closed then → say the hours, offer the nearest two); a week ("next week") the same, over its days;
- an exact time: outside business hours → say the hours, offer the nearest two; in the past, or sooner
  than `[business] min_notice_minutes` → offer the next two; taken → say so, offer the next two; free →
  confirm before booking;
- "yes" to a confirmation → that slot is agreed; "no" → ask for another time; "no, make it 4" → a
  correction, confirmed again;
- after an offer: "the second one", or a time that is one of them → confirm it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult, TaskStatus
from sentiric_pbx.dialog.tasks.facts import local_now, slot_fact, slot_from_state, slot_to_state
from sentiric_pbx.dialog.tasks.phrases import hours_sentence, say
from sentiric_pbx.dialog.tasks.speech import spoken_choice, spoken_day
from sentiric_pbx.dialog.tasks.when import Requested, asks_when, either_will_do, ordinal_choice, requested_time
from sentiric_pbx.integrations.calendar.base import Slot
from sentiric_pbx.integrations.calendar.hours import BusinessHours

SEARCH_DAYS = 14
"""How far ahead we look for "the nearest free times". Defaults to 14 days."""
OFFER_COUNT = 2
"""Slots offered at once: two is a choice a caller can hold in their head on the phone."""


@dataclass(frozen=True, slots=True)
class Wording:
    """Phrase keys of one flow (booking vs moving) and extra words its sentences need (e.g. {"old": ...})."""

    ask: str = "ask_when"
    confirm: str = "confirm"
    correction: str = "confirm_correction"
    extra: dict[str, str] = field(default_factory=dict)


def _result(
    ctx: TaskContext,
    status: TaskStatus,
    key: str,
    wording: Wording,
    expects: str | None,
    words: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
) -> TaskResult:
    """`words` fill the template; `facts` travel with it. Every facts[…]["spoken"] is said verbatim."""
    template = say(ctx.language, key, **wording.extra, **(words or {}))
    return TaskResult(status, template, facts=facts or {}, expects=expects)


def _choice_facts(ctx: TaskContext, slots: list[Slot]) -> tuple[str, dict[str, Any]]:
    choice = spoken_choice([s.start for s in slots], local_now(ctx), ctx.language)
    return choice, {"choice": {"spoken": choice}, "offered": [slot_fact(ctx, s, said=False) for s in slots]}


async def offer(ctx: TaskContext, st: dict[str, Any], slots: list[Slot], key: str, wording: Wording,
                words: dict[str, Any] | None = None, facts: dict[str, Any] | None = None) -> TaskResult:  # fmt: skip
    """Offer `slots` (remembered in `st["offered"]`); none at all → failed, nothing free to offer."""
    st.pop("pending", None)
    if not slots:
        st.pop("offered", None)
        return _result(ctx, "failed", "no_free", wording, None, {"days": SEARCH_DAYS}, {"search_days": SEARCH_DAYS})
    st["offered"] = [slot_to_state(s) for s in slots]
    st["day"] = slots[0].start.date().isoformat()
    choice, offered = _choice_facts(ctx, slots)
    return _result(
        ctx, "ask", key, wording, "choice", {**(words or {}), "choice": choice}, {**(facts or {}), **offered}
    )


def confirm(ctx: TaskContext, st: dict[str, Any], slot: Slot, wording: Wording, correction: bool) -> TaskResult:
    st["pending"] = slot_to_state(slot)
    st["day"] = slot.start.date().isoformat()
    fact = slot_fact(ctx, slot)
    key = wording.correction if correction else wording.confirm
    facts = {"slot": fact, "correction": correction}
    return _result(ctx, "confirm", key, wording, "confirmation", {"when": fact["spoken"]}, facts)


def earliest(ctx: TaskContext) -> datetime:
    """The first moment a booking may start: now, plus the notice the business asks for."""
    return ctx.now + timedelta(minutes=ctx.business.min_notice_minutes)


async def nearest(ctx: TaskContext, start: datetime) -> list[Slot]:
    """The first free slots at or after `start` (never sooner than `earliest`)."""
    start = max(start, earliest(ctx))
    return await ctx.calendar.free_slots(start, start + timedelta(days=SEARCH_DAYS), limit=OFFER_COUNT)


async def _offer_instead(ctx: TaskContext, st: dict[str, Any], slot: Slot, key: str, wording: Wording) -> TaskResult:
    taken = slot_fact(ctx, slot)
    nxt = await nearest(ctx, slot.end)
    return await offer(ctx, st, nxt, key, wording, {"when": taken["spoken"]}, {"taken": taken})


async def offer_after_taken(ctx: TaskContext, st: dict[str, Any], slot: Slot, wording: Wording) -> TaskResult:
    """The caller said yes, but another call booked the slot a moment earlier: apologise, offer the next two."""
    return await _offer_instead(ctx, st, slot, "offer_taken_meanwhile", wording)


async def _offer_closed(ctx: TaskContext, st: dict[str, Any], start: datetime, wording: Wording) -> TaskResult:
    text = hours_sentence(ctx.business, ctx.language)
    return await offer(ctx, st, await nearest(ctx, start), "offer_closed", wording, {"hours": text},
                       {"opening_hours": text})  # fmt: skip


async def _consider_exact(ctx: TaskContext, st: dict[str, Any], at: datetime, wording: Wording,
                          correction: bool) -> TaskResult:  # fmt: skip
    hours = BusinessHours(ctx.business)
    if at < earliest(ctx):
        key = "offer_past" if at < ctx.now else "offer_soon"
        return await offer(ctx, st, await nearest(ctx, ctx.now), key, wording)
    slot = hours.slot_at(at)
    if slot is None:
        if not hours.is_open_at(at):
            return await _offer_closed(ctx, st, at, wording)
        # Open, but between grid slots (3:10 with 30 min slots): offer the ones around it.
        floor = at - timedelta(minutes=(at.minute % hours.slot_minutes))
        return await offer(ctx, st, await nearest(ctx, floor.replace(second=0, microsecond=0)), "offer", wording)
    free = await ctx.calendar.free_slots(slot.start, slot.end, limit=1)
    if free and free[0].start == slot.start:
        return confirm(ctx, st, free[0], wording, correction)
    return await _offer_instead(ctx, st, slot, "offer_taken", wording)


async def _consider_week(ctx: TaskContext, st: dict[str, Any], req: Requested, wording: Wording) -> TaskResult:
    """ "Next week", "haftaya öğleden sonra": the first free slots in its days (their part of the day, if said)."""
    assert req.start is not None and req.end is not None and req.day is not None
    hours = BusinessHours(ctx.business)
    first = earliest(ctx)
    windows = [(max(lo, first), hi) for lo, hi in req.windows if hi > first]
    windows = [(lo, hi) for lo, hi in windows if next(hours.slots_between(lo, hi), None) is not None]
    if not windows:  # "next week in the evening": closed then; the nearest from the week's first day
        week_start = req.start.replace(hour=0, minute=0, second=0, microsecond=0)
        return await _offer_closed(ctx, st, max(week_start, first), wording)
    slots: list[Slot] = []
    for lo, hi in windows:
        slots += await ctx.calendar.free_slots(lo, hi, limit=OFFER_COUNT - len(slots))
        if len(slots) >= OFFER_COUNT:
            break
    if slots:
        return await offer(ctx, st, slots, "offer", wording)
    full = {"full_week": {"from": req.day.isoformat()}}
    return await offer(ctx, st, await nearest(ctx, req.end), "offer_week_full", wording, facts=full)


async def _consider_window(ctx: TaskContext, st: dict[str, Any], req: Requested, wording: Wording) -> TaskResult:
    assert req.start is not None and req.end is not None and req.day is not None
    if req.windows:
        return await _consider_week(ctx, st, req, wording)
    hours = BusinessHours(ctx.business)
    if req.end <= ctx.now:
        return await offer(ctx, st, await nearest(ctx, ctx.now), "offer_past", wording)
    start = max(req.start, earliest(ctx))
    if next(hours.slots_between(start, req.end), None) is None:
        if next(hours.slots_between(max(req.start, ctx.now), req.end), None) is not None:
            return await offer(ctx, st, await nearest(ctx, start), "offer_soon", wording)
        # Closed then (a Sunday, "tomorrow evening"): "fully booked" would be a lie — say the hours.
        return await _offer_closed(ctx, st, start, wording)
    slots = await ctx.calendar.free_slots(start, req.end, limit=OFFER_COUNT)
    if slots:
        return await offer(ctx, st, slots, "offer", wording)
    day = spoken_day(req.start, local_now(ctx), ctx.language)
    full = {"full_day": {"date": req.day.isoformat(), "spoken": day}}
    return await offer(ctx, st, await nearest(ctx, req.end), "offer_day_full", wording, {"day": day}, full)


def _shifted(ctx: TaskContext, st: dict[str, Any], pending: Slot | None) -> Requested | None:
    """ "An hour later", "yarım saat erken": the time under discussion (the one we asked to confirm, else the first
    offered, else the appointment being moved, `st["ref"]`) shifted; with none, no guess ("3 saat sonra")."""
    try:
        minutes = int(ctx.turn.entities.get("shift", ""))
    except ValueError:
        return None
    offered = st.get("offered") or []
    if pending is not None:
        ref = pending.start
    elif offered:
        ref = slot_from_state(offered[0]).start
    elif st.get("ref"):
        ref = datetime.fromisoformat(st["ref"])
    else:
        return None
    return Requested(exact=ref + timedelta(minutes=minutes))


def _pick_offered(ctx: TaskContext, offered: list[Slot]) -> Slot | None:
    index = ordinal_choice(ctx.turn.text, len(offered))
    if index is None and either_will_do(ctx.turn.text):
        index = 0  # "Farketmez", "either is fine": the first, which is the sooner
    if index is not None:
        return offered[index]
    if ctx.turn.intent == "affirm" and len(offered) == 1:
        return offered[0]
    return None


async def negotiate(ctx: TaskContext, st: dict[str, Any], wording: Wording | None = None) -> TaskResult | Slot:
    """One step towards an agreed time: a `TaskResult` to speak, or the `Slot` the caller agreed to."""
    wording = wording or Wording()
    hours = BusinessHours(ctx.business)
    hint = date.fromisoformat(st["day"]) if st.get("day") else None
    req = requested_time(ctx.turn.entities, hours, ctx.now, hint)
    pending = slot_from_state(st["pending"]) if st.get("pending") else None
    if req is None:
        req = _shifted(ctx, st, pending)
    intent = ctx.turn.intent

    if pending is not None and (req is None or req.exact == pending.start):
        # "Evet, randevu oluşturun" / "Yes, move it": the action we asked about, said again, is a yes
        if intent in ("affirm", ctx.call.active_task) or (req is not None and intent != "deny"):
            return pending
        if intent == "deny":
            st.pop("pending", None)
            return _result(ctx, "ask", "ask_other_time", wording, "datetime")
        return confirm(ctx, st, pending, wording, correction=False)

    if req is None:
        offered = [slot_from_state(s) for s in st.get("offered", [])]
        if offered:
            picked = _pick_offered(ctx, offered)
            if picked is not None:
                return confirm(ctx, st, picked, wording, correction=False)
            if intent == "deny":
                st.pop("offered", None)
                return _result(ctx, "ask", "ask_other_time", wording, "datetime")
            choice, facts = _choice_facts(ctx, offered)
            return _result(ctx, "ask", "offer_which", wording, "choice", {"choice": choice}, facts)
        if asks_when(ctx.turn.text):  # "Ne zaman müsaitsiniz?": offer the nearest, rather than ask again
            return await offer(ctx, st, await nearest(ctx, ctx.now), "offer", wording)
        return _result(ctx, "ask", wording.ask, wording, "datetime")

    if req.exact is not None:
        return await _consider_exact(ctx, st, req.exact, wording, correction=pending is not None)
    return await _consider_window(ctx, st, req, wording)

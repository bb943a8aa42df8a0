"""Task routing (seed §3, step 4): which task handles this turn, and what the call remembers afterwards.

- A turn whose intent has a task starts (or continues) that task. Switching to another task drops the
  old one's state: "actually, cancel my appointment" abandons the half-made booking.
- "yes", "no" and anything else without a task of its own go to the *active* task: they answer the
  question it asked. With no active task, `dispatch` returns None and the responder talks freely.
- An interjection task (opening hours, an FAQ answer) answers without touching the active task or its
  state, then asks the active task's question again ("We have parking. Can I have your name for the
  booking?"): the caller's next words still answer it, and the booking does not go on without them.
- After the step, a task that asked or wants confirmation stays active; done/failed/transfer/end_call
  clear it.

A task that raises never takes the call down: `CalendarError` becomes "I can't reach the calendar",
anything else "something went wrong", each with one log line.
"""

from __future__ import annotations

import time

import structlog

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.registry import TaskRegistry
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.integrations.calendar.base import CalendarError

log = structlog.get_logger(__name__)

CONTINUING_STATUSES = frozenset({"ask", "confirm"})
ASKED = "_asked"
"""In `task_state`: the active task's last question and what it expects, asked again after an interjection."""


def pick_task(registry: TaskRegistry, intent: str, active: str | None) -> str | None:
    """The intent whose task runs this turn, or None (no task: the responder answers)."""
    if intent in registry:
        return intent
    return active if active in registry else None


async def dispatch(registry: TaskRegistry, ctx: TaskContext) -> TaskResult | None:
    """Run one task step for `ctx.turn` and update `ctx.call.active_task` / `task_state`."""
    call = ctx.call
    name = pick_task(registry, ctx.turn.intent, call.active_task)
    task = registry.create(name)
    if name is None or task is None:
        return None
    interjection = bool(getattr(task, "interjection", False))
    if not interjection and call.active_task not in (None, name):
        log.info("task_switched", old=call.active_task, new=name, dropped=sorted(call.task_state))
        call.task_state = {}
    started = time.perf_counter()
    try:
        result = await task.execute(ctx)
    except CalendarError as exc:
        log.warning("task_calendar_error", task=name, error=str(exc))
        result = TaskResult("failed", say(ctx.language, "calendar_down"), facts={"error": "calendar_unavailable"})
    except Exception:
        log.exception("task_failed", task=name)
        result = TaskResult("failed", say(ctx.language, "task_error"), facts={"error": "task_error"})
    timed(call, "task", (time.perf_counter() - started) * 1000)
    result.task = name
    if interjection:
        if call.active_task:
            result.facts.setdefault("paused_task", call.active_task)
            _ask_again(call.task_state.get(ASKED), result)
    elif result.status in CONTINUING_STATUSES:
        call.active_task = name
        call.task_state[ASKED] = {"text": result.template, "expects": result.expects}
    else:
        call.active_task = None
        call.task_state = {}
    log.info("task_step", task=name, intent=ctx.turn.intent, status=result.status, expects=result.expects)
    return result


def _ask_again(asked: object, result: TaskResult) -> None:
    """After an answer given in passing, the paused task's question once more, and the answer it expects."""
    if not isinstance(asked, dict) or result.status != "done":
        return
    result.template = f"{result.template} {asked['text']}"
    result.status = "ask"
    result.expects = asked.get("expects")

"""What a task gets and what it gives back — the seed's `task.execute(context)`.

A task never speaks free text it made up: it returns a `TaskResult` whose `facts` are the concrete
things to say (times, names, booking ids) and whose `template` is a safe, deterministic sentence built
from them ("Would tomorrow at 3 pm or 4:30 pm suit you?"). The responder may rephrase it with the LLM,
but the facts come from here, so a small model cannot invent an appointment.

Tasks keep no state on `self`: everything a multi-turn flow remembers lives in
`ctx.call.task_state` / `ctx.call.slots` as plain JSON data, so a saved `CallContext` can be resumed
by another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.integrations.calendar.base import Calendar

TaskStatus = Literal["ask", "confirm", "done", "failed", "transfer", "end_call"]
"""ask: we need something from the caller · confirm: a yes/no decides the next step · done / failed:
the task is over · transfer: hand the caller to `facts["transfer_target"]` · end_call: say goodbye, hang up."""


@dataclass(frozen=True, slots=True)
class TurnInput:
    """The caller's turn as the task sees it (the session adapts the NLU result into this).

    intent: create_appointment, cancel_appointment, reschedule_appointment, ask_opening_hours,
        transfer_to_human, end_call, affirm, deny or other.
    entities: optional "datetime" (ISO, tz-aware), "date" (ISO date), "time" ("HH:MM"),
        "daypart" (morning/afternoon/evening), "week" (ISO date of its Monday), "person_name", "phone".
    """

    intent: str
    entities: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    confidence: float = 1.0


@dataclass(slots=True)
class TaskContext:
    """Everything one task step may use. `now` is aware; tests pin it, the session passes the wall clock."""

    call: CallContext
    turn: TurnInput
    calendar: Calendar
    business: BusinessConfig
    now: datetime

    @property
    def language(self) -> str:
        return self.call.language


@dataclass(slots=True)
class TaskResult:
    """One step's outcome.

    status: see `TaskStatus`.
    template: the sentence to speak, rendered from `facts` in the call's language (en or tr).
    facts: the concrete data behind it, e.g. {"slot": {"start": ISO, "end": ISO, "spoken": "tomorrow at 3 pm"}}.
    expects: what the caller's next turn should supply ("datetime", "confirmation", "choice", "phone"), or None.
    """

    status: TaskStatus
    template: str
    facts: dict[str, Any] = field(default_factory=dict)
    expects: str | None = None
    task: str | None = None
    """Name of the task that produced this (set by the router)."""


class Task(Protocol):
    """A task handles one intent; `@task("intent")` sets `name`.

    A task class may also set `interjection = True` (opening hours): it answers in the middle of
    another flow without ending it — the booking in progress stays where it was.
    """

    name: ClassVar[str]

    async def execute(self, ctx: TaskContext) -> TaskResult: ...

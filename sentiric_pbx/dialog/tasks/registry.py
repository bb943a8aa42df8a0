"""Intent → task class: the seed's "task routing" table, open to an admin's own tasks.

Built-ins register themselves with `@task("create_appointment")`. An admin's package adds (or
replaces) tasks without touching this code by declaring an entry point::

    [project.entry-points."sentiric_pbx.tasks"]
    check_order_status = "acme_tasks:OrderStatusTask"

The entry point's *name* is the intent; its object is the task class. The class may declare how callers
ask for it and what it needs, and the NLU learns the intent from that at start-up (nlu/plugin_intents.py)::

    examples = {"en": ["where is my order", "has my order shipped"]}   # language → phrasings
    slots = {"order_number": "digits"}                                  # filled from the turn, or typed

A plugin that fails to import,
or that is not a task, costs one clear error line and is skipped: a typo in an add-on must not keep the
phones from being answered.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import structlog

from sentiric_pbx.dialog.tasks.base import Task

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "sentiric_pbx.tasks"

T = TypeVar("T")


class TaskRegistry:
    """A mapping intent → task class. Tasks are stateless, so `create()` makes a fresh one per step."""

    def __init__(self) -> None:
        self._tasks: dict[str, type[Task]] = {}

    def register(self, intent: str, cls: type[Any], *, source: str = "builtin") -> None:
        """Add or replace the task for `intent`; replacing a built-in is allowed (and logged)."""
        if not (inspect.isclass(cls) and inspect.iscoroutinefunction(getattr(cls, "execute", None))):
            raise TypeError(f"{cls!r} is not a task class (needs `async def execute(self, ctx)`)")
        if intent in self._tasks and self._tasks[intent] is not cls:
            log.info("task_replaced", intent=intent, old=_qualname(self._tasks[intent]), new=_qualname(cls),
                     source=source)  # fmt: skip
        cls.name = intent
        self._tasks[intent] = cls

    def get(self, intent: str | None) -> type[Task] | None:
        return self._tasks.get(intent) if intent else None

    def create(self, intent: str | None) -> Task | None:
        cls = self.get(intent)
        return cls() if cls is not None else None

    def intents(self) -> list[str]:
        return sorted(self._tasks)

    def examples(self) -> dict[str, dict[str, list[str]]]:
        """Intent → language → example phrasings, for every task that declares `examples` (plug-ins: the
        NLU recognises their intents from these, `nlu/plugin_intents.py`)."""
        return {intent: dict(cls.examples) for intent, cls in self._tasks.items() if getattr(cls, "examples", None)}

    def slots(self) -> dict[str, dict[str, str]]:
        """Intent → slot → kind ("digits", "text") for every task that declares `slots`."""
        return {intent: dict(cls.slots) for intent, cls in self._tasks.items() if getattr(cls, "slots", None)}

    def digit_slots(self) -> set[str]:
        """The slots tasks declare as typable on the keypad (`slots = {"order_number": "digits"}`)."""
        return {name for cls in self._tasks.values() for name, kind in (getattr(cls, "slots", None) or {}).items()
                if kind == "digits"}  # fmt: skip

    def __contains__(self, intent: object) -> bool:
        return intent in self._tasks

    def load_entry_points(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> list[str]:
        """Register every task in the `sentiric_pbx.tasks` group; return the intents added.

        A plugin that raises on import, or whose object is not a task class, is logged
        (`task_plugin_failed`) and skipped.
        """
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        added = []
        for ep in entry_points:
            try:
                obj = ep.load()
                self.register(ep.name, obj, source=ep.value)
            except Exception as exc:
                log.error(
                    "task_plugin_failed", entry_point=ep.name, target=ep.value, error=f"{type(exc).__name__}: {exc}"
                )
                continue
            log.info("task_plugin_loaded", intent=ep.name, target=ep.value)
            added.append(ep.name)
        return added


def _qualname(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


BUILTIN = TaskRegistry()
"""The registry `@task` writes into; `default_registry()` copies it and adds plugins."""


def task(intent: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: `@task("create_appointment")` registers the class for that intent and names it."""

    def decorate(cls: type[T]) -> type[T]:
        BUILTIN.register(intent, cls)
        return cls

    return decorate


def default_registry(*, plugins: bool = True) -> TaskRegistry:
    """The built-in tasks plus (unless `plugins=False`) every installed entry-point task."""
    import sentiric_pbx.dialog.tasks.builtin  # noqa: F401  (registers the built-ins via @task)

    registry = TaskRegistry()
    registry._tasks = dict(BUILTIN._tasks)
    if plugins:
        registry.load_entry_points()
    return registry

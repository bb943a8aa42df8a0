"""The built-in tasks. Importing this module registers them (each carries its `@task` decorator)."""

from __future__ import annotations

from sentiric_pbx.dialog.tasks.cancel import CancelTask
from sentiric_pbx.dialog.tasks.check import CheckTask
from sentiric_pbx.dialog.tasks.faq import FaqTask, UnknownAsideTask, UnknownQuestionTask
from sentiric_pbx.dialog.tasks.info import EndCallTask, OpeningHoursTask, TransferTask
from sentiric_pbx.dialog.tasks.reschedule import RescheduleTask
from sentiric_pbx.dialog.tasks.reservation import ReservationTask

__all__ = [
    "CancelTask",
    "CheckTask",
    "EndCallTask",
    "FaqTask",
    "OpeningHoursTask",
    "RescheduleTask",
    "ReservationTask",
    "TransferTask",
    "UnknownAsideTask",
    "UnknownQuestionTask",
]

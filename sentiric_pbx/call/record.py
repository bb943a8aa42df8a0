"""`CallContext`: everything we know about one call, written through a store as the call goes.

The seed keeps a `call_context` in Redis for the whole conversation; on an unexpected drop it is
saved as `unfinished_call`. So the context is plain data (JSON round-trip, no live objects, no side
effects: the metrics of a stage timing are fed by whoever measured it, `dialog/timing.py`), saved
after every turn and every task step, and a crash or hangup never loses more than the last partial
utterance.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CallStatus = Literal["active", "completed", "unfinished_call", "transferred", "failed", "rejected_busy"]


@dataclass(slots=True)
class Turn:
    """One utterance. For the agent, `text` is what the caller actually heard (cut at barge-in)."""

    who: Literal["caller", "agent"]
    text: str
    start_s: float
    end_s: float
    interrupted: bool = False
    intent: str | None = None
    words: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float | None = None
    """Agent turns: caller's end of speech → our first audio."""


@dataclass(slots=True)
class CallContext:
    call_id: str
    caller_id: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    language: str = "en"
    ingress: str = "audiosocket"
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    status: CallStatus = "active"
    customer: dict[str, Any] | None = None
    """The CRM profile, in the seed's shape: {"customer_id", "name", "last_interaction", ...}."""
    turns: list[Turn] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    active_task: str | None = None
    task_state: dict[str, Any] = field(default_factory=dict)
    expects: str | None = None
    """What the agent's last question asked for (`TaskResult.expects`: "datetime", "name", …): the NLU reads
    the caller's next turn as an answer to it. None once a task ends or a turn had no task step."""
    timings: dict[str, list[float]] = field(default_factory=dict)
    """Per stage (stt, nlu, task, llm_first_token, tts_first_audio, reply_latency) → ms values."""
    outcome: str | None = None
    summary: str | None = None
    recording_path: str | None = None
    """The recording as written on the answering host (gone from there once uploaded)."""
    recording_url: str | None = None
    """With `[storage] recordings_url`: where every host reads the recording (s3://… or file://…)."""
    recording_error: str | None = None
    """Why no recording was written at hang-up ("No space left on device"): the record is kept all the same,
    and `calls show` says why it has no recording rather than only that it has none."""

    def add_turn(self, turn: Turn) -> None:
        self.turns.append(turn)

    def time(self, stage: str, ms: float) -> None:
        """Keep one timing of a stage (ms); the record only remembers it."""
        self.timings.setdefault(stage, []).append(round(ms, 1))

    @property
    def transcript(self) -> list[Turn]:
        return self.turns

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallContext:
        data = dict(data)
        data["turns"] = [Turn(**t) for t in data.get("turns", [])]
        return cls(**data)

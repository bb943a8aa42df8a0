"""`CallContext`: everything we know about one call, written through a store as the call goes.

The seed keeps a `call_context` in Redis for the whole conversation; on an unexpected drop it is
saved as `unfinished_call`. So the context is plain data (JSON round-trip, no live objects), saved
after every turn and every task step, and a crash or hangup never loses more than the last partial
utterance.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


def observe_stage(stage: str, ms: float) -> None:
    """Every stage timing of a call also feeds the matching Prometheus histogram (admins graph these)."""
    from sentiric_pbx import metrics

    histogram = {
        "stt_ms": metrics.STT_MS,
        "nlu_ms": metrics.NLU_MS,
        "task": metrics.TASK_MS,
        "tts_first_audio_ms": metrics.TTS_FIRST_AUDIO_MS,
        "reply_latency_ms": metrics.REPLY_LATENCY_MS,
    }.get(stage)
    if histogram is not None:
        histogram.observe(ms)


CallStatus = Literal["active", "completed", "unfinished_call", "transferred", "failed", "rejected_busy"]


INTERNAL_EXTENSION_MAX_DIGITS = 6
"""A caller ID of at most this many digits, without a + or 00 prefix, is a PBX extension ("1001"): no
national number is that short (E.164 national significant numbers have 7 or more digits)."""


def normalize_e164(number: str | None, default_country_code: str = "90") -> str | None:
    """Caller ID → E.164 ("+905551112233"), or an internal extension as dialled ("1001"). None for
    anonymous/unknown numbers.

    Asterisk hands us whatever the trunk sent: "+90 555 111 22 33", "05551112233", "905551112233",
    "00905551112233". Lookups by phone number only work if every path normalises the same way. A phone on
    the PBX itself calls from its extension; prefixing that with the country code would make it a
    different, fake international number ("+901001").
    """
    if not number:
        return None
    digits = re.sub(r"[^\d+]", "", number)
    if not digits or digits.lower() in {"anonymous", "unknown"}:
        return None
    if digits.isdigit() and not digits.startswith("0") and len(digits) <= INTERNAL_EXTENSION_MAX_DIGITS:
        return digits
    if digits.startswith("+"):
        rest = digits[1:]
    elif digits.startswith("00"):
        rest = digits[2:]
    elif digits.startswith("0"):
        rest = default_country_code + digits[1:]
    elif len(digits) <= 10:
        rest = default_country_code + digits
    else:
        rest = digits
    rest = re.sub(r"\D", "", rest)
    return f"+{rest}" if 6 <= len(rest) <= 15 else None


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
    timings: dict[str, list[float]] = field(default_factory=dict)
    """Per stage (stt, nlu, task, llm_first_token, tts_first_audio, reply_latency) → ms values."""
    outcome: str | None = None
    summary: str | None = None
    recording_path: str | None = None

    def add_turn(self, turn: Turn) -> None:
        self.turns.append(turn)

    def time(self, stage: str, ms: float) -> None:
        self.timings.setdefault(stage, []).append(round(ms, 1))
        observe_stage(stage, ms)

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

"""The second opinion: a few-shot prompt to the local LLM, its answer forced to one intent label.

Asked only when the rules are unsure (`NluOptions.llm_below_confidence`) and only for the label:
entities always come from the rules, because a 270M base model cannot be trusted to copy a date.
The prompt is the same for every call up to the caller's sentence, so llama.cpp reuses the cached
prefix and evaluates only the last few tokens. A GBNF grammar makes any output a valid label.

The answer has a deadline (`llm_budget_s`): a caller is waiting in silence, and a late label is
worth less than the rules' guess. Past it we close the stream — llama.cpp stops within a token —
and keep the rules' answer.

Measured (bench/nlu.py --llm, shared 2-core host): the bundled gemma-3-270m, a base model, labels
39 % of the bench turns on its own (nine labels; on two-way choices it is at chance), ~0.9 s a label.
On the turns where the rules are unsure it made things worse (2 of 4 answered, both wrong). So with
the bundled model the daemon should leave the NLU on rules (`llm=None`); this path is for a capable
model (a larger GGUF, or the OpenAI-compatible fallback), where the same prompt and budget apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from sentiric_pbx.engines.base import ChatMessage, LlmEngine, LlmRequest

log = structlog.get_logger("sentiric_pbx.nlu")

# The model answers in one-word labels: one token instead of four ("create_appointment"), which at
# ~60 ms a token on a busy 2-core host is most of the budget, and plain words suit a base model.
SHORT_LABELS = {
    "create_appointment": "book",
    "cancel_appointment": "cancel",
    "reschedule_appointment": "move",
    "ask_opening_hours": "hours",
    "transfer_to_human": "human",
    "end_call": "bye",
    "affirm": "yes",
    "deny": "no",
    "other": "other",
}
_FROM_SHORT = {short: intent for intent, short in SHORT_LABELS.items()}
GRAMMAR = "root ::= " + " | ".join(f'"{short}"' for short in SHORT_LABELS.values())

# Written for the prompt, distinct from tests/ and bench/: the bench must not grade the model on
# sentences it was shown. Multi-turn (one exchange per example) measured best of three formats.
_EXAMPLES = (
    ("i want to come in for a cleaning", "book"),
    ("please cancel my visit", "cancel"),
    ("can we change the time of my visit", "move"),
    ("when are you open", "hours"),
    ("get me a real person", "human"),
    ("thanks thats all bye", "bye"),
    ("yes that is fine", "yes"),
    ("no not that day", "no"),
    ("how much does it cost", "other"),
    ("can you book me for thursday", "book"),
    ("i cant come so drop the appointment", "cancel"),
    ("i dont want to cancel just move it", "move"),
    ("are you closed on sunday", "hours"),
    ("put me through to the receptionist", "human"),
    ("ok goodbye", "bye"),
    ("sure", "yes"),
    ("nope", "no"),
    ("where is the clinic", "other"),
    ("randevu almak istiyorum", "book"),
    ("randevumu iptal edin", "cancel"),
)
_SYSTEM = (
    "You label what a caller to a clinic's phone line wants, with one word: " + ", ".join(SHORT_LABELS.values()) + "."
)
LLM_CONFIDENCE = 0.6
"""What we report for a label the LLM chose: at the threshold, so the dialog confirms before acting."""


def build_request(text: str) -> LlmRequest:
    """The few-shot prompt for one utterance, grammar-constrained to the one-word labels."""
    messages: list[ChatMessage] = [{"role": "system", "content": _SYSTEM}]
    for sentence, label in _EXAMPLES:
        messages += [{"role": "user", "content": sentence}, {"role": "assistant", "content": label}]
    messages.append({"role": "user", "content": text.strip().lower()})
    return LlmRequest(messages, max_tokens=4, temperature=0.0, grammar=GRAMMAR)


async def ask_llm(llm: LlmEngine, text: str, budget_s: float) -> str | None:
    """The LLM's label, or None when it is late, fails or answers off-grammar."""
    started = time.perf_counter()
    stream = llm.stream(build_request(text))
    parts: list[str] = []
    try:
        async with asyncio.timeout(budget_s):
            async for delta in stream:
                parts.append(delta)
    except TimeoutError:
        log.warning("nlu_llm_timeout", engine=llm.name, budget_ms=round(budget_s * 1000))
        return None
    except Exception as exc:  # any engine failure leaves us with the rules' answer, never no answer
        log.warning("nlu_llm_failed", engine=llm.name, error=repr(exc))
        return None
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
    label = _FROM_SHORT.get("".join(parts).strip())
    log.debug("nlu_llm_label", label=label, ms=round((time.perf_counter() - started) * 1000, 1))
    return label

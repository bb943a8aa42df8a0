"""Answers to open questions: the FAQ and the business's facts, matched on the caller's words by the real
brain (NLU → FAQ retrieval → task → responder), and the offer of a person when nothing matches."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.config.faq import read_faq_file
from sentiric_pbx.dialog.brain import AssistantBrain
from sentiric_pbx.dialog.faq import Faq, is_question
from sentiric_pbx.dialog.tasks.registry import default_registry
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar

TZ = ZoneInfo("Europe/Istanbul")
NOW = datetime(2030, 1, 2, 10, 0, tzinfo=TZ)
PARKING = "Yes, there is free parking behind the building for 20 cars."
INSURANCE = "We work with every public insurer and with Allianz and AXA."

FAQ_TOML = f"""
[[faq]]
questions = ["is there parking", "where can I park", "do you have a car park"]
answer = "{PARKING}"
"""
FAQ_YAML = f"""
faq:
  - questions: ["do you take my insurance", "which insurance do you accept", "do you accept insurance"]
    answer: "{INSURANCE}"
  - questions: ["otopark var mı", "arabamı nereye park edebilirim"]
    answer: "Evet, binanın arkasında ücretsiz otopark var."
    language: tr
"""


def business_settings(tmp_path: Path) -> Settings:
    (tmp_path / "faq.yaml").write_text(FAQ_YAML)
    settings = Settings()
    settings.business = settings.business.model_validate(
        {
            "faq": read_faq_file(_write(tmp_path / "faq.toml", FAQ_TOML)),
            "faq_file": tmp_path / "faq.yaml",
            "address": "Atatürk Caddesi 12, Kadıköy",
            "services": ["dental check-ups", "cleaning", "whitening"],
        }
    )
    return settings


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
async def brain(tmp_path: Path) -> Any:
    settings = business_settings(tmp_path)
    calendar = SqliteCalendar(tmp_path / "sentiric.db", settings.business, clock=lambda: NOW)
    yield AssistantBrain(settings, calendar, default_registry(plugins=False), clock=lambda: NOW)
    await calendar.aclose()


async def said(brain: AssistantBrain, ctx: CallContext, text: str) -> tuple[str, str]:
    reply = await brain.respond(ctx, text)
    return "".join([d async for d in reply.deltas]).strip(), reply.action


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Is there somewhere to park my car?", PARKING),
        ("Can I park nearby?", PARKING),
        ("Do you accept AXA insurance?", INSURANCE),
        ("Where exactly is your office located?", "We are at Atatürk Caddesi 12, Kadıköy."),
        ("What's your address?", "We are at Atatürk Caddesi 12, Kadıköy."),
        ("What kind of services do you provide?", "We offer dental check-ups, cleaning and whitening."),
    ],
)
async def test_a_question_near_an_faq_variant_or_a_fact_is_answered_from_the_config(
    brain: AssistantBrain, question: str, answer: str
) -> None:
    ctx = CallContext(call_id="c1")
    assert await said(brain, ctx, question) == (answer, "continue")
    assert ctx.intents == ["ask_faq"]


async def test_an_entry_for_another_language_is_not_used_and_its_own_language_gets_it(brain: AssistantBrain) -> None:
    faq = brain.faq
    assert faq.answer("otopark var mı acaba", "tr").answer.startswith("Evet")
    english = faq.answer("otopark var mı acaba", "en")
    assert english is None or english.answer == PARKING


PARAPHRASES = [
    ("Is there anywhere to park?", PARKING),
    ("Where do I park?", PARKING),
    ("Is my insurance accepted?", INSURANCE),
    ("Do you take insurance?", INSURANCE),
    ("How would I find you?", "We are at Atatürk Caddesi 12, Kadıköy."),
    ("What is the address?", "We are at Atatürk Caddesi 12, Kadıköy."),
    ("What services do you have?", "We offer dental check-ups, cleaning and whitening."),
]
OTHER_REQUESTS = [
    "I would like to book an appointment tomorrow at 3 pm.",
    "Can I talk to a human please?",
    "What are your opening hours?",
    "Do you sell bicycles?",
    "Is the doctor a woman?",
    "Where is my order?",
    "How much does a cleaning cost?",
    "what's the status of my order",
    "Can I cancel my appointment?",
    "I need to move my appointment to Friday",
    "Are you open on Saturday?",
    "What time do you close today?",
    "Do you have anything on Monday morning?",
    "yes please",
    "Thank you very much",
]


@pytest.mark.parametrize(("text", "answer"), PARAPHRASES)
async def test_paraphrases_of_the_variants_find_their_answer(brain: AssistantBrain, text: str, answer: str) -> None:
    found = brain.faq.answer(text, "en")
    assert found is not None and found.answer == answer, found


@pytest.mark.parametrize("text", OTHER_REQUESTS)
async def test_other_requests_are_not_taken_for_faq_questions(brain: AssistantBrain, text: str) -> None:
    assert brain.faq.answer(text, "en") is None


async def test_a_question_nobody_answered_offers_a_person_and_yes_puts_the_caller_through(
    brain: AssistantBrain,
) -> None:
    ctx = CallContext(call_id="c2")
    assert await said(brain, ctx, "Do you sell bicycles?") == (
        "I don't know that, shall I put you through to someone who does?",
        "continue",
    )
    text, action = await said(brain, ctx, "Yes please.")
    assert action == "transfer" and "put you through" in text
    assert ctx.intents == ["ask_unknown", "affirm"]


async def test_no_to_the_offer_moves_on_and_a_booking_in_progress_survives_an_faq_answer(
    brain: AssistantBrain,
) -> None:
    ctx = CallContext(call_id="c3")
    await said(brain, ctx, "Is the doctor a woman?")
    moved_on = "All right. Is there anything else I can help you with?"
    assert await said(brain, ctx, "No, thanks.") == (moved_on, "continue")
    await said(brain, ctx, "I want to book an appointment.")
    assert ctx.active_task == "create_appointment"
    state = dict(ctx.task_state)
    assert (await said(brain, ctx, "Is there parking?"))[0] == f"{PARKING} When would you like to come in?"
    assert ctx.active_task == "create_appointment" and ctx.task_state == state
    assert ctx.expects == "datetime"  # the booking's question, asked again, is what the next words answer


async def test_a_request_for_help_is_not_an_unknown_question(brain: AssistantBrain) -> None:
    text, _ = await said(brain, CallContext(call_id="c4"), "Hi, can you tell me what you can do for me?")
    assert text.startswith("I can book, cancel or move an appointment")


def test_question_words_decide_without_a_question_mark() -> None:
    assert is_question("do you sell bicycles", "en")
    assert is_question("is the doctor a woman", "en")
    assert is_question("bisiklet satıyor musunuz", "tr")
    assert not is_question("I want to book an appointment", "en")
    assert not is_question("tomorrow at three", "en")


def test_an_faq_answers_grounding_keeps_its_numbers() -> None:
    """With `llm_capable` the answer may be rephrased: its numbers must survive (as a task's facts must)."""
    import asyncio

    from sentiric_pbx.dialog.tasks.base import TaskContext, TurnInput
    from sentiric_pbx.dialog.tasks.faq import FaqTask

    settings = Settings()
    turn = TurnInput("ask_faq", {"faq": {"question": "is there parking", "answer": PARKING}}, "parking?")
    ctx = TaskContext(CallContext(call_id="c5"), turn, None, settings.business, NOW)  # type: ignore[arg-type]
    result = asyncio.run(FaqTask().execute(ctx))
    assert result.template == PARKING
    assert result.facts["faq"]["must_say"] == [{"spoken": "20"}]


@pytest.mark.parametrize(
    ("rephrased", "said"),
    [
        ("Sure! There's free parking for 20 cars right behind the building.", "rephrased"),
        ("Sure! There's free parking right behind the building.", "template"),  # dropped the 20
        ("Sure! There's free parking for 20 cars behind the building, open 24 hours.", "template"),  # invented 24
    ],
)
async def test_a_capable_llm_may_rephrase_an_faq_answer_only_if_it_keeps_its_numbers_and_adds_none(
    rephrased: str, said: str
) -> None:
    """With `llm_capable`, the FAQ answer goes through the responder like a task's template: the model's
    words are spoken only when grounded (a real HTTP server speaking the OpenAI streaming protocol)."""
    from sentiric_pbx.config import LlmConfig
    from sentiric_pbx.dialog.responder import Responder
    from sentiric_pbx.dialog.tasks.base import TaskContext, TurnInput
    from sentiric_pbx.dialog.tasks.faq import FaqTask
    from sentiric_pbx.engines.llm.openai_compat import OpenAICompatLlm
    from tests.openai_server import FakeOpenAI

    turn = TurnInput("ask_faq", {"faq": {"question": "is there parking", "answer": PARKING}}, "parking?")
    ctx = TaskContext(CallContext(call_id="c6"), turn, None, Settings().business, NOW)  # type: ignore[arg-type]
    result = await FaqTask().execute(ctx)
    server = await FakeOpenAI(words=[w if i == 0 else " " + w for i, w in enumerate(rephrased.split(" "))]).start()
    try:
        llm = OpenAICompatLlm(server.base_url, "m", timeout_s=10, name="remote")
        budget = LlmConfig(call_fallback_after_s=2.0, call_filler_after_s=1.5, call_limit_s=5.0, nlu_budget_s=0.3)
        spoken = " ".join([s.strip() async for s in Responder(llm, capable=True, budget=budget).render(result, "en")])
    finally:
        await server.stop()
    assert spoken == (rephrased if said == "rephrased" else PARKING), spoken


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("faq.toml", "[[faq]]\nquestions = [\n", "not valid toml"),
        ("faq.yaml", "faq: [{questions: [], answer: x}]", "at least 1 item"),
        ("faq.yml", "faq: {a: 1}", "expected a list"),
        ("missing.toml", None, "cannot read it"),
    ],
)
def test_a_broken_faq_file_stops_the_config_with_its_name(
    tmp_path: Path, name: str, content: str | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(Exception) as err:
        Settings(business={"faq_file": path})
    assert str(path) in str(err.value) and problem in str(err.value).lower(), str(err.value)


def test_an_empty_faq_is_falsy_and_answers_nothing() -> None:
    faq = Faq(Settings().business)
    assert not faq and faq.answer("is there parking", "en") is None

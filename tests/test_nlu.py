"""NLU: what the agent understands from one caller turn, as tables of STT-like text → expected result.

The clock is fixed at Wednesday 2026-11-25 10:00 in Europe/Istanbul (+03:00); the business is open
09:00–17:00. These sentences are separate from bench/nlu_labelled.jsonl (the bench measures, the tests
pin behaviour). The LLM tests load the real bundled gemma-3-270m once for the module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.config import BusinessConfig, Settings
from sentiric_pbx.dialog.nlu import INTENTS, NluOptions, understand, understand_local, understand_rules
from sentiric_pbx.dialog.nlu.llm import GRAMMAR, build_request
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.pool import EnginePool

module_loop = pytest.mark.asyncio(loop_scope="module")  # the async tests share the pool's loop

IST = ZoneInfo("Europe/Istanbul")
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=IST)  # a Wednesday


def rules(text: str, language: str = "en", now: dt.datetime = NOW):
    return understand_rules(text, now=now, language=language)


def slots(text: str, language: str = "en") -> dict[str, str]:
    """The entities the rules read from `text`, without `datetime`: that one is derived from date and time."""
    return {k: v for k, v in rules(text, language).entities.items() if k != "datetime"}


INTENT_TABLE = [
    # create
    ("hi yeah i was wondering if i could book a filling", "en", "create_appointment"),
    ("could you squeeze me in sometime thursday", "en", "create_appointment"),
    ("i need to see a doctor tomorrow", "en", "create_appointment"),
    ("yarın için muayene olmak istiyorum", "tr", "create_appointment"),
    # cancel
    ("cancel tomorrows appointment", "en", "cancel_appointment"),
    ("something came up and i wont be able to come please cancel", "en", "cancel_appointment"),
    ("randevumu iptal ettirmek istiyorum", "tr", "cancel_appointment"),
    # reschedule
    ("can i push it to next week", "en", "reschedule_appointment"),
    ("i need a different time for my visit", "en", "reschedule_appointment"),
    ("randevumu erteleyebilir miyiz", "tr", "reschedule_appointment"),
    # opening hours
    ("what time do you guys open in the morning", "en", "ask_opening_hours"),
    ("is the office open on saturdays", "en", "ask_opening_hours"),
    ("pazartesi kaçta açılıyorsunuz", "tr", "ask_opening_hours"),
    # transfer
    ("get me a human", "en", "transfer_to_human"),
    ("can i speak to the receptionist", "en", "transfer_to_human"),
    ("beni bir temsilciye bağlayın", "tr", "transfer_to_human"),
    ("sekreterle görüşmek istiyorum", "tr", "transfer_to_human"),
    ("yetkiliyle görüşebilir miyim", "tr", "transfer_to_human"),
    # ... but a caller who says what they are does not ask for one (-yim / -yiz: "I am", "we are")
    ("ben ahmet yılmazın sekreteriyim", "tr", "other"),
    ("ben şirketin temsilcisiyim", "tr", "other"),
    ("firmanın yetkilisiyiz, randevu almak istiyoruz", "tr", "create_appointment"),
    # end
    ("great thanks bye", "en", "end_call"),
    ("no thats everything have a good day", "en", "end_call"),
    ("sağ olun iyi günler", "tr", "end_call"),
    # affirm / deny
    ("yep", "en", "affirm"),
    ("uh huh", "en", "affirm"),
    ("yes three pm is perfect", "en", "affirm"),
    ("nah", "en", "deny"),
    ("no not monday", "en", "deny"),
    ("evet tamam", "tr", "affirm"),
    ("yok olmaz", "tr", "deny"),
    # other
    ("do you accept credit cards how much is it", "en", "other"),
    ("im not sure", "en", "other"),
    ("good morning", "en", "other"),
    ("", "en", "other"),
]


@pytest.mark.parametrize(("text", "language", "intent"), INTENT_TABLE)
def test_intent_of_a_caller_turn(text: str, language: str, intent: str) -> None:
    assert rules(text, language).intent == intent


NEGATION_TABLE = [
    ("I don't want to cancel, I want to move it", "reschedule_appointment"),
    ("i dont want to reschedule just cancel it", "cancel_appointment"),
    ("i dont need an appointment i just want to know your hours", "ask_opening_hours"),
    ("that doesn't work for me", "deny"),
    ("thats not right", "deny"),
    ("i dont want to talk to a machine", "transfer_to_human"),
]


@pytest.mark.parametrize(("text", "intent"), NEGATION_TABLE)
def test_a_negated_keyword_does_not_decide_the_intent(text: str, intent: str) -> None:
    assert rules(text).intent == intent


def test_turkish_negation_sits_on_the_verb_after_the_keyword() -> None:
    assert rules("iptal etmek istemiyorum başka bir güne alalım", "tr").intent == "reschedule_appointment"


def test_slot_confirmation_yes_and_a_no_with_a_correction() -> None:
    yes = rules("yes that works")
    no = rules("no, make it 4 pm")
    assert (yes.intent, yes.entities) == ("affirm", {})
    assert no.intent == "deny"
    assert no.entities == {"time": "16:00"}  # a time alone: the dialog knows which day is being confirmed


DATE_TABLE = [
    ("tomorrow at 3 pm", {"date": "2026-11-26", "time": "15:00", "datetime": "2026-11-26T15:00:00+03:00"}),
    ("three p.m. tomorrow", {"date": "2026-11-26", "time": "15:00", "datetime": "2026-11-26T15:00:00+03:00"}),
    ("tomorrow 15:00", {"date": "2026-11-26", "time": "15:00", "datetime": "2026-11-26T15:00:00+03:00"}),
    # "friday" is the coming one; "next friday" is Friday of next week (see dialog/nlu/dates.py)
    ("friday morning", {"date": "2026-11-27", "daypart": "morning"}),
    ("this friday", {"date": "2026-11-27"}),
    ("next friday morning", {"date": "2026-12-04", "daypart": "morning"}),
    ("first thing tomorrow", {"date": "2026-11-26", "daypart": "morning"}),  # the start of that day
    ("friday first thing", {"date": "2026-11-27", "daypart": "morning"}),
    ("first thing I want to know", {}),
    ("my birthday is march 3rd", {}),
    # a week without a day is a window to offer from: its Monday (today is Wednesday 25 November)
    ("sometime next week if possible", {"week": "2026-11-30"}),
    ("this week", {"week": "2026-11-23"}),
    ("the week after next", {"week": "2026-12-07"}),
    ("next week at 10", {"time": "10:00", "week": "2026-11-30"}),
    ("this weekend", {}),
    ("I came in last week", {}),
    # a shift of the time under discussion, in minutes: the dialog knows which time that is
    ("an hour later", {"shift": "+60"}),
    ("push it back 30 minutes", {"shift": "+30"}),
    ("make it half an hour earlier", {"shift": "-30"}),
    ("it takes an hour", {}),
    ("I'll call you back an hour later", {}),
    ("friday next week", {"date": "2026-12-04"}),
    ("next monday", {"date": "2026-11-30"}),
    ("on wednesday", {"date": "2026-12-02"}),  # today is Wednesday: the next one
    ("this wednesday afternoon", {"date": "2026-11-25", "daypart": "afternoon"}),
    ("on the 5th", {"date": "2026-12-05"}),
    ("the twenty fifth", {"date": "2026-11-25"}),
    ("december third at two thirty", {"date": "2026-12-03", "time": "14:30", "datetime": "2026-12-03T14:30:00+03:00"}),
    ("in two days", {"date": "2026-11-27"}),
    ("day after tomorrow in the evening", {"date": "2026-11-27", "daypart": "evening"}),
    ("tonight", {"date": "2026-11-25", "daypart": "evening"}),
    # bare hours: the business day decides am/pm (open 09–17)
    ("at four", {"time": "16:00"}),
    ("at ten", {"time": "10:00"}),
    ("at eight", {"time": "08:00"}),
    ("at six", {"time": "18:00"}),
    ("at seven in the morning", {"time": "07:00"}),
    ("at half past four", {"time": "16:30"}),
    ("quarter to five", {"time": "16:45"}),
    ("eleven oclock", {"time": "11:00"}),
    ("noon", {"time": "12:00"}),
    ("can we move it from ten to two", {"time": "14:00"}),  # a range, not 13:50; the last time wins
    ("not tomorrow monday", {"date": "2026-11-30"}),  # the correction wins
    # how Whisper writes times: "230pm" and "1030 am" are hours and minutes
    ("tomorrow at 230pm", {"date": "2026-11-26", "time": "14:30", "datetime": "2026-11-26T14:30:00+03:00"}),
    ("at 1030 am", {"time": "10:30"}),
]


@pytest.mark.parametrize(("text", "expected"), DATE_TABLE)
def test_dates_and_times_resolve_against_now_in_the_business_timezone(text: str, expected: dict[str, str]) -> None:
    assert rules(text).entities == expected


TURKISH_DATES = [
    ("yarın saat üçte", {"date": "2026-11-26", "time": "15:00", "datetime": "2026-11-26T15:00:00+03:00"}),
    ("yarin saat 15:00", {"date": "2026-11-26", "time": "15:00", "datetime": "2026-11-26T15:00:00+03:00"}),
    ("cuma sabah", {"date": "2026-11-27", "daypart": "morning"}),
    ("yarın ilk iş gelebilir mi", {"date": "2026-11-26", "daypart": "morning"}),  # "first thing" (dev_s)
    ("yarın öğle saatinde", {"date": "2026-11-26", "time": "12:00", "datetime": "2026-11-26T12:00:00+03:00"}),  # dev_r
    ("saat 1'de, öğle arasında", {"time": "13:00"}),  # midday beside a clock time is not a second time
    ("2'de gelirim, öğlen kapalı mısınız", {"time": "14:00"}),
    ("ilk iş olarak adınızı alayım", {}),  # "as a first step"
    ("Mümkünse gelecek hafta.", {"week": "2026-11-30"}),  # (dev_s)
    ("Yarınki toplantıyı öğleden sonraya alabilir miyiz?", {"date": "2026-11-26", "daypart": "afternoon"}),  # dev_u
    ("Bütçem 12-15 bin TL", {}),  # a price range, not 12:15 (dev_u)
    ("doğum günü 3 mart", {}),  # a birthday (dev_u)
    ("ogleden sonraymis gibi ama 3ten sonrasina bakin", {"time": "15:00"}),  # "after 3" (dev_t)
    ("akşam dokuza bir etkinlik ekleyebilir misin", {"time": "21:00"}),
    ("haftaya", {"week": "2026-11-30"}),
    ("bu hafta içinde gelebilir miyim", {"week": "2026-11-23"}),
    ("önümüzdeki hafta öğleden sonra", {"daypart": "afternoon", "week": "2026-11-30"}),
    ("bu hafta sonu", {}),
    ("bir saat sonrasına alabilir miyiz", {"shift": "+60"}),
    ("yarım saat erken", {"shift": "-30"}),
    ("randevuyu bir saat ileri alalım", {"shift": "+60"}),
    ("iki saat sonra ararım", {}),  # a call back
    ("15 dakika geç kalacağım", {}),  # running late
    ("her hafta gelirim", {}),
    ("geçen hafta geldim", {}),
    ("haftaya cuma on buçukta", {"date": "2026-12-04", "time": "10:30", "datetime": "2026-12-04T10:30:00+03:00"}),
    ("cumaya alalım", {"date": "2026-11-27"}),
    ("öğleden sonra dörtte", {"time": "16:00"}),
    ("ayın beşinde", {"date": "2026-12-05"}),
    ("3 aralık", {"date": "2026-12-03"}),
    ("cumartesileri açık mısınız", {}),  # a habit, not a date
]


@pytest.mark.parametrize(("text", "expected"), TURKISH_DATES)
def test_turkish_dates_and_times(text: str, expected: dict[str, str]) -> None:
    assert rules(text, "tr").entities == expected


NOT_A_DATE = [
    "i need one appointment for 3 people",
    "the first one please",
    "one more question",
    "i have two kids",
    "how late are you open on fridays",
    "good morning",
    "i may come",
]


@pytest.mark.parametrize("text", NOT_A_DATE)
def test_numbers_that_are_not_dates_or_times_stay_numbers(text: str) -> None:
    """dateparser alone reads "3" or "one" as a month; the rules must not."""
    assert not set(rules(text).entities) & {"date", "time", "datetime", "daypart"}


def test_now_is_converted_into_the_business_timezone() -> None:
    """22:30 UTC on the 25th is 01:30 on the 26th in Istanbul: "tomorrow" is the 27th there."""
    late_utc = dt.datetime(2026, 11, 25, 22, 30, tzinfo=dt.UTC)
    assert rules("tomorrow at 9", now=late_utc).entities["datetime"] == "2026-11-27T09:00:00+03:00"
    naive = dt.datetime(2026, 11, 25, 10, 0)  # taken as business-local
    assert rules("tomorrow at 9", now=naive).entities["datetime"] == "2026-11-26T09:00:00+03:00"


def test_another_business_timezone_and_opening_hours() -> None:
    business = BusinessConfig(timezone="America/New_York", open_time="07:00", close_time="13:00")
    options = NluOptions.from_business(business)
    result = understand_rules("tomorrow at 8", now=NOW, options=options)  # 02:00 in New York on the 25th
    assert result.entities["datetime"] == "2026-11-26T08:00:00-05:00"


NAME_PHONE_TABLE = [
    ("my name is Ahmet Yilmaz", "en", {"person_name": "Ahmet Yilmaz"}),
    ("this is John Smith calling about my appointment", "en", {"person_name": "John Smith"}),
    ("hi im jane doe and i need a checkup", "en", {"person_name": "Jane Doe"}),
    ("this is about my appointment", "en", {}),
    ("i am calling to cancel", "en", {}),
    ("i am afraid not", "en", {}),
    ("benim adım ayşe demir", "tr", {"person_name": "Ayşe Demir"}),
    ("adım ismail", "tr", {"person_name": "İsmail"}),
    ("my number is 0555 111 22 33", "en", {"phone": "+905551112233"}),
    ("call me on oh five three two one one one two two three three", "en", {"phone": "+905321112233"}),
    ("my number is plus four four seven nine one one one two three four five six", "en", {"phone": "+447911123456"}),
    ("numaram sıfır beş üç iki bir bir bir iki iki üç üç", "tr", {"phone": "+905321112233"}),
    # a short number run into the phone number ("…, 5 milyon TL") is no part of it (dev_t)
    ("numaram 05321234567, 5 milyon TL'ye ev arıyorum", "tr", {"phone": "+905321234567"}),
    ("IBAN TR33 0006 1005 1978 6457 8413 26", "tr", {}),
    # a place in the dative is no owner of a ticket: "Ankara'ya bilet" (dev_t)
    ("Ankara'ya bilet istiyorum.", "tr", {}),
]


@pytest.mark.parametrize(("text", "language", "expected"), NAME_PHONE_TABLE)
def test_names_and_phone_numbers(text: str, language: str, expected: dict[str, str]) -> None:
    entities = rules(text, language).entities
    assert {k: v for k, v in entities.items() if k in {"person_name", "phone"}} == expected


def test_a_phone_number_is_never_read_as_a_time() -> None:
    assert rules("book me at 0532 555 12 34").entities == {"phone": "+905325551234"}


def test_the_rules_answer_in_well_under_50_ms_a_turn() -> None:
    understand_rules("warm up on december 3rd", now=NOW)
    texts = [t for t, _, _ in INTENT_TABLE] + [t for t, _ in DATE_TABLE]
    took = []
    for text in texts:
        started = time.perf_counter()
        understand_rules(text, now=NOW)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    assert took[len(took) // 2] < 50, took


# --- the LLM: asked only when the rules are unsure, and never for longer than the budget ---------------


class SilentLlm:
    """An LLM that never produces a token (a stuck primary)."""

    name = "silent"

    def __init__(self) -> None:
        self.closed = False

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        try:
            await asyncio.Event().wait()
            yield ""
        finally:
            self.closed = True

    async def complete(self, request: LlmRequest) -> str:
        return "".join([d async for d in self.stream(request)])


class ScriptedLlm:
    """An LLM that answers `reply` at once, or raises `error`."""

    name = "scripted"

    def __init__(self, reply: str = "", error: Exception | None = None) -> None:
        self.reply, self.error, self.calls = reply, error, 0

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        self.calls += 1
        if self.error:
            raise self.error
        yield self.reply

    async def complete(self, request: LlmRequest) -> str:
        return "".join([d async for d in self.stream(request)])


@module_loop
async def test_a_silent_llm_costs_no_more_than_the_budget_and_the_rules_answer_stands() -> None:
    llm = SilentLlm()
    options = NluOptions(llm_budget_s=0.2, use_model=False)  # the LLM path alone: no n-gram model
    started = time.perf_counter()
    result = await understand("hmm well", now=NOW, llm=llm, options=options)  # nothing for the rules
    took = time.perf_counter() - started
    assert (result.intent, result.source, result.confidence) == ("other", "rules", 0.3)
    assert 0.2 <= took < 0.5
    assert llm.closed  # the generation was stopped, not left running


@module_loop
async def test_a_failing_or_off_grammar_llm_leaves_the_rules_answer() -> None:
    for llm in (ScriptedLlm(error=RuntimeError("model crashed")), ScriptedLlm(reply="banana")):
        result = await understand("hmm well", now=NOW, llm=llm, options=NluOptions(use_model=False))
        assert (result.intent, result.source) == ("other", "rules")


@module_loop
async def test_the_llm_is_not_asked_when_the_rules_are_sure() -> None:
    llm = ScriptedLlm(reply="bye")
    result = await understand("i want to cancel my appointment tomorrow", now=NOW, llm=llm)
    assert llm.calls == 0
    assert (result.intent, result.source) == ("cancel_appointment", "rules")
    assert result.entities == {"date": "2026-11-26"}


@module_loop
async def test_an_unsure_turn_takes_the_llm_label_and_keeps_the_rules_entities() -> None:
    llm = ScriptedLlm(reply="move")
    options = NluOptions(use_model=False)  # the model would be sure here ("create", 0.9): the LLM path alone
    result = await understand("uh about tomorrow at four hmm", now=NOW, llm=llm, options=options)
    assert (result.intent, result.source) == ("reschedule_appointment", "llm")
    assert result.entities["datetime"] == "2026-11-26T16:00:00+03:00"
    assert 0.0 <= result.confidence <= 1.0


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(models_dir: Path) -> AsyncIterator[EnginePool]:
    settings = Settings()
    settings.models.dir = models_dir
    engines = EnginePool(settings)
    await engines.start(stt=False, tts=False)
    yield engines


@module_loop
async def test_the_bundled_llm_returns_a_valid_label_under_the_grammar(pool: EnginePool) -> None:
    assert pool.llm is not None
    label = (await pool.llm.complete(build_request("i would like to see the dentist"))).strip()
    assert f'"{label}"' in GRAMMAR


@module_loop
async def test_an_unsure_turn_is_labelled_by_the_bundled_llm(pool: EnginePool) -> None:
    """The 270M base model's label is often wrong (bench/nlu.py measures it); here: it is asked, it answers."""
    assert pool.llm is not None
    options = NluOptions(llm_budget_s=30.0)  # a loaded CI host; the daemon's default is 1.5 s
    turn = "uh so about that thing on friday"  # unsure for rules and model alike (retraining can move this)
    assert understand_local(turn, now=NOW, options=options).confidence < options.llm_below_confidence
    result = await understand(turn, now=NOW, llm=pool.llm, options=options)
    assert result.source == "llm"
    assert result.intent in INTENTS
    assert result.entities == {"date": "2026-11-27"}


# --- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray sentiric-pbx.toml
    monkeypatch.delenv("SENTIRIC_CONFIG", raising=False)
    return {"SENTIRIC_BUSINESS__TIMEZONE": "Europe/Istanbul"}


def test_cli_prints_intent_entities_and_confidence_as_json(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["nlu", "--json", "--now", "2026-11-25T10:00", "i'd like to book tomorrow at 3 pm"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["intent"] == "create_appointment"
    assert out["entities"]["datetime"] == "2026-11-26T15:00:00+03:00"
    assert 0.6 <= out["confidence"] <= 1.0
    assert out["source"] == "rules"


def test_cli_speaks_turkish_and_takes_unquoted_words(cli_env: dict[str, str]) -> None:
    args = ["nlu", "--json", "--now", "2026-11-25T10:00+03:00", "--language", "tr", "yarın", "saat", "üçte", "randevu"]
    out = json.loads(CliRunner().invoke(app, args, env=cli_env).stdout)
    assert out["intent"] == "create_appointment"
    assert out["entities"]["datetime"] == "2026-11-26T15:00:00+03:00"


def test_cli_human_output_and_a_bad_now(cli_env: dict[str, str]) -> None:
    ok = CliRunner().invoke(app, ["nlu", "--now", "2026-11-25T10:00", "my name is John Smith"], env=cli_env)
    assert ok.exit_code == 0
    assert "intent: other" in ok.stdout and "person_name: John Smith" in ok.stdout
    bad = CliRunner().invoke(app, ["nlu", "--now", "next tuesday", "hello"], env=cli_env)
    assert bad.exit_code == 2
    assert bad.stderr.startswith("sentiric-pbx: error: --now")


# --- the learned second opinion (dialog/nlu/classifier.py, combine.py; scripts/train_nlu.py) ---

ISSUE_15_PHRASINGS = [
    # Tried as a new user would (issue 15): a transfer, a "yes" and "not understood" before.
    ("put me down for monday at nine", "en", "create_appointment"),
    ("where exactly is your office located", "en", "other"),  # a question about the place, not a yes
    ("until when can i reach you today", "en", "ask_opening_hours"),
    # Phrasings the cues did not name before issue 15 (some now do), and ones no cue names: the model answers.
    ("pencil me in for thursday", "en", "create_appointment"),
    ("how long are you around today", "en", "ask_opening_hours"),
    ("whats the latest you guys are around this evening", "en", "ask_opening_hours"),
    ("randevumu gelecek haftaya kaydırabilir miyiz", "tr", "reschedule_appointment"),
    ("akşam kaça kadar size ulaşabilirim", "tr", "ask_opening_hours"),
    ("canlı bir temsilciyle görüşebilir miyim", "tr", "transfer_to_human"),
]


@pytest.mark.parametrize(("text", "language", "intent"), ISSUE_15_PHRASINGS)
def test_phrasings_the_rules_were_not_written_for_are_understood(text: str, language: str, intent: str) -> None:
    result = understand_local(text, now=NOW, language=language)
    assert result.intent == intent, result


def test_the_issue_examples_keep_their_entities() -> None:
    result = understand_local("put me down for monday at nine", now=NOW)
    assert result.entities == {"date": "2026-11-30", "time": "09:00", "datetime": "2026-11-30T09:00:00+03:00"}
    assert understand_local("until when can i reach you today", now=NOW).entities == {"date": "2026-11-25"}


def test_the_model_answers_only_where_the_rules_are_unsure() -> None:
    # The rules know negation and corrections; a model over n-grams does not, so a sure rule stands.
    sure = understand_local("i dont want to cancel i want to move it", now=NOW)
    assert (sure.intent, sure.source) == ("reschedule_appointment", "rules")
    # No cue at all: the model's label, with its probability as the confidence.
    text = "till what hour can i ring you"
    unsure = understand_local(text, now=NOW)
    assert (unsure.intent, unsure.source) == ("ask_opening_hours", "model") and 0.3 <= unsure.confidence <= 1.0
    # Switched off, the same turn is the rules' "other".
    off = understand_local(text, now=NOW, options=NluOptions(use_model=False))
    assert (off.intent, off.source, off.confidence) == ("other", "rules", 0.3)
    assert understand_rules(text, now=NOW).intent == "other"


def test_each_language_has_its_own_thresholds_for_the_model() -> None:
    """English rules answer up to 0.8 and the model needs 0.7 to overrule them; Turkish 0.7 and 0.3
    (combine.py says how each was chosen)."""
    from sentiric_pbx.dialog.nlu import combine
    from sentiric_pbx.dialog.nlu.intents import RulesVerdict

    weak = RulesVerdict("create_appointment", 0.75, {})
    en, tr = combine.thresholds("en"), combine.thresholds("tr")
    assert combine.choose(weak, "other", 0.9, *en)[2] == "model"
    assert combine.choose(weak, "other", 0.5, *en)[:3:2] == ("create_appointment", "rules")
    assert combine.choose(weak, "other", 0.9, *tr)[2] == "rules"  # 0.75 is sure enough in Turkish
    guess = RulesVerdict("other", 0.3, {})
    assert combine.choose(guess, "affirm", 0.4, *tr)[:3:2] == ("affirm", "model")
    assert combine.choose(guess, "affirm", 0.4, *en)[:3:2] == ("other", "rules")


def test_the_model_reads_numbers_and_turkish_letters_in_one_shape() -> None:
    from sentiric_pbx.dialog.nlu.classifier import features, predict
    from sentiric_pbx.dialog.nlu.normalize import normalize

    assert features(normalize("at three", "en")) == features(normalize("at 3", "en"))
    assert features(normalize("saat üçte", "tr")) == features(normalize("saat 3te", "tr"))
    assert predict(normalize("", "en")) is None
    verdict = predict(normalize("randevu almak istiyorum", "tr"))
    assert verdict is not None and verdict.intent == "create_appointment"
    assert abs(sum(verdict.probabilities.values()) - 1.0) < 1e-6
    assert set(verdict.probabilities) <= set(INTENTS)  # the built-in intents; plug-in ones are the rules' job


def _train_script():  # a module loaded from scripts/
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_nlu.py"
    spec = importlib.util.spec_from_file_location("train_nlu", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_weights_are_what_the_training_script_produces() -> None:
    import numpy as np

    from sentiric_pbx.dialog.nlu.classifier import MODEL_FILE

    train = _train_script()
    shipped_path = Path(__file__).resolve().parents[1] / "sentiric_pbx" / "dialog" / "nlu" / MODEL_FILE
    with np.load(shipped_path, allow_pickle=False) as data:
        shipped = {k: data[k] for k in data.files}
    retrained = train.train()
    assert train.same(retrained, shipped) == []
    # and the comparison can fail: one weight moved is a difference
    moved = dict(shipped)
    moved["en.weights"] = shipped["en.weights"].copy()
    moved["en.weights"][0, 0] += 1
    assert train.same(retrained, moved) == ["en.weights"]


def test_the_training_data_holds_no_bench_turn_it_is_measured_on() -> None:
    train = _train_script()
    bench = Path(__file__).resolve().parents[1] / "bench"
    blind = [json.loads(x) for x in (bench / "nlu_blind.jsonl").read_text(encoding="utf-8").splitlines() if x]
    labelled = [json.loads(x) for x in (bench / "nlu_labelled.jsonl").read_text(encoding="utf-8").splitlines() if x]
    heldout = [x for x in labelled if x["split"] == "heldout"]
    for language in ("en", "tr"):
        trained = {" ".join(text.split()) for text, _, _ in train.examples(language)}
        measured = {x["text"] for x in blind + heldout + train.heldout(language) if x["language"] == language}
        assert trained & measured == set()
    assert len(train.heldout("en")) >= 290  # the held-out turns the English thresholds were chosen on
    assert train.expand("(a|b|) c (d|e)") == ["a c d", "a c e", "b c d", "b c e", "c d", "c e"]


# --- Turkish dates, times, names and phones (the seed's language; clock: Wed 2026-11-25 10:00) ---

TR_ENTITIES = [
    ("yarın saat üçte", {"date": "2026-11-26", "time": "15:00"}),
    ("15:30", {"time": "15:30"}),
    ("saat 15.30 olur mu", {"time": "15:30"}),
    ("on beş otuzda", {"time": "15:30"}),
    ("çarşamba öğleden sonra", {"date": "2026-12-02", "daypart": "afternoon"}),
    ("saat dört buçukta", {"time": "16:30"}),
    ("cuma sabah dokuzda", {"date": "2026-11-27", "time": "09:00"}),
    ("akşam altıda", {"time": "18:00"}),
    ("pazartesi saat 10.00'da", {"date": "2026-11-30", "time": "10:00"}),
    ("saat üçü çeyrek geçe", {"time": "15:15"}),
    ("beşe çeyrek kala", {"time": "16:45"}),
    ("dokuza çeyrek var", {"time": "08:45"}),
    ("saat üçü yirmi geçe", {"time": "15:20"}),
    ("saat dörde on var", {"time": "15:50"}),
    ("bugün akşamüstü", {"date": "2026-11-25", "daypart": "afternoon"}),
    ("iki gün sonra", {"date": "2026-11-27"}),
    ("bir hafta sonra saat onda", {"date": "2026-12-02", "time": "10:00"}),
    # a weekday right after "N hafta sonra" is that day of the week N weeks on
    ("iki hafta sonra cuma", {"date": "2026-12-11"}),
    # a span of days asks for its first, as a span of hours does (dev_l)
    ("14 Ocak ile 16 Ocak arası", {"date": "2027-01-14"}),
    ("14 ocaktan 16 ocağa kadar müsait misiniz", {"date": "2027-01-14"}),
    ("14 ocak, pardon 16 ocak", {"date": "2027-01-16"}),
    ("3 hafta sonra pazartesi saat onda", {"date": "2026-12-14", "time": "10:00"}),
    ("bir hafta sonraki salı", {"date": "2026-12-01"}),
    ("haftaya salı", {"date": "2026-12-01"}),
    ("ayın beşinde", {"date": "2026-12-05"}),
    # a part of the day in the past is no slot to book ("dün akşam", "geçen gece", "sabahtan beri"), though it
    # still makes "8'de" the evening's
    ("Ben Ayşe, dün akşam ateşlendim.", {"person_name": "Ayşe"}),
    ("dün geceden beri kusuyor", {}),
    ("geçen akşam geldim", {}),
    ("sabahtan beri arıyorum, yarın akşam uygun mu", {"date": "2026-11-26", "daypart": "evening"}),
    ("dün akşam 8'de aradım", {"time": "20:00"}),
    ("benim adım ahmet yılmaz", {"person_name": "Ahmet Yılmaz"}),
    ("adım soyadım ali veli", {"person_name": "Ali Veli"}),
    ("merhaba ben ayşe kaya yarın için arıyorum", {"person_name": "Ayşe Kaya", "date": "2026-11-26"}),
    ("ben selim yılmaz", {"person_name": "Selim Yılmaz"}),
    # "ben …" is a name only with two name-like words: not a verb, not a common word
    ("ben yarın gelemiyorum", {"date": "2026-11-26"}),
    ("ben çok memnun kaldım", {}),
    ("ben eski hastanızım", {}),
    ("numaram 0532 555 12 34", {"phone": "+905325551234"}),
    ("telefonum sıfır beş üç iki beş beş beş bir iki üç dört", {"phone": "+905325551234"}),
    ("numaram sıfır beş yüz otuz iki beş yüz elli beş on iki otuz dört", {"phone": "+905325551234"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_ENTITIES)
def test_turkish_entities(text: str, expected: dict[str, str]) -> None:
    got = rules(text, "tr").entities
    assert {k: v for k, v in got.items() if k != "datetime"} == expected
    if "date" in expected and "time" in expected:
        assert got["datetime"] == f"{expected['date']}T{expected['time']}:00+03:00"


MORE_ENTITIES = [
    ("tr", "sabah 9 gibi", {"time": "09:00"}),
    ("tr", "akşam 7 gibi", {"time": "19:00"}),
    ("tr", "saat 10 civarı", {"time": "10:00"}),
    ("tr", "14:30'da", {"time": "14:30"}),
    ("tr", "perşembe 14.30", {"date": "2026-11-26", "time": "14:30"}),
    ("tr", "aralığın 15'i", {"date": "2026-12-15"}),
    ("tr", "15 aralık", {"date": "2026-12-15"}),
    ("tr", "cuma değil pazartesi", {"date": "2026-11-30"}),
    ("tr", "adım mehmet soyadım kaya", {"person_name": "Mehmet Kaya"}),
    ("tr", "+90 532 555 12 34", {"phone": "+905325551234"}),
    ("en", "tomorrow at 3 thanks", {"date": "2026-11-26", "time": "15:00"}),  # "th" is an ordinal's, not "thanks"
    ("en", "the 15th at 4 thanks", {"date": "2026-12-15", "time": "16:00"}),
    ("en", "you can call me sam", {"person_name": "Sam"}),
    ("en", "call me dave", {"person_name": "Dave"}),
    ("en", "can you call me back", {}),
    ("en", "just call me whenever", {}),
    ("en", "my first name is anna and my last name is kowalski", {"person_name": "Anna Kowalski"}),
]


# What a Turkish caller says for a day, a time, a name and a number, written from how people talk on the
# phone to a clinic or a salon (clock: Wed 2026-11-25 10:00, opening hours 09:00-17:00).
MORE_ENTITIES += [
    ("tr", "saat ikide", {"time": "14:00"}),
    ("tr", "öğleden sonra üçte", {"time": "15:00"}),
    ("tr", "sabah dokuz buçukta", {"time": "09:30"}),
    ("tr", "perşembe günü gelebilirim", {"date": "2026-11-26"}),
    ("tr", "perşembe günü saat ikide", {"date": "2026-11-26", "time": "14:00"}),
    ("tr", "ayın yirmisinde", {"date": "2026-12-20"}),
    ("tr", "ayın otuzunda", {"date": "2026-11-30"}),
    ("tr", "20 aralık", {"date": "2026-12-20"}),
    ("tr", "yirmi aralıkta", {"date": "2026-12-20"}),
    ("tr", "on iki ocak", {"date": "2027-01-12"}),
    ("tr", "ocak ayının beşinde", {"date": "2027-01-05"}),
    ("tr", "3 aralık perşembe", {"date": "2026-12-03"}),  # the weekday names the same day
    ("tr", "yirmi üç aralık saat on dörtte", {"date": "2026-12-23", "time": "14:00"}),
    ("tr", "on beşte", {"time": "15:00"}),
    ("tr", "akşam altı gibi", {"time": "18:00"}),
    ("tr", "bugün öğlen", {"date": "2026-11-25", "time": "12:00"}),
    ("tr", "yarın sabah erkenden", {"date": "2026-11-26", "daypart": "morning"}),
    ("tr", "yarın öğlene doğru", {"date": "2026-11-26", "time": "12:00"}),
    ("tr", "pazartesi öğleden sonra iki gibi", {"date": "2026-11-30", "time": "14:00"}),
    ("tr", "cuma akşamı", {"date": "2026-11-27", "daypart": "evening"}),
    ("tr", "bu cumartesi saat on birde", {"date": "2026-11-28", "time": "11:00"}),
    ("tr", "gelecek hafta çarşamba günü", {"date": "2026-12-02"}),
    ("tr", "haftaya perşembe saat onda", {"date": "2026-12-03", "time": "10:00"}),
    ("tr", "salıdan perşembeye alalım", {"date": "2026-11-26"}),  # moved from Tuesday to Thursday
    ("tr", "öbür gün", {"date": "2026-11-27"}),
    ("tr", "öğleden önce", {"daypart": "morning"}),
    ("tr", "saat birde", {"time": "13:00"}),
    ("tr", "saat yarımda", {"time": "12:30"}),  # "yarım" on its own is half past twelve
    ("tr", "saat ikiyi çeyrek geçe", {"time": "14:15"}),
    ("tr", "on bire çeyrek var", {"time": "10:45"}),
    ("tr", "saat on dört otuzda", {"time": "14:30"}),
    ("tr", "on dört otuz", {"time": "14:30"}),
    ("tr", "dörtten sonra", {"time": "16:00"}),
    ("tr", "saat üçten sonra", {"time": "15:00"}),
    ("tr", "dörde doğru", {"time": "16:00"}),
    ("tr", "ikiyle üç arası", {"time": "14:00"}),
    ("tr", "yarın dokuz buçuk", {"date": "2026-11-26", "time": "09:30"}),
    ("tr", "ondan sonra gelirim", {}),  # "after that", not "after ten"
    ("tr", "üç kişiyiz", {}),
    ("tr", "on dakika sürer mi", {}),
    ("tr", "adım ayşe yılmaz", {"person_name": "Ayşe Yılmaz"}),
    ("tr", "ismim zeynep kara", {"person_name": "Zeynep Kara"}),
    ("tr", "adım elif soyadım şahin", {"person_name": "Elif Şahin"}),
    ("tr", "ad soyad ali kaya", {"person_name": "Ali Kaya"}),
    ("tr", "ahmet yılmaz adına randevu", {"person_name": "Ahmet Yılmaz"}),
    ("tr", "kızım zeynep adına randevu almak istiyorum", {"person_name": "Zeynep"}),
    ("tr", "şirket adına arıyorum", {}),
    ("tr", "ben mehmet öztürk yarın randevum vardı", {"person_name": "Mehmet Öztürk", "date": "2026-11-26"}),
    ("tr", "numaram sıfır beş yüz otuz iki yüz on iki otuz dört elli altı", {"phone": "+905321123456"}),
    ("tr", "telefon numaram beş yüz otuz iki beş yüz elli beş on iki otuz dört", {"phone": "+905325551234"}),
    ("tr", "cep numaram sıfır beş yüz elli beş üç yüz yirmi bir kırk beş altmış yedi", {"phone": "+905553214567"}),
    ("tr", "numaram 0 532 555 12 34", {"phone": "+905325551234"}),
    ("tr", "on bir otuz", {"time": "11:30"}),
    ("tr", "on on beş dakika sürer mi", {}),  # ten or fifteen minutes, not 10:15
    ("tr", "akşam üstü", {"daypart": "afternoon"}),
    ("tr", "28 kasım cumartesi", {"date": "2026-11-28"}),
    ("tr", "5 aralık saat 14:00", {"date": "2026-12-05", "time": "14:00"}),
    ("tr", "öğleden sonra 2 ile 4 arası", {"time": "14:00"}),
    ("tr", "adım ayşe hanım", {"person_name": "Ayşe"}),
    ("tr", "mehmet bey ile görüşmek istiyorum", {}),  # someone else's name, not the caller's
    ("en", "names tom baker", {"person_name": "Tom Baker"}),
    ("en", "hi this is dr lees office", {}),  # a place answering, not a caller
    ("en", "this is sarah speaking", {"person_name": "Sarah"}),
    ("en", "its jane smith", {"person_name": "Jane Smith"}),
    ("en", "its really urgent", {}),
    ("en", "the appointment is under maria lopez", {"person_name": "Maria Lopez"}),
    ("en", "its under the name of jones", {"person_name": "Jones"}),
    ("en", "we are under pressure", {}),
    ("en", "10 in the morning", {"time": "10:00"}),
    ("en", "8 tonight", {"date": "2026-11-25", "time": "20:00"}),
    ("en", "a week from today", {"date": "2026-12-02"}),
    ("en", "two days from tomorrow", {"date": "2026-11-28"}),
    ("en", "dec 3", {"date": "2026-12-03"}),
    ("en", "oct 12th at 2 pm", {"date": "2027-10-12", "time": "14:00"}),  # the next 12 October
]


# Forms found with bench/nlu_tr_entities.jsonl (the Turkish entity dev set): "bir de" is "and also",
# a range asks for its start, day-first numeric dates, habits ("pazar günleri", "her cuma"), and names
# after "ben" alone, with the "I am" ending, and before "'in randevusu".
MORE_ENTITIES += [
    ("tr", "bir de fiyatları soracaktım", {}),
    ("tr", "bir de adresinizi alabilir miyim", {}),
    ("tr", "saat bir de", {"time": "13:00"}),
    ("tr", "10:00-12:00 arası", {"time": "10:00"}),
    ("tr", "10.00 ile 12.00 arasında", {"time": "10:00"}),
    ("tr", "25.12.2026", {"date": "2026-12-25"}),
    ("tr", "25/12 saat 14:00", {"date": "2026-12-25", "time": "14:00"}),
    ("tr", "1/2 saat sürer mi", {}),
    ("tr", "pazar günleri açık mısınız", {}),
    ("tr", "her cumartesi çalışıyor musunuz", {}),
    ("tr", "bugünlerde çok yoğunum", {}),
    ("tr", "ben Zeynep", {"person_name": "Zeynep"}),
    ("tr", "Ben Ahmet, randevum vardı.", {"person_name": "Ahmet"}),
    ("tr", "Ben Mehmet Bey, yarınki randevum için arıyorum", {"person_name": "Mehmet", "date": "2026-11-26"}),
    ("tr", "ben Fatma Şahin'im", {"person_name": "Fatma Şahin"}),
    ("tr", "ben ayşe kaya'yım", {"person_name": "Ayşe Kaya"}),
    ("tr", "ben selim", {"person_name": "Selim"}),  # -im here is the name, not "I am"
    ("tr", "Ahmet Yılmaz'ın randevusunu iptal etmek istiyorum", {"person_name": "Ahmet Yılmaz"}),
    ("tr", "oğlum Ali'nin randevusu için arıyorum", {"person_name": "Ali"}),
    ("tr", "kardeşimin randevusu vardı", {}),
    ("tr", "ben umut ediyorum", {}),
    ("tr", "ben tekrar arayacağım", {}),
    ("tr", "ben dün aramıştım", {}),
    # "geçen" (last) folds to "gecen": neither the night nor a day to come
    ("tr", "geçen cuma geldim", {}),
    ("tr", "geçen hafta salı aradım", {}),
    ("tr", "geçen sefer on dakika bekledim", {}),
    ("tr", "cuma gecesi", {"date": "2026-11-27", "daypart": "evening"}),
    # a number in the dative before a booking verb, a day and a bare number, a range with its dash gone
    ("tr", "üçe alabilir miyiz", {"time": "15:00"}),
    ("tr", "randevumu dörde alalım", {"time": "16:00"}),
    ("tr", "perşembe 11", {"date": "2026-11-26", "time": "11:00"}),
    ("tr", "yarın 9 olur mu", {"date": "2026-11-26", "time": "09:00"}),
    ("tr", "yarın 2 kişi geleceğiz", {"date": "2026-11-26"}),
    ("tr", "10-11 arası", {"time": "10:00"}),
    ("tr", "ayın beşine alalım", {"date": "2026-12-05"}),
    # a span of weekdays is when a place is open or full, not a day; a move from one day to another is
    ("tr", "pazartesiden cumaya kadar açık mısınız", {}),
    ("tr", "Pazartesi-Cuma arası kaçta açılıyorsunuz", {}),
    ("tr", "randevumu salıdan perşembeye alalım", {"date": "2026-11-26"}),
]


@pytest.mark.parametrize(("language", "text", "expected"), MORE_ENTITIES)
def test_more_entity_phrasings(language: str, text: str, expected: dict[str, str]) -> None:
    assert slots(text, language) == expected


# Forms found with the dev_b split of bench/nlu_tr_entities.jsonl (turns from public Turkish files by others).
# The relative "-ki" makes a time an adjective ("the one at two"): still the time asked about.
MORE_ENTITIES_B = [
    ("saat 2'deki randevum ne", {"time": "14:00"}),
    ("perşembe saat 10'daki toplantıya Ahmet'i ekle", {"date": "2026-11-26", "time": "10:00"}),
    ("üçteki randevumu iptal edin", {"time": "15:00"}),
    ("14:00'teki müşteri sunumu", {"time": "14:00"}),
    ("yarınki randevum", {"date": "2026-11-26"}),
    ("on ikideki randevu", {"time": "12:00"}),
    # ordinals name a day of the month; other ordinals stay words
    ("beşinci nisan günü", {"date": "2027-04-05"}),
    ("ayın on beşinci günü", {"date": "2026-12-15"}),
    ("ikinci kattayım", {}),
    ("üçüncü kez arıyorum", {}),
    # the night runs into the small hours: 1-5 and 12 are after midnight, 6-11 before it
    ("gece 2'de sunucu bakımı", {"time": "02:00"}),
    ("gece 12'de", {"time": "00:00"}),
    ("gece yarısı", {"time": "00:00"}),
    ("sabaha karşı 4'te", {"time": "04:00"}),
    ("gece 1 buçukta", {"time": "01:30"}),
    ("gece onda", {"time": "22:00"}),
    ("cuma gecesi", {"date": "2026-11-27", "daypart": "evening"}),
    # a bare hour in the dative with what is booked before the verb, "buçuk" softened, a daypart's hour in a case
    ("yarın üçe toplantı koy", {"date": "2026-11-26", "time": "15:00"}),
    ("beşe toplantı koy", {"time": "17:00"}),
    ("iki buçuğa randevu", {"time": "14:30"}),
    ("saat üç buçuğa olur mu", {"time": "15:30"}),
    ("akşam 7'ye olur mu", {"time": "19:00"}),
    ("sabah 9'a yazabilir misiniz", {"time": "09:00"}),
    ("ikiye bölelim", {}),
    ("iki kişiye masa ayırın", {}),
    # the first or last weekday of a month, the month before its day, a day of the month without "ayın"
    ("ayın son cuma günü", {"date": "2026-11-27"}),
    ("ayın ilk pazartesi", {"date": "2026-12-07"}),  # this month's is gone: next month's
    ("gelecek ayın son cuma", {"date": "2026-12-25"}),
    ("nisan beşinde", {"date": "2027-04-05"}),
    ("15'inde gelebilir miyim", {"date": "2026-12-15"}),
    ("yirmisine alalım", {"date": "2026-12-20"}),
    ("ikisine de randevu", {}),
    ("beş yaşında oğlum için", {}),
    ("gelecek haftanın salısı", {"date": "2026-12-01"}),
    ("bu haftanın cuması", {"date": "2026-11-27"}),
    ("pazar alışverişi", {}),
    ("randevumu pazara alalım", {"date": "2026-11-29"}),
    # "geçeyim", "geçelim" (let me move on) fold to "gece…" too: only the noun's endings are the night
    ("aslında Kapadokya turuna geçeyim", {}),
    ("başka konuya geçelim", {}),
    ("geceleri açık mısınız", {"daypart": "evening"}),
    # names: one said alone (two words, opening with a given name), before "ben", typed without Turkish
    # letters, and cut where a verb or the copula starts
    ("Ayşe Yılmaz", {"person_name": "Ayşe Yılmaz"}),
    ("ayse yilmaz", {"person_name": "Ayse Yilmaz"}),
    ("Ayşe ben, randevum vardı", {"person_name": "Ayşe"}),
    ("merhaba Ahmet Bey ben", {"person_name": "Ahmet"}),
    ("ismim Mehmet Demir demiştim", {"person_name": "Mehmet Demir"}),
    ("Merhaba, benim adım Ayşe. Hemşireyim, size yardımcı olacağım.", {"person_name": "Ayşe"}),
    ("adım Ayşe'dir", {"person_name": "Ayşe"}),
    ("benim adım Kadir", {"person_name": "Kadir"}),
    ("ben Burak Yıldız", {"person_name": "Burak Yıldız"}),
    ("adım Ayşe Güler", {"person_name": "Ayşe Güler"}),
    ("Merhaba Mehmet Bey.", {}),
    ("Ayşe Hanım", {}),
    ("evet Deniz", {}),
    ("Umut ediyorum", {}),
    ("Fatma teyze geliyor", {}),
]


@pytest.mark.parametrize(("text", "expected"), MORE_ENTITIES_B)
def test_turkish_entity_phrasings_from_public_files(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# Forms found with the heldout_b split of bench/nlu_tr_entities.jsonl (no longer blind since), and their
# neighbours. A dotted time with a case ending ("17.00'den", "14.30'a") is hours and minutes, as "17.00" is;
# `normalize` keeps it as "17 00den", so the entity text reads it (tr_entity_text), not the intent model.
TR_TIME_FORMS = [
    ("çarşamba 17.00'den sonra", {"date": "2026-12-02", "time": "17:00"}),
    ("17.00", {"time": "17:00"}),
    ("17.00'de", {"time": "17:00"}),
    ("17.00'den", {"time": "17:00"}),
    ("9.30'da", {"time": "09:30"}),
    ("14.30'a randevu alabilir miyim", {"time": "14:30"}),
    ("saat 14.30 gibi", {"time": "14:30"}),
    ("14.45'e", {"time": "14:45"}),
    ("9.00'dan önce", {"time": "09:00"}),
    ("8.30'dan itibaren", {"time": "08:30"}),
    ("saat 9.30'daki randevum", {"time": "09:30"}),
    ("14.30'u tercih ederim", {"time": "14:30"}),
    ("on dört otuza alalım", {"time": "14:30"}),
    ("gece 1.30'da", {"time": "01:30"}),
    ("5-10'dan fazla kişi", {}),  # a count, not 05:10
    ("10-15 dakika sürer", {}),
    # the minutes may name their unit before "geçe"/"kala": a clock time, not "at night"
    ("üçü on dakika geçe", {"time": "15:10"}),
    ("dörde beş dakika kala", {"time": "15:55"}),
    ("saat dördü yirmi beş dakika geçe", {"time": "16:25"}),
    ("on dakika geçe geldim", {}),
    ("randevuya yirmi dakika kala aradım", {}),
    # a number counting hours or minutes is a duration, never a clock time ("bir buçuk" alone is 13:30)
    ("bir buçuk saat sürer mi", {}),
    ("yarım saat sürer mi", {}),
    ("bir saat", {}),
    ("iki buçuk saat sürüyor", {}),
    ("45 dakika", {}),
    ("bir buçuk saatlik bir işlem", {}),
    ("bir buçuk saatte biter", {}),
    ("bir saat on beş dakika", {}),  # not "saat 15"
    ("akşam iki saat açık mısınız", {"daypart": "evening"}),  # not 14:00
    ("perşembe 1 buçuk saat", {"date": "2026-11-26"}),
    ("cuma öğleden sonra bir saat bulunur mu", {"date": "2026-11-27", "daypart": "afternoon"}),  # a slot, not 13:00
    ("saat üç buçukta iki saatlik randevu", {"time": "15:30"}),
    ("saat bir buçukta", {"time": "13:30"}),
    ("bir buçukta gelirim", {"time": "13:30"}),
    # "3 saat sonra" is a time relative to now. No rule reads one as a time, in Turkish or English ("in 3 hours"):
    # it is a shift, which the dialog applies only to a time under discussion, and otherwise asks for one.
    ("3 saat sonra", {"shift": "+180"}),
    ("yarım saat sonra gelebilir miyim", {"shift": "+30"}),
    # "from … until" is a range, and a range asks for its start, as "10:00-12:00 arası" does; a move is not one
    ("10.00'dan 12.00'ye kadar", {"time": "10:00"}),
    ("10:00'dan 12:00'ye kadar müsaitim", {"time": "10:00"}),
    ("ikiden dörde kadar uygunum", {"time": "14:00"}),
    ("akşam 6'dan 8'e kadar", {"time": "18:00"}),
    ("randevumu üçten beşe alalım", {"time": "17:00"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_TIME_FORMS)
def test_turkish_time_forms(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# Names found with heldout_b and their neighbours. At the start of a turn, two words opening with a given
# name are the caller's name when a phone number follows, or "numaram", or — written with capitals — a
# comma and more; one word, or words in lower case run on into a sentence, are not sure to be a name.
TR_NAME_FORMS = [
    # the booking's owner named with a title ("Fatma Hanım'ın randevusu"), as without one ("Fatma'nın randevusu")
    ("Fatma Hanım'ın randevusu ne zaman?", {"person_name": "Fatma"}),
    ("Kemal Bey'in randevusu ne zaman?", {"person_name": "Kemal"}),
    ("fatma hanımın randevusu", {"person_name": "Fatma"}),
    ("Müdür Bey'in randevusu", {}),
    # a turn written with capitals writes a name after "ben" with one: "üst kata" (to the upper floor) is none
    ("Merhaba, ben üst kata yeni taşındım. Adım Ayşe.", {"person_name": "Ayşe"}),
    ("Ben yan daireye taşındım.", {}),
    ("Ben ahmet yılmaz, randevum vardı", {"person_name": "Ahmet Yılmaz"}),
    # two words with capitals inside the sentence are a name though the second looks like a verb ("Yıldız")
    ("Ben Menekşe Yıldız", {"person_name": "Menekşe Yıldız"}),
    # a named place ("Şubesi", "Bankası", "Belediyesi", "Bakanlığı": the compound's -(s)I) is no name, and the
    # word before it names the place; a bare one ("belediyeden") is where the caller calls from
    ("Ben Ankara Şubesi", {}),
    ("Ben Kadıköy Belediyesi", {}),
    ("Merhaba, Ben Sağlık Bakanlığı", {}),
    ("ben ayşe garanti bankasından arıyorum", {"person_name": "Ayşe"}),
    ("ben ayşe kaya belediyeden arıyorum", {"person_name": "Ayşe Kaya"}),
    ("Ben Ahmet Yılmaz Bey'in sekreteriyim", {}),
    ("Emine teyze", {}),  # alone, as "Ayşe Hanım": the person answering, greeted
    ("Adı Soyadı: Ayşe Yılmaz", {"person_name": "Ayşe Yılmaz"}),  # a form's field, typed
    ("Benim adım Rustam.", {"person_name": "Rustam"}),  # capitalised after "adım", though "-m" looks like "my"
    # words that are never a name: thanks, "where", the month's "ayı" (dev_j)
    ("Çok adım teşekkür ederim. İyi akşamlar.", {}),
    ("Onur nerede?", {}),
    ("Eylül ayının 15'inde", {"date": "2027-09-15"}),
    # a name and number after "Tamam, teşekkürler." as after "Merhaba," (dev_l)
    ("Tamam, teşekkürler. Ahmet Kaya, 0532-987-6543", {"person_name": "Ahmet Kaya", "phone": "+905329876543"}),
    ("Anladım. Fatma Özkan, 0544-555-1234", {"person_name": "Fatma Özkan", "phone": "+905445551234"}),
    ("adım fatma yaş 25", {"person_name": "Fatma"}),  # "yaş" (age) is no surname (dev_n)
    ("Ben Bahar; randevum vardı.", {"person_name": "Bahar"}),  # a semicolon ends the sentence as a full stop does
    ("Soyadım Yılmaz.", {"person_name": "Yılmaz"}),  # a surname alone (dev_l, dev_o)
    ("soyadım demir", {"person_name": "Demir"}),
    ("Soyadım değişti", {}),  # lower case in a turn with capitals: a verb ("changed")
    ("Selam, bana Akif Taşlı derler.", {"person_name": "Akif Taşlı"}),  # "they call me" (dev_u)
    # a form's label and a name, each word with its capital (dev_k)
    ("Ad Can", {"person_name": "Can"}),
    ("Ad: Can Yılmaz", {"person_name": "Can Yılmaz"}),
    ("İsim Ayşe Kaya", {"person_name": "Ayşe Kaya"}),
    ("ad günü", {}),  # a birthday
    ("adım ve soyadım Ömer Faruk Benli", {"person_name": "Ömer Faruk Benli"}),  # "my name and surname" (dev_q)
    ("Adım Ayşe ve soyadım Kaya", {"person_name": "Ayşe Kaya"}),
    ("İsim değişikliği", {}),
    ("Benim adım caner falan filan", {"person_name": "Caner"}),  # "and so on"
    ("Ben Hasan amca", {"person_name": "Hasan"}),
    ("Ahmet Kaya, 0532 111 22 33", {"person_name": "Ahmet Kaya", "phone": "+905321112233"}),
    ("Ahmet Kaya 0532 111 22 33", {"person_name": "Ahmet Kaya", "phone": "+905321112233"}),
    ("Ahmet Kaya +90 532 111 22 33", {"person_name": "Ahmet Kaya", "phone": "+905321112233"}),
    ("Ayşe botoks 5000tl", {}),  # a price run into its letters is no phone number: no "Ayşe Botoks" (dev_p)
    ("ahmet kaya numaram 0532 111 22 33", {"person_name": "Ahmet Kaya", "phone": "+905321112233"}),
    ("Ayşe Nur Yılmaz, 0532 111 22 33", {"person_name": "Ayşe Nur Yılmaz", "phone": "+905321112233"}),
    (
        "Ahmet Kaya beş yüz otuz iki yüz on iki otuz dört elli altı",
        {"person_name": "Ahmet Kaya", "phone": "+905321123456"},
    ),
    ("Ahmet Kaya bir randevu almak istiyorum", {}),  # "bir" is "a", not the start of a number
    ("Ahmet Kaya, randevumu iptal etmek istiyorum", {"person_name": "Ahmet Kaya"}),
    ("Merhaba, Zeynep Arslan. Yarın gelebilir miyim?", {"person_name": "Zeynep Arslan", "date": "2026-11-26"}),
    ("İyi günler, İbrahim Işık, randevum vardı", {"person_name": "İbrahim Işık"}),
    ("Ahmet Kaya'yım", {"person_name": "Ahmet Kaya"}),  # "I am Ahmet Kaya"
    ("Ahmet Kaya'yım, randevum vardı", {"person_name": "Ahmet Kaya"}),
    ("Ahmet Kaya'yı arıyorum", {}),  # "I am looking for Ahmet Kaya"
    ("Ahmet Kaya'yı, arıyorum", {}),
    ("ahmet kaya, randevumu iptal etmek istiyorum", {}),  # no capitals: not sure to be a name
    ("Ahmet Kaya randevumu iptal etmek istiyorum", {}),  # no comma: the name could run on
    ("Ahmet, randevum vardı", {}),  # one word
    ("Ahmet Bey, randevum vardı", {}),  # greets the person answering
    ("Deniz kenarında bir masa", {}),
    # A name in a case or before a postposition is someone the caller speaks of. "Kemal Bey'in yerine ben
    # geleceğim" (I'll come instead of Kemal Bey): the booking was Kemal's, the one coming is the caller,
    # whose name is not said — no name, rather than greeting the caller as Kemal (or as "Kemal Beyin Yerine").
    # "X adına" stays the booking's name ("kızım Zeynep adına randevu"): there the booking is made for X.
    ("Kemal Bey'in yerine ben geleceğim", {}),
    ("Kemal Bey'in yerine", {}),
    ("Ahmet Kaya'nın yerine ben geleceğim", {}),
    ("Ahmet Kaya yerine ben geleceğim", {}),
    ("Ahmet Bey'e ben söylerim", {}),
    ("Ahmet Kaya ile ben geleceğim", {}),
    ("ben Ahmet Bey'in yerine geldim", {}),
    ("ben Ahmet Kaya'nın eşiyim", {}),
    ("ben Kemal Bey'in sekreteriyim", {}),
    ("ben Ahmet Kaya ile geldim", {}),
    ("benim adım Ahmet, Kemal Bey'in yerine geleceğim", {"person_name": "Ahmet"}),
    ("ben Ahmet Yılmaz adına arıyorum", {"person_name": "Ahmet Yılmaz"}),
    ("Ayşe Aydın ben", {"person_name": "Ayşe Aydın"}),  # a surname ending like a genitive is still a name
    ("ben Fatma Şahin'im", {"person_name": "Fatma Şahin"}),  # the copula keeps a name the caller's
    # one given name with the "I am" ending after "ben", as two names had it already
    ("ben Ayşe'yim", {"person_name": "Ayşe"}),
    ("Ben Mehmet'im, randevum vardı", {"person_name": "Mehmet"}),
    ("ben Umut'um", {"person_name": "Umut"}),
    ("ben Kerim", {"person_name": "Kerim"}),  # -im here is the name
    ("ben iyiyim", {}),
    # One word after "ben" that the given-name list does not hold: a name only at the end of the turn and
    # written with a capital, and not a verb, the copula, a number or a common word said there.
    ("ben Menekşe", {"person_name": "Menekşe"}),
    ("Merhaba, ben Menekşe.", {"person_name": "Menekşe"}),
    ("İyi günler, ben Nihan", {"person_name": "Nihan"}),
    ("merhaba ben menekşe", {}),  # no capital: not sure
    ("Ben Menekşe, randevum vardı.", {}),  # not the end of the turn
    ("Ben de.", {}),
    ("Ben geliyorum.", {}),
    ("Ben hastayım.", {}),
    ("Ben Memnunum.", {}),
    ("Ben Burada.", {}),
    ("Ben Müşteri.", {}),
    ("Ben Bekleyin.", {}),
    ("Ben Beşte.", {"time": "17:00"}),
    ("Evet, ben.", {}),
    ("Ben Menekşe'yim.", {"person_name": "Menekşe"}),
    ("Merhaba ben Menekşe Hanım", {"person_name": "Menekşe"}),
    ("Ben Doktor Bey.", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_FORMS)
def test_turkish_name_forms(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# Phones found with dev_d (public turns of others) and their neighbours. Said the Turkish way, a phone's
# national part has 10 digits: an order code or an ID number that is all digits is no phone, and a number
# said with its country code ("+44 …", "00 44 …") is one. Of two numbers given as alternatives, or one
# corrected, the last is the caller's (the labelling convention of the bench).
PHONE = "+905321234567"
TR_PHONE_FORMS = [
    ("ORD-202625502 siparişim ne durumda?", {}),
    ("ORD-202625503 de benim, onu da göster", {}),
    ("sipariş numaram 123456789", {}),
    ("TCKN numaram 11111111110", {}),
    ("T.C. kimlik numaram 12345678901", {}),
    ("numaram 05321234567", {"phone": "+905321234567"}),
    ("numaram 905321234567", {"phone": "+905321234567"}),
    ("5328274926 numaramla kayıtlı siparişlerim neler?", {"phone": "+905328274926"}),
    ("numaram +44 7700 900123", {"phone": "+447700900123"}),
    ("numaram 0044 7700 900123", {"phone": "+447700900123"}),
    ("numaram 0532 000 00 01 ya da 532 000 00 02", {"phone": "+905320000002"}),
    ("numaram 0532 000 00 01 veya 0533 000 00 02", {"phone": "+905330000002"}),
    ("0532 000 00 01, pardon, 0532 000 00 03", {"phone": "+905320000003"}),
    ("0532 111 22 33, yarın saat 3'te", {"phone": "+905321112233", "date": "2026-11-26", "time": "15:00"}),
    # a number named as a tax, ID or customer number is none, though it has a phone's ten digits; nor is a
    # national number no Turkish phone starts with (1…); and a dotted chain (an IP address) is no time
    ("VKN 5321234565", {}),
    ("vergi numaram 5321234565", {}),
    ("müşteri numaram 5321234565", {}),
    ("Ben Ayşe, VKN: 1234567890, tel 0532 123 45 67, IP 192.168.1.10.", {"person_name": "Ayşe", "phone": PHONE}),
    ("numaram 1234567890", {}),
    ("telefonum 0212 444 55 66", {"phone": "+902124445566"}),
    ("0850 123 45 67", {"phone": "+908501234567"}),
    ("öğrenci numaram 2212345678", {}),  # a student number (dev_o)
    ("Öğrenci no 2111122233.", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_PHONE_FORMS)
def test_turkish_phone_forms(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# Names found with dev_d (public turns of others) and their neighbours. The turn as said ends a name at a
# comma or a full stop, which the folded text has lost: "Benim adım Mehmet Ali. Modern web…" was "Mehmet Ali
# Modern", "Adım Zeynep, kaydet." "Zeynep Kaydet", and "Ayşe ben, sesimi duyan var mı?" named the caller
# "Sesimi Duyan". A colon after the phrase does not end it, nor a comma before the surname phrase.
TR_NAME_BREAK_FORMS = [
    ("Adım Zeynep, kaydet.", {"person_name": "Zeynep"}),
    ("Benim adım Mehmet Ali. Yarın gelebilir miyim?", {"person_name": "Mehmet Ali", "date": "2026-11-26"}),
    ("Adım Zeynep, İstanbul'da yaşıyorum.", {"person_name": "Zeynep"}),
    ("İsmim Ahmet. Randevum vardı.", {"person_name": "Ahmet"}),
    ("Benim adım Ayşe Demir, randevumu iptal etmek istiyorum.", {"person_name": "Ayşe Demir"}),
    ("İsmim Elif Kaya, numaram 0532 111 22 33", {"person_name": "Elif Kaya", "phone": "+905321112233"}),
    ("Merhaba, benim ismim Ahmet soyismim Mehmet. Şuan 27 yaşımdayım.", {"person_name": "Ahmet Mehmet"}),
    ("Ayşe ben, sesimi duyan var mı?", {"person_name": "Ayşe"}),
    ("Ben, yarın gelemiyorum.", {"date": "2026-11-26"}),
    ("Ad soyad: Zeynep Kaya", {"person_name": "Zeynep Kaya"}),
    ("adım Hakan, soyadım Öztürk", {"person_name": "Hakan Öztürk"}),
    ("saat 14.30, adım Can", {"time": "14:30", "person_name": "Can"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_BREAK_FORMS)
def test_turkish_name_ends_at_a_comma_or_full_stop(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# "ismim Ahmet değil" (dev_d): the name denied is no name; the one said instead, when it opens with a given
# name, is the caller's.
TR_NAME_DENIED_FORMS = [
    ("ismim Ahmet değil", {}),
    ("ben Ahmet değilim", {}),
    ("ben Ahmet Yılmaz değilim", {}),
    ("Adım Zeynep değil, Ayşe", {"person_name": "Ayşe"}),
    ("adım zeynep değil ayşe", {"person_name": "Ayşe"}),
    ("ismim Ahmet değil Mehmet Kaya", {"person_name": "Mehmet Kaya"}),
    ("Ben Ahmet değilim, Mehmet'im", {"person_name": "Mehmet"}),
    ("Adım Zeynep değil, yanlış yazmışsınız", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_DENIED_FORMS)
def test_turkish_name_denied_or_corrected(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# "Ali Şahin'in siparişlerini göster" (dev_d): as with "…'in randevusu", the owner of an order, a booking, a
# record, an application or a ticket is the name the call is about; the apostrophe as said tells where the
# ending starts ("Şahin'in", not "Şahi'nin"). No given name, no name ("şirketin siparişi"); a title is no name
# but keeps the one before it ("Kemal Bey'in siparişi": Kemal's, dev_g's "Fatma Hanım'ın randevusu").
TR_NAME_OWNER_FORMS = [
    ("Ali Şahin'in siparişlerini göster", {"person_name": "Ali Şahin"}),
    ("Ayşe Kaya'nın rezervasyonu var mı", {"person_name": "Ayşe Kaya"}),
    ("oğlum Ali'nin kaydı", {"person_name": "Ali"}),
    ("Mehmet Demir'in başvurusu ne oldu", {"person_name": "Mehmet Demir"}),
    ("Zeynep'in biletini iptal edin", {"person_name": "Zeynep"}),
    ("Ayşe'nin randevusu", {"person_name": "Ayşe"}),
    ("şirketin siparişi", {}),
    ("kardeşimin rezervasyonu", {}),
    ("bu siparişin durumu", {}),
    ("Kemal Bey'in siparişi", {"person_name": "Kemal"}),
    ("Müdür Bey'in siparişi", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_OWNER_FORMS)
def test_turkish_name_of_the_owner(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# "Filiz" (dev_d, the answer to "adınız?"): one given name alone, written with a capital, is the caller's; one
# word is otherwise not enough, and a greeting before it ("Merhaba Filiz") or a question mark addresses someone.
TR_NAME_ALONE_FORMS = [
    ("Filiz", {"person_name": "Filiz"}),
    ("Filiz.", {"person_name": "Filiz"}),
    ("İbrahim.", {"person_name": "İbrahim"}),
    ("filiz", {}),
    ("Merhaba Filiz", {}),
    ("Filiz?", {}),
    ("Filiz'e", {}),
    ("Evet.", {}),
    ("Menekşe", {}),  # not in the list: "ben Menekşe." at the end of a turn is, one word alone is not
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_ALONE_FORMS)
def test_turkish_given_name_alone(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# Times found with dev_d and their neighbours: the clock said as "now" ("dördü on geçiyor", it is ten past
# four) names the same time as "dördü on geçe"; "var" was read already.
TR_TIME_FORMS_D = [
    ("Saat dördü on geçiyor.", {"time": "16:10"}),
    ("saat üçü çeyrek geçiyor", {"time": "15:15"}),
    ("beşi yirmi geçiyor", {"time": "17:20"}),
    ("Saat dörde çeyrek var.", {"time": "15:45"}),
    ("on dakika geçiyor", {}),
    ("zaman geçiyor", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_TIME_FORMS_D)
def test_turkish_time_forms_d(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# A number before what it counts is no hour, and "bir" before a noun is the article (dev_d: "Yarın akşam 4
# kişilik masa" was 16:00, "Bugün bir randevum olacaktı" 13:00; the training paraphrases showed the same in
# "bu akşam iki kişilik masa" 14:00, "yarın sabah bir randevu var mı" 01:00, "yarın bir randevu almak
# istiyorum" 13:00).
TR_COUNTED_FORMS = [
    ("Yarın akşam 4 kişilik masa arıyorum", {"date": "2026-11-26", "daypart": "evening"}),
    ("bu akşam iki kişilik masa istiyorum", {"date": "2026-11-25", "daypart": "evening"}),
    ("akşam 4 kişi gelebilir miyiz", {"daypart": "evening"}),
    ("yarın sabah bir randevu var mı", {"date": "2026-11-26", "daypart": "morning"}),
    ("öğleden sonraki bir güne alabilir misiniz", {"daypart": "afternoon"}),
    ("yarın bir randevu almak istiyorum", {"date": "2026-11-26"}),
    ("Bugün bir randevum olacaktı ama saati tam olarak kaçtaydı?", {"date": "2026-11-25"}),
    ("cuma iki randevu", {"date": "2026-11-27"}),
    # a number that is an hour keeps it
    ("akşam 8'de 4 kişilik masa", {"time": "20:00"}),
    ("yarın akşam 7'de iki kişilik masa", {"date": "2026-11-26", "time": "19:00"}),
    ("akşam 4'te", {"time": "16:00"}),
    ("sabah 9 gibi", {"time": "09:00"}),
    ("yarın 10 olur mu", {"date": "2026-11-26", "time": "10:00"}),
    ("perşembe 11", {"date": "2026-11-26", "time": "11:00"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_COUNTED_FORMS)
def test_turkish_number_counting_something_is_no_hour(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# "Ayın on beşindeki randevum" (dev_d) was 10 April: the relative "-ki" on a day of the month in the locative,
# and "üçünde"/"dördünde", were not read as the day. "önünde" (in front of) folds to "onunde" and stays a word.
TR_DAY_FORMS_D = [
    ("Ayın on beşindeki randevumun saatini öğrenebilir miyim?", {"date": "2026-12-15"}),
    ("ayın üçünde", {"date": "2026-12-03"}),
    ("ayın dördündeki randevu", {"date": "2026-12-04"}),
    ("ayın yirmisindeki", {"date": "2026-12-20"}),
    ("ayın 15'indeki randevum", {"date": "2026-12-15"}),
    ("ayın yirmi beşinde", {"date": "2026-11-25"}),
    ("hastanenin önünde bekliyorum", {}),
    ("günlerden birinde", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_DAY_FORMS_D)
def test_turkish_day_of_month_forms_d(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# "ORD-202625502 siparişim, Filiz Kaplan" (dev_d): a given name and a surname, capitalised, as the last clause
# after a comma sign the turn, as they open it in "Ahmet Kaya, randevum vardı". One word, a title or a case
# ending keeps it someone else.
TR_NAME_CLOSING_FORMS = [
    ("ORD-202625502 siparişim, Filiz Kaplan", {"person_name": "Filiz Kaplan"}),
    ("Randevu için arıyorum, Ayşe Nur Yılmaz.", {"person_name": "Ayşe Nur Yılmaz"}),
    ("Randevum vardı, Ahmet Kaya'yım", {"person_name": "Ahmet Kaya"}),
    ("Teşekkürler, Ahmet Bey", {}),
    ("Yarın gelirim, Ahmet", {"date": "2026-11-26"}),
    ("Evet, Ayşe Kaya'ya söyleyin", {}),
    ("Yarın, Cuma Günü", {"date": "2026-11-27"}),
    ("randevum vardı, ahmet kaya", {}),  # no capitals: not sure to be a name
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_CLOSING_FORMS)
def test_turkish_name_closing_the_turn(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# heldout_c's misses (bench/nlu_tr_entities.py), each read as the general form it stands for: a day of the
# month with any vowel of its ending once folded ("16'sındaki", "14'ünde"), the hour a caller comes at in the
# dative before a verb of coming ("ikiye gelebilirim"; not "ona", to him), and the name a caller is registered
# as ("Ali Rıza Kaya olarak kayıtlıyım"; not a role, a title or a lower-case phrase).
TR_FORMS_HELDOUT_C = [
    ("16'sındaki randevumu iptal et", {"date": "2026-12-16"}),
    ("6'sında gelebilir miyim", {"date": "2026-12-06"}),
    ("14'ünde", {"date": "2026-12-14"}),
    ("26'sına alalım", {"date": "2026-11-26"}),
    ("saat 5'inde", {}),
    ("15 yaşındaki oğlum için", {}),
    ("ikiye gelebilirim", {"time": "14:00"}),
    ("yarın üçe gelirim", {"date": "2026-11-26", "time": "15:00"}),
    ("dörde uğrarım", {"time": "16:00"}),
    ("beşe yetişirim", {"time": "17:00"}),
    ("ona gelebilirim", {}),
    ("saat ona gelebilirim", {"time": "10:00"}),
    ("eve gelirim", {}),
    ("Ali Rıza Kaya olarak kayıtlıyım", {"person_name": "Ali Rıza Kaya"}),
    ("sistemde Ayşe Yılmaz olarak görünüyorum", {"person_name": "Ayşe Yılmaz"}),
    ("Misafir olarak geleceğim", {}),
    ("Ahmet Bey olarak", {}),
    ("Ahmet olarak", {}),
    ("ahmet yılmaz olarak kayıtlıyım", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_FORMS_HELDOUT_C)
def test_turkish_forms_heldout_c_missed(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e's names (bench/nlu_tr_entities.py): a caller answering "adınız ve müşteri numaranız?" says the name and,
# after a comma, the rest, often numbers in words; the name at the start of the turn ends at that comma, as the
# name after "adım" does ("Ali Vural Hizmet", "Kerem Aydın Üç" were read). Without capitals or a comma, not sure.
TR_NAME_START_BREAK_FORMS = [
    ("Ali Vural, hizmet numaram beş beş üç iki bir dokuz.", {"person_name": "Ali Vural"}),
    ("Kerem Aydın, üç sıfır beş iki yedi dört.", {"person_name": "Kerem Aydın"}),
    ("Fatma Şahin, bin dokuz yüz doksan.", {"person_name": "Fatma Şahin"}),
    ("Hasan Yıldız, dört dört yedi sekiz iki bir.", {"person_name": "Hasan Yıldız"}),
    ("Elif Kara, abone numaram altı bir üç.", {"person_name": "Elif Kara"}),
    ("Ahmet Kaya, 0532 111 22 33", {"person_name": "Ahmet Kaya", "phone": "+905321112233"}),
    ("merhaba, Gizem Tan ben", {"person_name": "Gizem Tan"}),
    ("ahmet kaya, dört dört yedi", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_START_BREAK_FORMS)
def test_turkish_name_at_the_start_ends_at_a_comma(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: the day of the month a thing starts from, in the ablative ("ayın on beşinden itibaren", from the 15th)
# was read as "ayın on" and the 10th of next month; it is the 15th, as "ayın on beşinde" is. Without "ayın",
# "birinden", "önünden" stay words.
TR_DAY_FROM_FORMS = [
    ("Ayın on beşinden itibaren olsun, o gün uçuşum var.", {"date": "2026-12-15"}),
    ("ayın beşinden itibaren", {"date": "2026-12-05"}),
    ("ayın yirmi ikisinden itibaren gelebilirim", {"date": "2026-12-22"}),
    ("birinden duydum", {}),
    ("önünden geçtim", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_DAY_FROM_FORMS)
def test_turkish_day_of_month_in_the_ablative(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: "ona randevu ver" (give him an appointment) was read as "at ten": the word "ona" before what is booked
# is "to him". Said in digits ("10'a randevu"), or after "saat"/"sabah", it is still ten.
TR_ONA_FORMS = [
    ("ona randevu ver", {}),
    ("ona bir randevu ayarlayın", {}),
    ("ona toplantı ayarla", {}),
    ("saat ona randevu ver", {"time": "10:00"}),
    ("sabah ona randevu", {"time": "10:00"}),
    ("Yarın 10’a randevu yazar mısın", {"date": "2026-11-26", "time": "10:00"}),
    ("üçe randevu ayarlayın", {"time": "15:00"}),
    # before a verb of coming: typed in digits it is ten ("10'a gelirim"), the word alone "to him"
    ("10'a gelirim", {"time": "10:00"}),
    ("11'e uğrarım", {"time": "11:00"}),
    ("ona gelirim", {}),
    ("saat ona gelirim", {"time": "10:00"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_ONA_FORMS)
def test_turkish_ona_before_what_is_booked_is_to_him(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: "Ben on dört gün diye biliyordum" (I thought it was fourteen days) named the caller "On Dört Gün": after
# "ben" or "adım", a number word ends the name, as it does at the end of a turn ("Ben Beşte").
TR_NUMBER_NO_NAME_FORMS = [
    ("Emin misiniz? Ben on dört gün diye biliyordum.", {}),
    ("ben iki kişiyiz", {}),
    ("ben yirmi yaşındayım", {}),
    ("ben Ahmet Yılmaz", {"person_name": "Ahmet Yılmaz"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NUMBER_NO_NAME_FORMS)
def test_turkish_number_words_are_no_name(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: "Tuğrul ben, kısa bir fikir." (it is Tuğrul, a short idea): a capitalised word before "ben" and a comma
# or a full stop opening the turn is the caller's name though the given-name list lacks it, as "Ben Menekşe."
# closing one is; not the words that open a Turkish sentence ("Yani ben, …", "Bence ben, …").
TR_NAME_BEFORE_BEN_FORMS = [
    ("Tuğrul ben, kısa bir fikir.", {"person_name": "Tuğrul"}),
    ("Merhaba, Menekşe ben.", {"person_name": "Menekşe"}),
    ("Yani ben, randevu almak istiyorum.", {}),
    ("Bence ben, haklıyım.", {}),
    ("Belki ben, gelirim.", {}),
    ("Aslında ben, iptal etmek istiyorum.", {}),
    ("Yarın ben, gelemem.", {"date": "2026-11-26"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_BEFORE_BEN_FORMS)
def test_turkish_name_before_ben_opening_the_turn(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: "Yarın Zeynep Kara'ya randevu ver": the dative, written with its apostrophe, before "randevu" says whom
# the appointment is for, as the genitive before "randevusu" says whose it is. A title ("Ahmet Bey'e"), a place
# ("Kadıköy'e") or no known given name, no name; without the apostrophe, not sure.
TR_NAME_FOR_WHOM_FORMS = [
    ("Yarın Zeynep Kara’ya randevu ver", {"date": "2026-11-26", "person_name": "Zeynep Kara"}),
    ("oğlum Ali'ye bir randevu almak istiyorum", {"person_name": "Ali"}),
    ("Ayşe'ye randevu verebilir misiniz", {"person_name": "Ayşe"}),
    ("Ahmet Bey'e randevu verin", {}),
    ("Kadıköy'e randevu", {}),
    ("kardeşime randevu", {}),
    ("Ayşe Kaya'ya ben söylerim", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_FOR_WHOM_FORMS)
def test_turkish_name_the_appointment_is_for(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: "Umutcan Türkoğlu randevusunu cuma 15:00'e al": the owner of an appointment said without the genitive
# ending, as callers often do. Then only a full name as said (capitals, a known given name) is one: "Diş
# randevusu", "Kontrol randevusu" are kinds of appointment, lower case is not sure, a title is someone else.
TR_NAME_BARE_OWNER_FORMS = [
    ("Ahmet Yılmaz randevusunu iptal et", {"person_name": "Ahmet Yılmaz"}),
    ("Yarın Zeynep Kara randevusu var mı", {"date": "2026-11-26", "person_name": "Zeynep Kara"}),
    ("Ali Rıza Kaya randevusu", {"person_name": "Ali Rıza Kaya"}),
    ("Ayşe Kaya rezervasyonu", {"person_name": "Ayşe Kaya"}),
    ("Diş randevusu almak istiyorum", {}),
    ("Göz Hastalıkları randevusu", {}),
    ("Ahmet Bey randevusu", {}),
    ("ahmet yılmaz randevusunu iptal et", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_BARE_OWNER_FORMS)
def test_turkish_owner_without_the_genitive(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e: "Umutcan Türkoğlu için yarın saat 14:30 randevu oluştur": a full name as said before "için" is whom the
# booking is for, in a turn about an appointment or a reservation; elsewhere "X Y için" is as often a business
# ("Ahmet Konağı için kısa bir fikir"), and a title, a kinship word or a kind of doctor is no name.
TR_NAME_FOR_FORMS = [
    ("Ali Yılmaz için randevu almak istiyorum", {"person_name": "Ali Yılmaz"}),
    ("Ayşe Kaya için yarın saat 3'e randevu", {"date": "2026-11-26", "time": "15:00", "person_name": "Ayşe Kaya"}),
    ("Merhaba, Ahmet Konağı için kısa bir fikir paylaşmak istedim.", {}),
    ("Ahmet Bey için randevu", {}),
    ("Göz Doktoru için randevu", {}),
    ("oğlum için randevu", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_NAME_FOR_FORMS)
def test_turkish_name_a_booking_is_for(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_e, then the public name lists: a given name the short list lacked ("Umutcan", "Berkay" is there) vouched for
# no surname, so each rule needing one known given name missed it; the MIT-licensed lists of Faker and Mimesis now
# add the rarer names, but not those that are also words a caller says for what they mean ("Sabah", "Nisan").
TR_PUBLIC_GIVEN_NAME_FORMS = [
    ("Umutcan Türkoğlu’nun randevusunu iptal et", {"person_name": "Umutcan Türkoğlu"}),
    ("Ben Alperen Sarı, yarın gelebilir miyim", {"date": "2026-11-26", "person_name": "Alperen Sarı"}),
    ("Yiğitcan", {"person_name": "Yiğitcan"}),
    ("Sabah", {"daypart": "morning"}),
    ("Nisan", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_PUBLIC_GIVEN_NAME_FORMS)
def test_turkish_given_names_from_the_public_lists(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_f: a Turkish clock time counts any number of minutes to or past the hour, not only fives ("üçe yedi kala" was
# 15:00, "dördü on sekiz geçe" nothing), and may count them from the half hour ("beş buçuğa iki var" was 17:30).
TR_ANY_MINUTES_FORMS = [
    ("Saat üçe yedi kala.", {"time": "14:53"}),
    ("dördü on sekiz geçe gelirim", {"time": "16:18"}),
    ("Saat beş buçuğa iki var.", {"time": "17:28"}),
    ("altı buçuğu iki geçiyor", {"time": "18:32"}),
    ("dörde on kala", {"time": "15:50"}),
    ("üç buçukta", {"time": "15:30"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_ANY_MINUTES_FORMS)
def test_turkish_any_minutes_to_or_past(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# A compound verb after "ben" is no name: "Ben teşekkür ederim" was "Teşekkür Eder", "ben rica ederim" "Rica Eder".
TR_LIGHT_VERB_FORMS = [
    ("Ben teşekkür ederim", {}),
    ("ben rica ederim", {}),
    ("Ben özür dilerim, geç kaldım", {}),
    ("ben Ali Ediz", {"person_name": "Ali Ediz"}),
    ("ben Ahmet Yılmaz", {"person_name": "Ahmet Yılmaz"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_LIGHT_VERB_FORMS)
def test_turkish_compound_verb_after_ben_is_no_name(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# A noun compound in a place after "ben" is no name, however often its first word is one: "Ben Deniz kenarındayım"
# (I am at the seaside) gave "Deniz", "ben can sıkıntısından aradım" "Can", "ben deniz kenarındayım" "Deniz Kenarında".
TR_COMPOUND_PLACE_FORMS = [
    ("Ben Deniz kenarındayım.", {}),
    ("ben deniz kenarındayım", {}),
    ("Ben Deniz kıyısında oturuyorum", {}),
    ("ben can sıkıntısından aradım", {}),
    ("Ben Deniz, randevu almak istiyorum.", {"person_name": "Deniz"}),
    ("ben deniz yılmaz", {"person_name": "Deniz Yılmaz"}),
    ("Merhaba ben Deniz.", {"person_name": "Deniz"}),
]


# Where the caller calls from is no surname: "ben ayşe ankaradan arıyorum" was "Ayşe Ankaradan", "Ben Ayşe
# Ankara'dan arıyorum" no name at all (a word in a case reads as someone else's name).
TR_CALLING_FROM_FORMS = [
    ("ben ayşe ankaradan arıyorum", {"person_name": "Ayşe"}),
    ("Ben Ayşe Ankara'dan arıyorum", {"person_name": "Ayşe"}),
    ("ben ali yılmaz izmirden arıyorum", {"person_name": "Ali Yılmaz"}),
    ("adım ayşe ankaradan arıyorum", {"person_name": "Ayşe"}),
    ("Ben Ayşe, Ankara'dan arıyorum.", {"person_name": "Ayşe"}),
    ("ben ayşe candan", {"person_name": "Ayşe Candan"}),
]


# "I am X's wife": a name in the genitive before a possessed noun and "I am" is someone else's, as it is read when
# an apostrophe shows the case ("Ben Ahmet Yılmaz'ın eşiyim"); "ben ahmet yılmazın eşiyim" was "Ahmet Yılmazın".
TR_SOMEONE_ELSES_FORMS = [
    ("ben ahmet yılmazın eşiyim", {}),
    ("ben ayşe kayanın annesiyim", {}),
    ("ben ahmet yılmazın oğluyum", {}),
    ("Ben Ahmet Yılmaz'ın eşiyim", {}),
    ("ben ali aydın", {"person_name": "Ali Aydın"}),
    ("ben fatma şahinim", {"person_name": "Fatma Şahin"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_SOMEONE_ELSES_FORMS)
def test_turkish_i_am_someones_wife_names_nobody(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


@pytest.mark.parametrize(("text", "expected"), TR_CALLING_FROM_FORMS)
def test_turkish_where_the_caller_calls_from_is_no_surname(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


@pytest.mark.parametrize(("text", "expected"), TR_COMPOUND_PLACE_FORMS)
def test_turkish_noun_compound_in_a_place_after_ben_is_no_name(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_f: "ben de X" ("and I am X", answering an introduction) gives a name as "ben X" does, and "ben de" before
# anything else ("Ben de memnun oldum", "ben de iyiyim", "ben de teşekkür ederim") stays "me too".
TR_BEN_DE_FORMS = [
    ("Merhaba Alice, ben de Ayla.", {"person_name": "Ayla"}),
    ("ben de Ahmet Yılmaz", {"person_name": "Ahmet Yılmaz"}),
    ("Ben de memnun oldum.", {}),
    ("ben de iyiyim", {}),
    ("Ben de teşekkür ederim", {}),
    ("ben de yarın gelirim", {"date": "2026-11-26"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_BEN_DE_FORMS)
def test_turkish_name_after_ben_de(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_f: a Turkish question word is never a name ("Rezervasyon kimin adına?" was a person called "Kimin").
TR_QUESTION_WORD_FORMS = [
    ("Rezervasyon kimin adına?", {}),
    ("Randevu kimin adına alınacak", {}),
    ("Ahmet Yılmaz adına randevu", {"person_name": "Ahmet Yılmaz"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_QUESTION_WORD_FORMS)
def test_turkish_question_word_is_no_name(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_f: the Turkish locative with the past copula ("saat 6'daydı", "üçteydi": was at six, at three) is a clock time
# as the locative alone is.
TR_WAS_AT_FORMS = [
    ("Son uçak saat 6'daydı, kaçırdım", {"time": "18:00"}),
    ("randevum saat dörtteydi", {"time": "16:00"}),
    ("randevum 3'teydi", {"time": "15:00"}),
]


@pytest.mark.parametrize(("text", "expected"), TR_WAS_AT_FORMS)
def test_turkish_was_at_a_time(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected


# dev_f: one capitalised word after "ben" that closes a sentence, not only the turn, is the caller's name though the
# given-name list lacks it ("Merhaba, ben Alice. Ya sen?"); a verb or the copula there stays none.
TR_BEN_SENTENCE_END_FORMS = [
    ("Merhaba, ben Alice. Ya sen?", {"person_name": "Alice"}),
    ("Ben Tuğrul! Nasılsınız?", {"person_name": "Tuğrul"}),
    ("Ben Geldim. Kapıdayım.", {}),
    ("Ben Hastayım. Gelemem.", {}),
]


@pytest.mark.parametrize(("text", "expected"), TR_BEN_SENTENCE_END_FORMS)
def test_turkish_name_closing_a_sentence_after_ben(text: str, expected: dict[str, str]) -> None:
    assert slots(text, "tr") == expected

"""The NLU hears the question the agent just asked (`expects`, `dialog/nlu/expected.py`).

A bare answer is what the question makes of it: "deniz" to "Adınız?" is a name, "üç" to "Saat kaçta?" a
time, "111 22 33" to "Numaranız?" a phone number. Each case is checked twice: with the question the entity
is there, and with `expects=None` (the turn alone) it is not, so none of these tests can pass without the rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.dialog.nlu import NluOptions, understand, understand_local, understand_rules

NOW = dt.datetime(2026, 3, 12, 10, 0, tzinfo=ZoneInfo("Europe/Istanbul"))  # a Thursday, the bench's BENCH_NOW


def _entities(text: str, language: str, expects: str | None) -> dict[str, str]:
    return understand_rules(text, now=NOW, language=language, expects=expects).entities


@pytest.mark.parametrize(
    ("text", "language", "name"),
    [
        ("deniz", "tr", "Deniz"),  # lower-case STT of a listed given name
        ("Evet, Deniz.", "tr", "Deniz"),
        ("Deniz Bey", "tr", "Deniz"),
        ("Deniz Hanım lütfen", "tr", "Deniz"),
        ("ahmet", "tr", "Ahmet"),
        ("Tolgahan", "tr", "Tolgahan"),  # capitalised, though the list lacks it
        ("Öykü", "tr", "Öykü"),
        ("efendim, ılgın", "tr", "Ilgın"),  # Turkish title case: ı → I
        ("Şey, Deniz", "tr", "Deniz"),
        ("Murat. Teşekkürler.", "tr", "Murat"),  # a name and thanks
        ("ahmet, teşekkür ederim", "tr", "Ahmet"),
        ("Ayşe. Ayşe Yılmaz.", "tr", "Ayşe Yılmaz"),  # said again, whole
        ("Dr. Ahmet Kaya", "tr", "Ahmet Kaya"),
        ("Emine teyze", "tr", "Emine"),  # "aunt", "uncle", "big sister" are said as Hanım and Bey are
        ("Sarah", "en", "Sarah"),
        ("Um, Sarah.", "en", "Sarah"),
        ("Mark", "en", "Mark"),
        ("Sure, Mark Jones.", "en", "Mark Jones"),
        ("Maria Garcia please", "en", "Maria Garcia"),
        ("O'Brien", "en", "O'Brien"),
        ("Sarah, thanks.", "en", "Sarah"),
        ("John Smith, thank you", "en", "John Smith"),
        ("Tom Baker, from Leeds", "en", "Tom Baker"),  # a full name, then more: the name was lost
        ("Mary Smith. I'm a new patient.", "en", "Mary Smith"),
        ("It's for my son, Jack Smith", "en", "Jack Smith"),  # the name last
        ("Just Mary", "en", "Mary"),
    ],
)
def test_a_bare_name_answers_the_name_question(text: str, language: str, name: str) -> None:
    assert _entities(text, language, "name").get("person_name") == name
    assert "person_name" not in _entities(text, language, None)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hayır.", "tr"),
        ("Bilmiyorum.", "tr"),
        ("Neden?", "tr"),
        ("Evet.", "tr"),
        ("Tamamdır.", "tr"),
        ("Olabilir.", "tr"),
        ("Anlamadım.", "tr"),
        ("Pardon", "tr"),
        ("Efendim?", "tr"),
        ("üç", "tr"),
        ("üçte", "tr"),
        ("Üç.", "tr"),
        ("Deniz'e", "tr"),  # someone else, in the dative
        ("Deniz?", "tr"),  # a question back
        ("Doktor", "tr"),
        ("öykü kaya", "tr"),  # lower case and not in the list: a word as much as a name
        ("İptal", "tr"),
        ("Hmm", "tr"),
        ("günaydın", "tr"),  # a greeting, though "Aydın" is a name
        ("Teşekkürler, Hakan Bey.", "tr"),  # thanks to the one answering
        ("Hoşça kalın.", "tr"),
        ("Teşekkürler.", "tr"),
        ("salı öğleden sonra", "tr"),  # a time said: "Salı" is in the given-name list
        ("Ayşe benim arkadaşım.", "tr"),  # a possessive after the name is the next thing said
        ("No.", "en"),
        ("I don't know.", "en"),
        ("Why?", "en"),
        ("Yes.", "en"),
        ("Three.", "en"),
        ("Whatever.", "en"),
        ("Help.", "en"),
        ("john", "en"),  # no English given-name list: lower case is no evidence
        ("Cancel it.", "en"),
        ("Tom, from Leeds", "en"),  # one word before the comma is as often "Sure" or "Great"
        ("Excuse me, what did you say", "en"),
    ],
)
def test_what_is_no_name_stays_no_name_when_a_name_is_asked(text: str, language: str) -> None:
    assert "person_name" not in _entities(text, language, "name")


def test_a_name_the_rules_found_is_kept() -> None:
    assert _entities("Adım Ayşe Yılmaz.", "tr", "name")["person_name"] == "Ayşe Yılmaz"
    assert _entities("My name is John Smith", "en", "name")["person_name"] == "John Smith"


@pytest.mark.parametrize(
    ("text", "language", "entities"),
    [
        ("üç", "tr", {"time": "15:00"}),  # the opening-hours rule: 15:00 of 03:00 and 15:00
        ("on", "tr", {"time": "10:00"}),
        ("evet on iki", "tr", {"time": "12:00"}),
        ("on beşi", "tr", {"date": "2026-03-15"}),
        ("15'i", "tr", {"date": "2026-03-15"}),
        ("yirmisi", "tr", {"date": "2026-03-20"}),
        ("three", "en", {"time": "15:00"}),
        ("eleven", "en", {"time": "11:00"}),
        ("15th", "en", {"date": "2026-03-15"}),
    ],
)
def test_a_bare_hour_or_day_answers_the_when_question(text: str, language: str, entities: dict[str, str]) -> None:
    assert _entities(text, language, "datetime") == entities
    assert not set(entities) & set(_entities(text, language, None))


@pytest.mark.parametrize(
    ("text", "language"),
    [("üç kişi", "tr"), ("otuz", "tr"), ("ikisi", "tr"), ("Deniz", "tr"), ("3 people", "en"), ("1234", "en")],
)
def test_a_count_is_no_time_even_when_a_time_is_asked(text: str, language: str) -> None:
    got = _entities(text, language, "datetime")
    assert "time" not in got and "date" not in got


def test_a_bare_hour_joins_the_day_the_turn_said() -> None:
    assert _entities("yarın üç", "tr", "datetime")["datetime"] == "2026-03-13T15:00:00+03:00"  # the rules' own


@pytest.mark.parametrize(
    ("text", "language", "phone"),
    [
        ("1112233", "tr", "+901112233"),
        ("111 22 33", "tr", "+901112233"),
        ("beş üç iki bir bir bir iki", "tr", "+905321112"),
    ],
)
def test_digits_alone_answer_the_phone_question(text: str, language: str, phone: str) -> None:
    got = _entities(text, language, "phone")
    assert got == {"phone": phone}
    assert "phone" not in _entities(text, language, None)


@pytest.mark.parametrize(("text", "language"), [("12345", "tr"), ("1234", "en"), ("üçte", "tr"), ("Deniz", "tr")])
def test_too_few_digits_or_words_are_no_phone(text: str, language: str) -> None:
    assert "phone" not in _entities(text, language, "phone")


@pytest.mark.parametrize("expects", ["confirmation", "choice", "order_id", None])
def test_other_questions_change_nothing(expects: str | None) -> None:
    for text, language in (("deniz", "tr"), ("üç", "tr"), ("111 22 33", "tr"), ("Sarah", "en")):
        assert _entities(text, language, expects) == _entities(text, language, None)


def test_a_bare_name_to_a_choice_is_the_one_chosen_not_the_caller() -> None:
    # "Hangi berberimizi tercih edersiniz? Emre mi, Mehmet mi?" — "Emre": a choice; alone, the caller's name
    assert "person_name" not in _entities("Emre", "tr", "choice")
    assert _entities("Emre", "tr", None)["person_name"] == "Emre"
    assert _entities("Adım Ayşe, Emre olsun", "tr", "choice")["person_name"] == "Ayşe"


def test_every_entry_point_takes_the_question() -> None:
    assert understand_local("deniz", now=NOW, language="tr", expects="name").entities == {"person_name": "Deniz"}
    result = asyncio.run(understand("üç", now=NOW, language="tr", expects="datetime"))
    assert result.entities == {"time": "15:00"}


def test_a_bare_answer_carries_no_intent_for_the_model_to_guess() -> None:
    """Alone, "üç" is worded and the rules are unsure, so the learned model names an intent (it said
    "transfer_to_human"); as the answer to "Ne zaman?" it is the answer and nothing else, like digits."""
    alone = understand_local("üç", now=NOW, language="tr")
    assert alone.source == "model" and alone.intent != "other"
    answer = understand_local("üç", now=NOW, language="tr", expects="datetime")
    assert (answer.intent, answer.source) == ("other", "rules")


def test_nor_for_the_llm() -> None:
    from tests.test_nlu import ScriptedLlm

    llm, options = ScriptedLlm(reply="bye"), NluOptions(use_model=False)
    alone = asyncio.run(understand("üç", now=NOW, language="tr", llm=llm, options=options))  # type: ignore[arg-type]
    assert (alone.intent, alone.source, llm.calls) == ("end_call", "llm", 1)
    answer = asyncio.run(
        understand("üç", now=NOW, language="tr", llm=llm, options=options, expects="datetime")  # type: ignore[arg-type]
    )
    assert (answer.intent, answer.source, answer.entities, llm.calls) == ("other", "rules", {"time": "15:00"}, 1)


@pytest.mark.parametrize(
    ("text", "language", "expects", "intent"),
    [
        ("Hangisi daha erken?", "tr", "choice", "other"),  # about the times offered
        ("daha geç bir saat var mı", "tr", "choice", "other"),
        ("Hayır, başka saat var mı?", "tr", "confirmation", "deny"),
        ("randevumu başka bir saate alalım", "tr", "confirmation", "reschedule_appointment"),  # a booking of theirs
        ("Hangisi daha erken?", "tr", None, "reschedule_appointment"),  # with no offer pending, as before
        ("can I move my appointment to later", "en", "choice", "reschedule_appointment"),
        ("başka bir saat olur mu", "tr", "confirmation", "deny"),  # "olur" is no yes here
        ("Evet, değiştirin", "tr", "confirmation", "reschedule_appointment"),  # a yes to moving it: the task's
        ("Cuma 10", "tr", "datetime", "other"),  # an answer: no model guess (it said create_appointment)
        ("The earlier one", "en", "choice", "other"),  # the model's guess of a booking task is not taken
        # ... but a turn that answers nothing is still the model's to read: a goodbye
        ("boşverin, sonra ararım", "tr", "datetime", "end_call"),
        ("never mind, I will call back later", "en", "datetime", "end_call"),
    ],
)
def test_the_intent_of_a_turn_with_a_question_pending(
    text: str, language: str, expects: str | None, intent: str
) -> None:
    assert understand_local(text, now=NOW, language=language, expects=expects).intent == intent

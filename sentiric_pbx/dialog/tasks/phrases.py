"""The safe sentences tasks speak, per language, filled from facts with `str.format`.

Keeping every template in one table lets a reviewer read all that the agent can say about bookings
on one screen, and lets the tests check that each one renders in each language.
"""

from __future__ import annotations

from typing import Any

from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.dialog.tasks.speech import capitalize, lang_of

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "ask_when": "When would you like to come in?",
        "ask_other_time": "What time would suit you better?",
        "offer": "Would {choice} suit you?",
        "offer_day_full": "I'm sorry, {day} is fully booked. Would {choice} suit you?",
        "offer_week_full": "I'm sorry, that week is fully booked. Would {choice} suit you?",
        "offer_taken": "I'm sorry, {when} is already taken. Would {choice} suit you?",
        "offer_taken_meanwhile": "I'm sorry, {when} was just taken. Would {choice} suit you instead?",
        "offer_closed": "{hours} The nearest free times are {choice}. Would one of those suit you?",
        "offer_past": "That time has already passed. The next free times are {choice}. Would one of those suit you?",
        "offer_soon": "That is too soon to book. The nearest free times are {choice}. Would one of those suit you?",
        "offer_which": "Which would you prefer: {choice}?",
        "confirm": "Shall I book you for {when}?",
        "confirm_correction": "No problem. Shall I book you for {when} instead?",
        "ask_name": "Can I have your name for the booking?",
        "booked": "Done. You're booked for {when}.",
        "no_free": "I'm sorry, there is no free time in the next {days} days.",
        "calendar_down": "I'm sorry, I can't reach the calendar right now. Please try again in a few minutes.",
        "task_error": "I'm sorry, something went wrong on my side.",
        "ask_phone": "Which phone number did you make the appointment with?",
        "none_found": "I can't find an upcoming appointment for your number.",
        "check_one": "You have an appointment for {when}.",
        "check_many": "You have appointments for {choice}.",
        "cancel_confirm": "You have an appointment for {when}. Shall I cancel it?",
        "cancel_which": "You have appointments for {choice}. Which one shall I cancel?",
        "cancelled": "Your appointment for {when} is cancelled.",
        "cancel_kept": "All right, I'll keep your appointment for {when}.",
        "move_ask_when": "Your appointment is for {old}. When would you like to move it to?",
        "move_which": "You have appointments for {choice}. Which one would you like to move?",
        "move_confirm": "Shall I move your appointment from {old} to {when}?",
        "move_confirm_correction": "No problem. Shall I move your appointment from {old} to {when} instead?",
        "moved": "Done. Your appointment is moved from {old} to {when}.",
        "transfer": "One moment, I'll put you through to a colleague.",
        "goodbye": "Thank you for calling {business}. Goodbye!",
    },
    "tr": {
        "ask_when": "Ne zaman gelmek istersiniz?",
        "ask_other_time": "Hangi saat size daha uygun olur?",
        "offer": "{choice} uygun olur mu?",
        "offer_day_full": "Maalesef {day} dolu. {choice} uygun olur mu?",
        "offer_week_full": "Maalesef o hafta dolu. {choice} uygun olur mu?",
        "offer_taken": "Maalesef {when} dolu. {choice} uygun olur mu?",
        "offer_taken_meanwhile": "Özür dilerim, {when} az önce doldu. Bunun yerine {choice} uygun olur mu?",
        "offer_closed": "{hours} En yakın boş saatler: {choice}. Bunlardan biri uygun olur mu?",
        "offer_past": "O saat geçti. En yakın boş saatler: {choice}. Bunlardan biri uygun olur mu?",
        "offer_soon": "O saat çok yakın. En yakın boş saatler: {choice}. Bunlardan biri uygun olur mu?",
        "offer_which": "Hangisini tercih edersiniz: {choice}?",
        "confirm": "Sizi {when} için kaydedeyim mi?",
        "confirm_correction": "Tamam. Onun yerine {when} için kaydedeyim mi?",
        "ask_name": "Randevu için adınızı alabilir miyim?",
        "booked": "Tamam, randevunuz {when} için oluşturuldu.",
        "no_free": "Maalesef önümüzdeki {days} gün içinde boş saat yok.",
        "calendar_down": "Maalesef şu anda takvime ulaşamıyorum. Lütfen birkaç dakika sonra tekrar deneyin.",
        "task_error": "Özür dilerim, bir sorun oluştu.",
        "ask_phone": "Randevuyu hangi telefon numarasıyla aldınız?",
        "none_found": "Numaranıza kayıtlı yaklaşan bir randevu bulamadım.",
        "check_one": "{when} randevunuz var.",
        "check_many": "{choice} randevularınız var.",
        "cancel_confirm": "{when} randevunuz var. İptal edeyim mi?",
        "cancel_which": "{choice} randevularınız var. Hangisini iptal edeyim?",
        "cancelled": "{when} randevunuz iptal edildi.",
        "cancel_kept": "Peki, {when} randevunuz duruyor.",
        "move_ask_when": "Randevunuz {old}. Ne zamana almak istersiniz?",
        "move_which": "{choice} randevularınız var. Hangisini değiştirmek istersiniz?",
        "move_confirm": "Randevunuzu {old} yerine {when} olarak değiştireyim mi?",
        "move_confirm_correction": "Tamam. Randevunuzu {old} yerine {when} olarak değiştireyim mi?",
        "moved": "Tamam, randevunuz {old} yerine {when} olarak değiştirildi.",
        "transfer": "Bir dakika, sizi bir arkadaşıma aktarıyorum.",
        "goodbye": "Aradığınız için teşekkürler. İyi günler!",
    },
}


def say(language: str, key: str, **facts: Any) -> str:
    """The template `key` in the call's language, filled and capitalised."""
    lang = lang_of(language)
    return capitalize(PHRASES[lang][key].format(**facts), lang)


def hours_sentence(business: BusinessConfig, language: str) -> str:
    """The opening hours as a sentence: the admin's own text in English, built from the fields in Turkish."""
    if lang_of(language) != "tr":
        return business.opening_hours_text
    names = ("Pazartesi", "Salı", "Çarşamba", "Perşembe", "Cuma", "Cumartesi", "Pazar")
    days = sorted(set(business.open_days))
    if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        span = f"{names[days[0]]}–{names[days[-1]]}"
    else:
        span = ", ".join(names[d] for d in days)
    return f"{span} günleri {business.open_time}–{business.close_time} arası açığız."

"""The words that point at each intent, with how strongly, for English and Turkish.

Weights: 3 says the intent on its own ("cancel", "reschedule", "real person"); 2 is strong but
shared or indirect ("come in", "instead", "yes"); 1 only tips a balance ("appointment", "thanks").
A cue can point at two intents ("can't make it": mostly cancel, a little reschedule), and the
classifier (`intents`) decides. Patterns run on `Normalized.words`: lowercase, no apostrophes,
Turkish folded to ASCII.

`negatable=False` marks cues whose meaning survives a "not": "I don't want to talk to a *robot*"
still asks for a human, and "won't be able to make it" carries its own negation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    pattern: re.Pattern[str]
    weights: Mapping[str, int]
    negatable: bool = True


def cue(pattern: str, negatable: bool = True, **weights: int) -> Cue:
    return Cue(re.compile(pattern), weights, negatable)


_APPT = (
    r"(?:appointment|appt|appoint|visit|checkup|check up|cleaning|consultation|exam|session|booking|timeslot|"
    r"time slot|meeting|interview|viewing|haircut|trim|manicure|pedicure|massage|facial)"
)

EN: tuple[Cue, ...] = (
    # create_appointment
    cue(rf"\b(?:book|schedule|set up|setup|arrange|make)\b(?: \w+){{0,3}}? {_APPT}\b", create_appointment=3),
    cue(r"\bbook (?:me|us|him|her|in)\b", create_appointment=3),
    cue(r"\b(?:put|pencil|write|sign) (?:me|us|him|her) (?:down|in)\b", create_appointment=3),
    cue(r"\b(?:book|schedule)\b", create_appointment=2),  # the verbs; "my booking" is any intent's noun
    cue(rf"\b(?:new|first|another) {_APPT}\b", create_appointment=3),
    cue(rf"\b(?:need|want|wanna|like|get) (?:\w+ )?(?:an? |some )?{_APPT}\b", create_appointment=2),
    cue(
        r"\b(?:fit (?:me|us|him|her) in|squeeze (?:me|us) in|come in|come by|stop by|see (?:the|a) doctor|"
        r"see doctor|see dr|get in|available|availability|openings?(?! hours)|free (?:slot|time)s?|any slots?)\b",
        create_appointment=2,
    ),
    cue(r"\banything (?:open|free|available)\b", create_appointment=3),
    # "do you have anything on thursday", "id like to see someone about my back": asking for a slot
    cue(r"\b(?:have|got) anything (?:on|for|this|next|tomorrow|today|later)\b", create_appointment=3),
    cue(r"\bsee (?:someone|somebody)\b", create_appointment=3),
    cue(
        r"\b(?:what|which) (?:times|slots|days|dates)\b(?: \w+){0,3}? "
        r"(?:do you have|have you got|are (?:free|available))\b"
        r"|\b(?:next|earliest|first|soonest) (?:open|free|available) (?:appointment|slot|time|spot|opening)s?\b",
        create_appointment=4,
    ),
    cue(r"\b(?:appointments?|slots?|spots?|times?) (?:open|free|available|left)\b", create_appointment=3),
    cue(rf"\b{_APPT}s?\b", create_appointment=1),
    # A booking the caller already has ("i have an appointment on thursday", "my cleaning", "i booked a haircut")
    # is about to be cancelled or moved more often than booked again: it takes back the noun's point.
    cue(
        rf"\b(?:i|we) (?:have|had|booked|made|got) (?:an? |my |the |our )?(?:\w+ )?{_APPT}\b|\b(?:my|our) {_APPT}\b",
        False,
        create_appointment=-1,
        cancel_appointment=1,
        reschedule_appointment=1,
    ),
    cue(r"\bsomething (?:came|has come|come|just came) up\b", False, cancel_appointment=1, reschedule_appointment=2),
    # cancel_appointment
    cue(r"\bcancel\w*\b", cancel_appointment=3),
    cue(r"\bcall (?:\w+ ){0,2}off\b", cancel_appointment=3),
    cue(rf"\b(?:drop|remove|delete|scrap|scratch)\b(?: \w+){{0,2}} {_APPT}\b", cancel_appointment=3),
    cue(r"\b(?:dont|do not|no longer) need (?:\w+ ){0,2}(?:any ?more|any longer)\b", False, cancel_appointment=2),
    cue(r"\bno longer need\b", False, cancel_appointment=3),
    cue(r"\b(?:take|strike|cross) (?:me|us|it|my name) off\b", cancel_appointment=3),
    cue(
        r"\b(?:wont|cant|cannot|will not|not going to|unable to) (?:be able to )?(?:make it|come|attend|be there"
        r"|be coming)\b|\b(?:im|i am|were|we are) not (?:coming|going to come|gonna come)\b",
        False,
        cancel_appointment=2,
        reschedule_appointment=1,
    ),
    # reschedule_appointment
    cue(r"\bre ?schedul\w*\b|\bre ?book\w*\b|\bpostpon\w*\b|\brearrang\w*\b", reschedule_appointment=3),
    cue(r"\b(?:move|moving|moved|shift|bump|push|switch|swap)\b", reschedule_appointment=3),
    cue(r"\bchang\w*\b(?: \w+){0,4}? (?:appointment|appt|time|date|day|booking|it)\b", reschedule_appointment=3),
    cue(r"\b(?:different|another|other|new|later|earlier) (?:day|date|time|slot|hour)\b", reschedule_appointment=3),
    cue(r"\b(?:an? )?(?:earlier|later|different) (?:appointment|visit|booking)\b", reschedule_appointment=3),
    cue(r"\b(?:earlier|later|sooner) than (?:planned|scheduled|booked|we said)\b", reschedule_appointment=3),
    cue(r"\binstead\b", reschedule_appointment=2),
    # ask_opening_hours
    cue(r"\b(?:opening|business|office|working|clinic|your|the) hours\b", ask_opening_hours=3),
    cue(r"\b(?:opening|closing) times?\b", ask_opening_hours=3),
    cue(
        r"\b(?:are|is) (?:you|the (?:clinic|office|practice|place))(?: guys)? (?:still )?(?:open|closed)\b",
        ask_opening_hours=3,
    ),
    cue(
        r"\b(?:what time|when|how late|how early|till|until)\b(?: \w+){0,4}? (?:open|opens|close|closes|closed|"
        r"closing|opening)\b",
        ask_opening_hours=3,
    ),
    cue(r"\b(?:do|does) (?:you|the clinic|the office)(?: guys)? (?:open|close)\b", ask_opening_hours=3),
    cue(
        r"\b(?:do|does) (?:you|the clinic|the office|the practice)(?: guys)? (?:work|operate)\b"
        r"|\b(?:until|till|til) (?:when|what time)\b"
        r"|\b(?:when|what time|what hours) can i (?:reach|call|get hold of|get through to)\b"
        r"|\b(?:anyone|someone|somebody) there (?:after|before|at|on|in the|tonight|today)\b",
        ask_opening_hours=3,
    ),
    cue(r"\bwhat days\b(?: \w+){0,3}? (?:open|work)\b", ask_opening_hours=3),
    cue(r"\b(?:open|closed)\b", ask_opening_hours=1),
    cue(
        r"\bhow (?:long|late|early) (?:are|is) (?:you|the \w+)(?: guys)? (?:open|available|around|there|in)\b"
        r"|\b(?:anyone|someone|somebody|you|you guys) (?:around|there|in) (?:on|at|after|before|this|tonight|today"
        r"|tomorrow|in the|weekends?|saturdays?|sundays?|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b",
        ask_opening_hours=3,
    ),
    # transfer_to_human
    cue(r"\b(?:real|live|actual) (?:person|human|agent|someone|people)\b|\bhumans?\b", transfer_to_human=3),
    cue(r"\b(?:a|some|any) (?:person|people)\b", transfer_to_human=3),
    cue(r"\b(?:someone|somebody|anyone|anybody)\b", transfer_to_human=2),
    cue(
        r"\b(?:operator|receptionist|reception|front desk|representative|agent|staff|secretary|manager|billing|"
        r"department|nurse|customer (?:service|support|care)|support (?:team|desk|line)|help ?desk)\b",
        transfer_to_human=3,
    ),
    # "put me through/on to": a transfer; "put me down/in for monday": a booking (issue 15's first example).
    cue(
        r"\b(?:transfer|connect|patch|forward) (?:me|my call|the call|us)\b"
        r"|\bput (?:me|my call|us) (?:through|on to|onto|to)\b",
        transfer_to_human=3,
    ),
    cue(r"\b(?:speak|talk) (?:to|with)\b(?! you\b)", transfer_to_human=2),
    cue(r"\b(?:robot|robots|machine|bot|computer|automated|recording)\b", False, transfer_to_human=3),
    # "are you a robot?" asks what we are; "I don't want a robot" asks for a person (above)
    cue(
        r"\b(?:are you|is this|am i (?:talking|speaking) (?:to|with)) (?:a |an )?(?:real )?"
        r"(?:robot|bot|machine|computer|human|person|recording|ai)\b",
        False,
        other=4,
    ),
    # end_call
    cue(
        r"\b(?:bye|goodbye|good bye|see you|see ya|take care|hang up|have a (?:nice|good|great|lovely|wonderful) \w+|"
        r"(?:thats|that is|that will be|thatll be|that would be|thatd be|that was) (?:all|it|everything)|"
        r"nothing else|nothing more|all set|im done|i am done|(?:talk|speak) to you (?:later|soon|tomorrow)|"
        r"no (?:more|other|further) questions|(?:ill|i will) (?:call|ring) (?:back|again)|good ?night|"
        r"gotta go|got to go|have to go|catch you later|speak soon|talk soon|ciao)\b",
        end_call=3,
    ),
    cue(r"\b(?:thanks|thank you|thank u|cheers)\b", end_call=1),
    # affirm (a negated affirm cue counts for deny: "that doesnt work", "thats not right")
    cue(
        r"\b(?:yes|yeah|yep|yup|yah|sure|okay|ok|alright|all right|correct|exactly|perfect|absolutely|definitely|"
        r"certainly|affirmative|of course|go ahead|please do|uhhuh|no problem|no worries)\b(?<!where exactly)",
        affirm=2,
    ),
    # "that works" is a yes; "do you work saturdays" is not
    cue(r"(?<!you )(?<!we )(?<!they )(?<!doctor )\bworks?\b(?! on| at| in| there| here| weekends)", affirm=2),
    cue(r"\b(?:sounds good|sounds great|good for me|fine by me|fine with me|suits me)\b", affirm=2),
    cue(r"\b(?:thats|that is|its|that sounds) (?:right|fine|good|great|correct|ok|okay)\b", affirm=2),
    cue(r"\b(?:great|fine|good|right|lovely)\b", affirm=1),
    # deny
    cue(r"\b(?:no(?! problem| worries| one)|nope|nah|negative|wrong|incorrect)\b", deny=2),
    cue(r"\bnot (?:really|quite|that|this|at all)\b|\b(?:is|its) bad\b|\bbad for me\b", deny=2),
    cue(r"\bi said\b|\bi meant\b|\bthe other\b", deny=1),
    cue(r"\b(?:afraid not|i dont think so|dont think so|not on|not at|never)\b", deny=2),
    cue(r"\b(?:i|we) (?:cant|cannot) (?:really )?(?:do|make) (?:it|that|then|this)\b", False, deny=3),
    cue(r"\b(?:absolutely|definitely|certainly|of course|surely) not\b|\bno good\b", False, deny=4),
    # "Forget it" to "Shall I book you?" was a yes (the model's guess), and booked it
    cue(r"\b(?:forget (?:it|about it|that)|scratch that|changed my mind|dont bother)\b", False, deny=3),
    cue(
        r"\bnot (?:today|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|morning|afternoon)\b", deny=2
    ),
    # other: questions we know are not one of the tasks
    cue(
        r"\b(?:how much|price|prices|cost|costs|fee|insurance|located|location|address|where are you|parking|"
        r"directions|hear me|question about|bill|pardon|repeat|what was that|email|"
        r"do you do|do you offer|do you have)\b",
        other=2,
    ),
    cue(r"\b(?:not sure|dont know|no idea|not certain)\b", False, other=3),  # not a "no"
    cue(
        r"\b(?:located|location|situated|address|postcode|directions|insurances?)\b"
        r"|\bwhere (?:exactly )?(?:are|is) (?:you|your|the)\b|\bhow (?:do|can) i get (?:to|there)\b",
        False,
        other=3,
    ),
    cue(r"\b(?:hello|hi|hey)\b", other=1),
    cue(r"\bgood (?:morning|afternoon|evening|day)\b", False, other=2),  # a greeting, not a "good"
)

TR: tuple[Cue, ...] = (
    # create_appointment
    cue(r"\b(?:randevu|rezervasyon) (?:al|olustur|ayarla|ayir|istiyor|rica|yap|talep)\w*", create_appointment=3),
    cue(
        r"\bgelmek istiyorum\b|\bmuayene(?!hane)\w*|\bmusait\w*|\bbos (?:yer|saat|randevu|zaman)\w*",
        create_appointment=2,
    ),
    cue(r"\b(?:uygun|musait|bos) (?:mu|mi|musunuz|misiniz|muyuz|miyiz)\b", False, create_appointment=3),
    cue(
        r"\bne zaman (?:uygun|musait|bos)\w*|\buygun (?:bir )?(?:saat|yer|gun|zaman)\w*"
        r"|\bgelebilir(?:im|miyim|iz|miyiz)\b|\b(?:gormek|gorunmek) istiyorum\b",
        False,
        create_appointment=3,
    ),
    cue(r"\brandevu\w*", create_appointment=1),
    # a booking the caller already has ("randevum vardı", "randevuma gelemeyeceğim"): see the English cue
    cue(
        r"\brandevu(?:m|mu|ma|mun|muz|muzu|muza) ?(?:vardi|var)?\b",
        False,
        create_appointment=-1,
        cancel_appointment=1,
        reschedule_appointment=1,
    ),
    # "internetten randevu almaya çalıştım olmadı": the booking failed, the caller wants help, not a booking
    cue(
        r"\b(?:calistim|denedim|calistik|denedik)\b(?: \w+){0,2}? (?:olmadi|yapamadim|alamadim|hata verdi)\b",
        False,
        create_appointment=-3,
    ),
    # cancel_appointment
    cue(r"\biptal\w*", cancel_appointment=3),
    cue(r"\bvazgec\w*", cancel_appointment=2),
    cue(r"\b(?:listeden|takvimden|kayittan|sistemden) (?:cikar|sil)\w*", False, cancel_appointment=3),
    cue(r"\brandevu\w*(?: \w+){0,2} (?:ihtiyacim yok|gerek yok|gerek kalmadi)\b", False, cancel_appointment=4),
    cue(
        r"\bgele(?:meyecegim|meyecem|mem|miyorum|meyecegiz|meyiz)\b",
        False,
        cancel_appointment=2,
        reschedule_appointment=1,
    ),
    # reschedule_appointment
    cue(
        r"\bertele\w*|\bdegistir\w*|\bkaydir\w*|\bdegisik\w*|\bguncelle\w*|\byeniden (?:ayarla|planla)\w*",
        reschedule_appointment=3,
    ),
    cue(r"\b(?:baska|farkli) (?:bir )?(?:gun|saat|zaman|tarih)\w*", reschedule_appointment=4),
    cue(r"\brandevu\w+ (?:\w+ ){0,3}\w+(?:a|e|ya|ye) al\w*", reschedule_appointment=3),
    cue(r"\byerine\b|\bdaha (?:erken|gec)\b", reschedule_appointment=2),
    # "yarına alabilir miyiz", "cumaya alsak olur mu": the booking moves to another day
    cue(
        r"\b(?:yarina|cumaya|pazartesiye|saliya|carsambaya|persembeye|cumartesiye|pazara|haftaya|sonraya|ileriye"
        r"|obur gune|ogleden sonraya|aksama|sabaha|baska (?:bir )?gune) (?:al|cek|kaydir|ertele)\w*",
        reschedule_appointment=3,
    ),
    # ask_opening_hours
    cue(r"\b(?:calisma|mesai|acilis|kapanis|ziyaret) saat\w*", ask_opening_hours=3),
    cue(
        r"\bkaca kadar\b|\bkacta (?:acil|kapan|acik|kapat|aciyor)\w*|\bacik mi\w*|\bkapali mi\w*"
        r"|\bacik\w* degil mi\b",
        False,
        ask_opening_hours=3,
    ),
    cue(r"\bacil(?:iyor|is|ir)\w*|\bkapan(?:iyor|is|ir)\w*", ask_opening_hours=2),
    cue(r"\ben gec (?:saat )?(?:kacta|kaca|ne zaman)\w*|\bkactan kaca\b", False, ask_opening_hours=4),
    cue(r"\bacik\w*|\bkacta\b", ask_opening_hours=1),
    # transfer_to_human
    # ... but not the caller saying what they are ("X Bey'in sekreteriyim", "firmanın yetkilisiyiz"): -yim/-yiz
    cue(r"\b(?:yetkili|temsilci|operator)(?!\w*yi[mz]\b)\w*|\binsan\w*|\bbagla\w*", transfer_to_human=3),
    cue(
        r"\b(?:gercek bir|biriyle|birisiyle|kimseyle|(?:sekreter|resepsiyon|danisma|hemsire)(?!\w*yi[mz]\b)\w*"
        r"|doktor\w*la)\b",
        transfer_to_human=2,
    ),
    cue(r"\b(?:gorusmek|konusmak) istiyorum\b", transfer_to_human=1),
    cue(r"\brobot\w*|\bmakine\w*|\botomatik\w*|\bsistemle\b|\bbilgisayarla\b", False, transfer_to_human=3),
    cue(
        r"\b(?:robot|bot|makine)\w* mu(?:sunuz|sun|yum)?\b|\bkiminle konusuyorum\b"
        r"|\b(?:insan|gercek) mi(?:sin|siniz)\b",
        False,
        other=4,
    ),
    # end_call
    cue(
        r"\bhosca kal\w*|\bgule gule\b|\bbay bay\b|\bbye\b|\bgorusmek uzere\b|\bgorusuruz\b|"
        # "iyi günler" closes a call, but opens one when more follows ("iyi günler randevu için arıyorum")
        r"\biyi (?:gunler|aksamlar)\b(?! (?!dilerim|size)\w)|"
        r"\bbu kadar\b|\bbaska (?:bir )?(?:sey |seyim |bisey |sorum |istegim )?(?:yok|kalmadi)\b"
        r"|\bkapat(?!iyorsunuz|iyor musunuz)\w*|\b(?:simdilik|bugunluk) (?:yeterli|bu kadar|tamam)\b|\bhepsi bu\b",
        end_call=3,
    ),
    cue(r"\btesekkur\w*|\bsagol\w*|\bsag ol\w*", end_call=1),
    # affirm / deny
    cue(
        r"\b(?:evet|tamam|tamamdir|olur|uygun|aynen|tabii|tabi|peki|dogru|kesinlikle|harika|super|uyar|olsun)\b",
        affirm=2,
    ),
    cue(r"\b(?:hayir|yok|olmaz|istemiyorum|istemem|uymuyor|yanlis|degil|kalsin)\b", deny=2),
    cue(r"\b(?:uymaz|uymuyor|uygun degil|isime gelmiyor)\b", False, deny=3),
    cue(r"\b(?:asla|ilgilenmiyorum|ilgilenmem|sanmiyorum|hic sanmam)\b", False, deny=3),
    cue(r"\b(?:musait|bos) degil\w*", False, deny=4),
    # other
    cue(
        r"\b(?:fiyat\w*|ucret\w*|ne kadar|adres\w*|nerede\w*|nerdesiniz|neresi\w*|sigorta\w*|otopark\w*|duyuyor mu\w*|"
        r"sesim\w*|fatura\w*)",
        other=2,
    ),
    cue(r"\b(?:alo|merhaba|hey)\b", other=1),
    # how the caller feels ("iyiyim", "harikayım") answers "nasılsınız", it is not a yes
    cue(r"\b(?:iyiyim|harikayim|superim|mutluyum|kotuyum|uzgunum|yorgunum|idare eder)\b", False, other=3),
    cue(r"\b(?:fiyat|ucret|bedel)\w*", False, other=3),  # "muayene ücreti": a price, not a booking
    cue(r"\b(?:hangi|ne tur|ne gibi) (?:hizmet|tedavi|islem)\w*", False, other=3),  # what is offered, not when
    # "size nasıl gelebilirim" asks the way, not for a slot
    cue(r"\bnasil (?:gelebilir|ulas|gid|gel|bul)\w*", False, other=4),
)

"""Common Turkish given names, lowercase with Turkish letters (as `Normalized.plain` writes them).

Why a list: after "ben" a single word is as often a name ("ben Ahmet") as anything else ("ben dün",
"ben tekrar"), and a word before "'in randevusu" is as often a name as a thing. Where the rules would
otherwise need two name-like words, one word from this list is enough. It is a help, not a gate: a name
it does not hold is still found after "adım"/"ismim", as a first and last name after "ben", or as one
capitalised word after "ben" at the end of a turn ("Merhaba, ben Menekşe.").

The common names are written out here; `tr_given_names_public.py` adds the rarer ones ("Umutcan", "Berkay")
from two MIT-licensed lists, without the ones that are also common words.
"""

from __future__ import annotations

from sentiric_pbx.dialog.nlu.tr_given_names_public import TR_GIVEN_NAMES_PUBLIC

TR_FIRST_NAMES = TR_GIVEN_NAMES_PUBLIC | frozenset(
    """
    abdullah adem adnan ahmet akif alev ali alp alper altan arda arif arzu asiye aslı aslan ayla aylin aysel
    aysun ayşe ayşegül aytaç ayten baran barış başak batuhan bayram belgin belma berk berkay berna betül
    beyza bilal bilge birol burak burcu burçin bülent büşra can canan cansu cem cemal cemil cengiz ceren
    cevdet ceyda cihan coşkun cüneyt çağan çağla çağrı damla defne deniz derya deniz didem dilek dilan
    dilara doğan doğukan duygu ebru ece ecem eda efe ekin ekrem elçin elif elifnur elvan emel emine emir
    emre ender engin enes erdem erdal erdoğan eren ergün erhan erkan ersin ertan ertuğrul esin esra eylül
    ezgi faruk fatih fatma fatmanur ferhat feride figen fikret filiz fuat funda furkan gamze gizem gökay
    gökhan göksel gökçe gönül gül gülay gülcan gülşen gülten gürkan güler gülsüm hakan halil halit hande
    hasan hatice hayriye hazal hilal hülya hüseyin ibrahim ilhan ilker ilknur inci ipek irem ismail
    işıl kaan kadir kamil kemal kenan kerem kerim koray kübra leyla levent mahmut mehmet mehtap melek
    melike melis meltem merve mert mesut metin mine muhammed murat mustafa müge münevver nazlı necati
    necla nermin nesrin neslihan nevin nihat nil nilay nilüfer nur nuran nurcan nuri nursel oğuz oğuzhan
    okan onur orhan osman ozan ömer önder özge özgür özlem pelin pınar rabia ramazan recep reyhan rıza
    rukiye rümeysa sabri sadık safiye salih sami sanem savaş selim selin selma sema semra sena serap
    serdar serkan serpil sevgi sevim sevda sevil seda sedat selçuk semih serhat sibel sinan sinem soner
    songül suat sultan sude sümeyye şahin şenay şeyma şule şükrü tarık taylan tayfun tolga tuba tuğba
    tuğçe tülay tuncay turan turgay tülin ufuk uğur ulaş umut ümit ünal vedat volkan yağmur yasemin yasin
    yavuz yeliz yıldız yılmaz yiğit yunus yusuf zafer zehra zekeriya zerrin zeynep zübeyde zuhal
    """.split()
)

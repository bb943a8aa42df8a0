"""The Turkish words that are never a name where the name rules look for one (names.py).

Why apart: they are the rules' vocabulary, read and extended on their own ("ben Müşteri." is no name), while
names.py holds how a name is found. Spelled as `Normalized.plain` writes them: lower case, Turkish letters
kept, and the ASCII spelling too where callers type either.
"""

from __future__ import annotations

# Words that end a name after an introduction phrase, or are never its first word.
COMMON_TR = frozenset(
    """
    ve ile ben benim biz randevu randevumu randevuyu randevum randevusu randevusunu rezervasyon rezervasyonu
    teşekkür tesekkur ederim nerede nerde neredesin neredesiniz ayı ayının ayında ayındaki yaş yas yaşında yasinda
    falan filan
    rezervasyonum kaydı kaydım almak istiyorum istiyordum icin için yarin yarın
    bugun bugün dün dun evet hayir hayır tamam merhaba iyi gunler günler lutfen lütfen de da bir bu su şu o
    iptal etmek degistirmek değiştirmek saat çok cok daha hiç hic şimdi simdi sadece hasta doktor gelecek ne nasıl
    nasil neden niye kim zaten aslında aslinda biraz az siz size sizi sizin onu ona bunu buna mi mı mu mü var yok
    değil degil olur olmaz tabii peki şey sey hemen acil geç gec erken sabah öğle ogle akşam aksam gece hafta
    haftaya ay pazartesi salı sali çarşamba carsamba perşembe persembe cuma cumartesi pazar memnun bey hanım hanim
    arıyorum ariyorum müşteri musteri hastanız hastaniz yeni eski ilk
    kızım kizim oğlum oglum annem babam eşim esim kendi kendim benim adıma adima başka baska birinin
    birisinin şirket sirket şirketimiz firma firmamız firmamiz kurum hasta hastam olarak
    kim kimin kime kimi kimden kiminle neyin hangi hangisi nedir neydi
    adı adi ismi soyadı soyadi adınız adiniz isminiz
    sayın sayin sevgili değerli degerli kıymetli tatlım güzel harika süper mükemmel
    """.split()
)

# Greetings and fillers a turn may open with before the name ("Merhaba, Ahmet Kaya …").
OPENERS_TR = frozenset(
    "merhaba merhabalar alo selam selamlar evet tamam iyi günler gunler akşamlar aksamlar günaydın gunaydin "
    "efendim".split()
)

# Titles after a given name: "Ahmet Bey" is the person addressed or spoken of, not the caller signing.
HONORIFICS_TR = frozenset({"bey", "hanım", "hanim", "teyze", "amca", "abla", "abi", "ağabey", "agabey"})

# "Hastanın adı Ayşe Kaya", "Çocuğumun adı Ali", "Hasta adı soyadı …": the name of the person the booking is for
# follows, as the caller's follows "adım" (a regular expression over `plain`, one of the name rules' triggers).
WHOSE_NAME_TR = (
    r"(?:(?:hasta(?:n[ıi]n)?|(?:e[sş]im|k[ıi]z[ıi]m|o[gğ]lum|[çc]ocu[gğ]um|annem|babam|karde[sş]im)[ıiuü]n)"
    r" ad[ıi](?: soyad[ıi])?|^ad[ıi] soyad[ıi])"  # "Adı Soyadı: Ayşe Yılmaz", a form's field
)

# Postpositions after a name make it someone the caller speaks of ("Kemal Bey'in yerine").
POSTPOSITIONS_TR = frozenset(
    "yerine için icin ile adına adina namına namina gibi hakkında hakkinda yüzünden yuzunden tarafından "
    "tarafindan kadar".split()
)

# One capitalised word after "ben" at the end of a turn that is still no name ("Ben Müşteri.", "Ben de."), or
# before "ben" opening one ("Yani ben, …"): the last lines are the words that open a Turkish sentence.
NOT_A_NAME_AFTER_BEN_TR = frozenset(
    """
    burada burda orada orda şurada içeride dışarıda yine gene hala hâlâ artık bizzat şahsen kendim yalnız
    sadece yalnızca değil hazır misafir yabancı türk müdür öğretmen hoca avukat hemşire sekreter asistan
    mühendis öğrenci veli sahibi sahip hastası danışan üye abone kurye polis şoför tamam evet hayır aynen
    tabii peki olur yok var buyrun buyurun efendim sizin onun bunun şunun bana sana ona bize size
    ne neden niçin nedir nerede neresi nereye nereden nerde kim kimdir kimim hangi hangisi kaç kaça kaçta acaba
    için kadar gibi göre sonra önce beri diye olarak üzere rağmen dolayı ile
    iyi kötü uygun doğru yanlış güzel harika süper mükemmel müsait boş dolu meşgul belli emin geç erken
    maalesef elbette kesinlikle herhalde galiba zaten şimdi hemen yarın bugün dün sonra zaman saat gün
    olsun olur olmaz olmuyor edin olun gelin bulun verin alın yazın koyun bakın ekle yaz koy yap sil al ver
    gel git bekle ara sor söyle anlat tamamdır sağol sağolun teşekkürler mersi naber selam hey alo
    öyle böyle şöyle açık kapalı lira para kişi dakika operatör yetkili temsilci pardon eyvallah güle
    görüşürüz iptal uyar uymaz
    yani mesela örneğin ayrıca hatta bazen işte hani hep asıl gerçekten açıkçası valla vallahi demin ancak
    fakat ama çünkü dolayısıyla mecburen normalde genelde genellikle tamamen bence belki aslında şey halbuki
    oysa yoksa sanki keşke lütfen özellikle tabi evde onlar biz siz herkes kimse biraz
    """.split()
)

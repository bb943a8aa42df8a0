"""More Turkish given names, from two MIT-licensed fake-data libraries: the names `tr_first_names.py` lacks.

Why: a name the short list lacks ("Umutcan", "Berkay" said with a surname after "ben", alone as the answer
to "adınız?", before "'in randevusu") was missed wherever the rules need one known given name to vouch for
the rest. These are the Turkish given names of Faker 40.54.0 (`faker/providers/person/tr_TR/__init__.py`,
`first_names_female` and `first_names_male`; MIT License, Copyright (c) 2012 Daniele Faraglia) and of
Mimesis 22.2.0 (`mimesis/datasets/tr/person.json`, `names`; MIT License, Copyright (c) 2016-Present Isaak
Uchakaev), both from PyPI, lower-cased with Turkish letters as `Normalized.plain` writes them. Neither is a
list of real people: both are hand-made lists of names for generating fake records.

Left out on purpose: words of three letters or fewer ("can", "su", "yaz"), the words `tr_name_words.py` says
are never a name, and every name that is also a common Turkish word a caller says for what it means — months
("nisan", "haziran"), "sabah", "gece", "uygun", "özel", "kayıt", "sefer", "sayın", "değer", "gerçek", "ortak",
"beyler", "hekime", "yıldır", "sona", verbs ("söyler", "sevdi", "yaşar", "aran") and nature words ("bulut",
"güneş"). The short list keeps the ambiguous names it already had ("umut", "deniz", "can"); the rules guard
them by form: a verb after "ben umut" is no name, and one word alone must be capitalised to be one.
"""

from __future__ import annotations

TR_GIVEN_NAMES_PUBLIC = frozenset(
    """
    abdiş abdulbekir abdulgazi abdulkadir abdulmenaf abdulsemet abdurrahman abdülahat abdülcemal abdülhadi
    abdülkerim abdülsamed abdürreşit abid abiye abuzar acar acarkan aclan acun adak adal adasal adila adlan
    adviye adıgün afer afife afşar ahat ahsen ahter ahunaz ahunisa ahunur ahuse ahuşen ajda ajlan akabey akad
    akalan akalp akant akarca akarsel akata akatay akay akba akbaran akbatu akbatur akbaş akboğa akcan akcivan
    akdemir akdora akdurmuş akel aker akergin akgöl akgün akgüneş akgüç akhan akise akkerman akkor akköz akman
    akmaner akmaral akmeriç akpolat aksal aksan aksay aksel aksev aksoy aksu aksöğüt aktan aktaş aktemür akver
    akyıldız akçabay akçasu aköz akün akıman akınal akınalp akıner akıntan akşit alaaddin alabezek alaeddin
    alagül alanalp alatan alattin alaz alcan aleda aleyna algan algül algın algış alhan aliabbas aliihsan alin
    aliseydi alize alkan alkor alkun alkım alkın alkız almast almina almus alpagut alparslan alpay alpağan
    alpcan alpdemir alpdoğan alperen alphan alpike alpin alpkan alpsü alsan alsoy altaner altay altoğan altuner
    altunç altuğ altınbike altınkaya altınçiçek altınışın alçin alçiçek alçın alım alışık amaç amre anargül
    andiç annak anıl apaydın aral arcan arden ardıl argu arhan arifcan arkan arkut arkın armahan arman arol
    arpağ arslan artun artunç arziye arıca arıcan arıel arıkan arıkol arın arınç arıpınar arısoy asel asiman
    aslanhan asliye asya asım atabey atacan atagün atahan atak atakan atalay ataman atanur atasagun atatöre
    atgun atilhan atiyye atnan atıl atılgan atınç avşin ayasun ayaydın aybars ayberk aybet aybike aybora aycagül
    ayda aydar aydinç ayduru aydınbey aygutalp aygönenç ayhan aykut aykutalp aylil ayliz aymete aymira
    aynilhayat aynımah aypar aypolat aysema aysevim aysoy aysuna aytek aytun aytuna aytunca aytunç aytöz ayvas
    ayyaruk ayza ayçan ayülker ayşan ayşeana ayşenur ayşıl azade azettin azize azrak açıkel açılay ağakişi
    ağbegim ağca ağmur aşhan aşir aşkın bade badegül bahaddin bahadır bahittin bahtinur balamir balatekin balca
    bali balkır ballı baltaş balın banu banü barak baranalp baransel bariş barkın barlas barsen bartu bartunç
    barçın barın barışcan basriye basım batu batur baturalp baturay batıbek batıhan batırhan baybars baybora
    baydu bayhan baykal baykam baykan bayman bayruhan baysal baysan baytal bayzettin başay başer başhan başok
    bedi bediriye bediz bedri begim begüm beha behir behiza behrem bekbay beker bekir bektaşi bektürk belda
    belgizar beliz belkize bellisan bener bengi bengibay bengisu benol beran beray berdan beren berfin berfu
    berge bergen bergin bergüzar berhan beria beril berin beriye berkal berkan berkant berke berker berki berkin
    berkkan berkman berksan berksay berktan berrak berran berrin bertan besey beyda beyhatun beyzade bican
    bidayet bige bigem bihter bilay bilender bilgealp bilgekağan bilgen bilginur bilgütay bilhan bilkay billur
    biltaş bilun binay binbaşar binnaz binnur binışık birant birben bircan birgit birgül biricik birkan birsan
    birsen bitül bişar bolat bora borahan boran borataş boynak bozbağ bozerk boztaş boğatimur boğaçhan buhari
    bulunç burakhan burcuhan burhan burkay buyrukhan buğlem buğra buğrahan buğu buşra börteçin büget büke
    bünyamün büreyre büşranur cabir calp canberk candan candeniz caner canfeza cangür cankat cankut cankız
    cannur canpolat canseven cansin cantekin cantez canur cavit cebesoy cedide celilay cemalettin cemiyle cemre
    cenan cercis cevale cevheri cevza ceyhun ceylan cihandide cindoruk cuheyna cuman cüneyit dalkılıç dalya
    damlanur danış dayar dağistan delfin demi demiralp demiray demirbüken demircan demirhan demiriz demirkan
    demirok demiryürek denizalp denizhan denkel deren derkay deryanur deviner dikmen dilay dilcan dilder dilem
    dilfeza dilhuş dilmen dilruba dilsitan dilşah dilşat dincer dinçalp dinçer dinçerk dinçkol dinçsü dinçtürk
    diren dirican dirlik dora dorukhan doğanalp doğanay doğannur doğanşah doğuer doğuhan duha duracan durdali
    durgadin durmuşali dursadiye duruk durukan durul duruöz duyguhan dölensoy dündaralp ebuakil ecegül ecemiş
    ecmel ecrin edaviye edgübay ediz efekan efil eflâtun efser egemen egenur ekber ekmel elamiye elgin elhan
    elis eliz elnur elvin elöve emal emirşan emiş emrullah enfes enginiz ensari eral eralkan eralp eraltay eray
    eraycan erbay erberk erbil erbuğ ercihan erdağ erdemer erdibay erdin erdinç erdogan erdursun erek erem
    erenalp erensoy erez ergener ergin erginel ergönül ergül erim erinç erinçer eriz eriş erke erkinel erksoy
    erkut erkılıç erman ermutlu erol eroğul ersan ersel erseç ertaylan ertekin erten ertuncay ertün ertürk
    ervaniye eryiğit eryıldız eröz erün erşat esenbay esener esengün esentürk esila eskinalp esmanperi esmen
    esna evcimen evrimer eyyüp ezgin ezgü ezgütekin eşref fadile fadıla fahrullah faize fami fatigül fatinur
    fayize fazul feden fehim fehmiye fenni ferahdiba ferat feray feraye ferda ferdi feremez ferhan feridun
    ferihan ferinaz ferit fermuta fersan feryas ferzi fetullah feyha feyruz feyyaz feyza feyzin feza fidaye
    fildan filit firdevis firuze fitnat fulden fulya fuzuli fuşya fügen füsun fırat gabel galip ganiye gediz
    gelengül gencaslan gencer gençalp gençay gençer geray gilman ginyas giray girgin goncafer gupse gökalp
    gökberk gökbudun gökdeniz göken göker gökmen göknur gökperi göksagun göksev göksu göktan gökten göktuna
    göktunç göktürk gökçebalan gökçil göli gönen gönenç görgünay görklü görkmen görsev gözde gözel gözem gözen
    göğen gücal güher gülağa gülbahar gülbani gülbeyan gülbiye gülcegün güldam gülder güldünya gülel gülenay
    gülev güleğen gülfari gülfem gülfeza gülgen gülgün gülgüzel gülhisar gülinaz gülistan güliz gülizar gülkadın
    güllühan gülmisal gülnaziye gülper gülriz gülsalın gülselin gülseren gülsevil gülsiye gülsü gültekin gülter
    gülzadiye gülçe gülçin gülözge gülüs gülşa gülşah gülşahin gülşeref gümüştekin günal günalp günar günay
    günaydin günberk günden gündoğan gündüzalp günebakan güneri güngördü güngören günkurt günsel günser günver
    günçiçek günşen gürarda gürcüye gürelcem gürsal gürten güverçin güzey güzin güçal güçhan güçkan güçlüer
    güçlütürk güçyeter habibe haciali hacile hadrey hafıza halenur halidun haliye haluk hamiyet hanbiken handan
    hanedan hansoy hansultan harbinaz hariz hasbek hasgül haslet hatin havali havse hayel hayrünnisa hazar
    hazrat hekmet helin henife heper heva hevin heyvetullah hezniye hidir hilayda hindal hinet hiçsönmez
    hoşkadem hoşseda huban hudavent hunalp hurican hurşide huzuri hüma hümeyra hürdoğan hürrem hüryaşar hürüyet
    hüsmen hüsnühâl hüsün hıfzullah hınçal idil idiris ihsan ilalmış ilayda ilbay ilbek ilbey ilbilge ildem
    ildeniz ildeş ilkan ilklima ilkut ilmafer ilper ilsu iltan iltay iltekin ilter ilteriş imge imre imren
    imrihan inal inançlı incifir incilay intihap ipar irfan iris irtek isak islime ismet isra ivecen iyem
    iyiyürek izel izem izgi izgü içimbike içöz işcan jale jankat janset jerfi kadınana kahir kalgay kanak kandef
    kandemir kaner kanpulat kansu kapagan kapkın karabaş karaer karakucak karan karanbay karataş karcan kardelen
    karlukhan kasim kaver kavurt kayagün kayatürk kaygusuz kayla kayrabay kayıhan kağan kaşif kefser kelâmi
    kenter kerime kerman kezban kifaye kiramettin kitan kiyasi kocabaş koldan koncagül konguralp konur konuralp
    koralp korcan korel korer korkmaz korkmazalp korkut korugan kotuz koçak koçer koçhan koçkan koşukhan kubilay
    kuddusi kunt kunter kutay kuter kutgün kutlay kutsay kutun kâzime köker köksal köktaş kösemen kübran kürşad
    kılıçbay kınel kırat kıraç kırgız kıvanç kızıltunç lacin laden laika lami lavin laze lebriz ledün lema lemi
    lerzan lerze leyli leylifer lezize lila lina loya lutfi lüfen lütfi macide mahigül mahir mahnaz mahsun
    mahter maksur maksüde malkoç mansurali maral masar masume mavisu maynur mazlum maşide mecide mecit
    mefarettin mefharet mehdiye mehmetzahir mehrigül melaha meleknur melihcan melikkan melisa melsa melûl memili
    menfeat mengi mengüç menişan meral merba merdi merih merim meriç meriçtan mertel merter mertkal mertol merva
    meryeme merzuk mestur mesude mete metinkaya meveddet mevlüdiye mevlüt meyhanim meyra mezide mihin mihrab
    mihriye milay minibe miray mirbadin mishat misra miyesser monis muarra mucahit mufide muhammet muhip muhiye
    muhyettin mujde mukbile muktedir muratcan musafet musaffa mutasım mutluhan muvaffak muvahhide möhsim
    mübetcel mücellib mücevher müferrih müfit müjde mükramin mükrüme mülâyim mümtaze münezzer münif müren müret
    mürit müsemma müslum müveddet müzekker müğber müşüre nabil nades nafii naide nakip nalân narhanim narin
    nasiba nasuf nayil nayman nazende nazimet nazlihan nazlim nazıdil nağme nebih nebiha necdat necilal
    necmettin necva nefaret nefiye nehip nejdet neriban nerim nesfe nesip neslinur neslişah neval nevbahar
    neveser nevgece nevgin nevgül nevise nevra nevsal nevsale neyir neyran nezengül nezihi nezize neşem neşrin
    nigar nihai nihal nihan nilcan nili nirgül niyazi niğmet nogay noman noyan nura nural nurbanu nurda nurdeniz
    nuretdin nurey nurgil nurgül nurgün nurhayet nuriyet nurkan nurkut nurmelek nursal nurseda nurseli nurser
    nursim nurtaç nurullah nurveren nurşan nuyan nüdret nüket nükhet nürice odil odkanlı oganer oguş okanay
    okbay okgüçlü okseven oktüremiş okyalaz olca olcay oldağ olgaç oluş omaca omay onat ongay ongu onuker onuray
    onurcan onursu oranlı oray orgün oruç orçin oskay otay oytun ozansü oğulbaş oğuzman paker paksu pamir pamira
    pars pasin paye pehlil pekcan peker pekiner pekkan pekşen pembesin peren peri perinur perk permun perran
    perçem pesent pinhan pirahmet piran piyale polat polatalp polathan polatkan pusat pürçek pıtırcık rabbiye
    rabih raci rafia rafih rahiye rakide ramadan rana rasin rasit rasul rayla razı rebihat recepali refet refik
    reha rehime remazan renan rengin rengül resat resit resulcan revza rezin rezzak rezzan risalet rohat rojnu
    ruhide ruhsar ruhugül rumeysa rusen rüknettin rüçhan rüşen rıfkıye saba sabih sabihe sadat sadberk sadeti
    sadittin sadiye safet safura sahir saire sakip salami salgır salimet salkın salman saltuk salurbay samahat
    samurtay sanal sanalp sanavber sanberk saner sanlı sanur sançar sare sargın sarp sarper sarphan sarpkın
    saruhan sarya sarıcabay satrettin satıa savak savni saydam sayhan sayrak sayıl saçı sağcan sağun sağıt
    sebattin sebigül sebil sebla seblâ sedef seden sedife seha sehel sejda selaheddin selatin selcen selda selen
    seler selime selinti selis selmin selâtin semat semender semine semiramis semrin sencar sencer sener seniha
    seracettin serda seren serenat serezli serfinaz sergen serhatmehmet serma sernur serol serra sertap servinaz
    sevcan sevdem sevdinar sevgen sevginur sevi sevican sevla sevsevil seydo seyfullah seyhan seyhun seyithan
    seyyal seyyide sezal sezen sezgi sezgin sezginbaş seçgül seçkiner sidar sidki silanur sima simay simber
    simin simten simya sirap siren siret siti sittik somer sonad sonay songurkan sonnur sonyaz sorkun soydan
    soydaner soyer soyhan soykan soykut soyselçuk subutiye sudi sulhi sultane sumru suna sunay sunel suphi
    sökmen süalp sücaettin süer süha süheyda süleyla sülün sümer sümerya sündüs süner süsen süzer sıla sırma
    sırriye sıylıhan taciddin tagangül tahir talas talay talayer talaz tali talibe talu tamar tamay tamaydın
    tamer tamerk tanak tanalp tanay tanbay tanberk tanbey tandoğdu taner tanerk tangör tangül tanhan tanju
    tankut tanpınar tansel tanses tansev tansoy tansu tansığ tanyel tanyer tanyolaç tanyu tanıl taran tarancı
    tardu tarhan tarkan tatu tayaydın taygan taylak tayyibe tayyip taçnur tağalp taşan taşar taşkan taşkın teber
    tecimer tekant tekay tekbay tekecan tekin tekiner teknaz teksoy telim temime temirhan temizkal temuçin
    tenvir teoman tercan terlan tevs teybet tezcan tezol ticen tilbe timur timurtaş timuçin tiğin tokcan toker
    toktuğ toköz tolonay tolonbay tolun tomris tonguç topuz torhan toros toygar toğan tule tulu tulun tuna
    tunacan tunahan tuncel tuncer tunga tunguç tunç tunçboğa tunçkılıç turabi turcein turgut tutkucan tutya
    tuyuğ tuğcan tuğrulhan tuğtaş törel tükelalp tümay tümer tümkurt türabi türcan türkalp türkcan türker
    türkmen türknur türkü tüvana tüzeer tüzenur tınal tınaz ufukay ulakbey ulualp ulubay uluhan uluman ulutay
    uluğbey umay ummahani umutcan umuşan ural uraltay urhan ushan utkan utku utkucan uyanser uygar uygur uzbay
    uzel uzer uzsoy uçbeyi uğan uğuralp uğurkan uğurtan vacibe vafir vahittin vargın vaysal vecide vefia veis
    velitdin vera verda verde verdinaz verim vezat vezrife vildan vildane vural vuslat vâlâ yadigar yahşi
    yahşikan yalaz yalazabay yalazalp yalgın yalkın yalman yaltırak yalçın yalçıner yalım yalın yalınalp yamin
    yaren yasan yasemen yavuzalp yayak yazganalp yazgül yazgülü yazgı yağan yağız yağızalp yağızkurt yaşattin
    yekbun yekda yelda yelesen yenal yeneral yengi yepelek yertan yetişal yetkin yeşim yigit yilmaz yiğitalp
    yiğitcan yolal yonca yoruç yosma yosun yunt yurdagül yurdakul yurdanur yurdaser yurtgüven yurtseven yücel
    yücelen yümun yıldıralp yıldıray zahfer zahid zahir zahit zaliha zamir zebirce zehranur zekai zekayi zeki
    zelha zemzem zennun zerafet zeren zeride zevlüde zeynel zeynelabidin zeyno zihni zilfa zinnure ziya
    ziyaettin zobu zoral zubeyde zöhrehan züfer züheyla zülal zülbiye züleyha zülfüye zülgarni zülüf zümra âdem
    âlemşah çaba çakar çakırca çaltı çalım çamok çapkan çavuldur çağa çağatay çağdan çağlasın çağman çağveren
    çağıl çağın çelem çelikkan çelikyürek çerçi çetin çetinalp çetinsu çeviköz çevregül çilga çinerk çise çisem
    çisil çiğdem çokan çoker çolpan çopur çoğay çıdal çıvgın öcal ökkaş ökmen öktem ökten öktürk ömriye ömür
    önal önalan öncel öncüer önel öner öngen öniz önsal örfiye örik öryürek övül özakan özalpsan özaslan özay
    özbay özbek özberk özbilek özbilge özcan özdal özde özdil özdilek özdoğa özdoğdu özenç özer özerdinç özerk
    özertem özgen özger özgü özgül özgün özinal özinan özkan özkent özkutlu özmen özok özokçu özol özpetek
    özpınar özsel özsoy özsözlü öztan öztek öztekin öztuna öztunç öztürk özyurt özçam özüdoğru öğet öğün öğünç
    übeydullah ülfet ülgen ülküdeş ülküm ümmahan ümmühan ümray ünalan ünalp ünay ünek üner ünol ünsal ünsever
    ünver ünübol ürfettin ürkmez ürper üsame üzer üçer üçgül ğanim ıdık ıldız ılgar ılgaz ılgı ılgım ılgın ıraz
    ırıs ısmık ıtır ışin ışkın ışıkay ışıl ışılay ışıman ışın ışıner ışıt ışıtan şabettin şadıman şafii şahat
    şahbanu şahdiye şahika şahinalp şahinbey şahinder şahiner şahmettin şahnuray şahıgül şali şamiha şanal şanlı
    şanlıbay şansal şanver şavki şayan şayeste şaylan şazime şebnem şefi şefiye şehamet şehnaz şehrazat şehreban
    şehza şekim şemsettin şemsinisa şendoğan şener şenkal şennur şenol şensoy şerafeddin şerman şermin şevket
    şevketfeza şevval şeyda şide şilan şimal şinasi şirivan şuayp şükri şüküfe    """.split()
)

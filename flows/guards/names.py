"""Person names without a model: cue phrases, known given names and family names.

A heuristic, and its gap is stated in docs/adr/0008: it finds "my name is Ana Souza", "Jean
Dupont", "Nguyễn Văn An", "我叫王伟" and "Dr. Okafor", and misses a name with no cue whose given
name is not in the lists below (a named-entity model does better there, at ~100 ms per 2,000
characters on this hardware; see docs/BENCHMARKS.md).
"""

from __future__ import annotations

import regex

from flows.guards.findings import Finding


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


GIVEN_NAMES = _words(
    """
    james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony
    mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan
    jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander
    frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle
    noah ethan jeremy walter christian keith roger terry austin sean gerald carl harold dylan arthur lawrence
    jordan jesse bryan billy bruce gabriel joe logan albert willie alan eugene russell vincent philip bobby
    johnny bradley liam oliver lucas mason elijah owen luke leo oscar harry charlie alfie archie freddie
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra
    ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca sharon laura
    cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha katherine christine
    debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce virginia victoria kelly
    lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa ann sara
    madison frances kathryn janice jean abigail alice judy sophia isabella charlotte amelia mia harper ella
    chloe zoe lily ava sophie jessica lucy ruby
    jean pierre michel philippe alain nicolas christophe françois francois laurent stéphane stephane sébastien
    sebastien frédéric frederic olivier julien thierry éric didier bruno patrice antoine mathieu guillaume
    jérôme jerome yves hugo louis gabriel arthur jules raphaël raphael théo theo enzo léo clément clement
    marie nathalie isabelle sylvie catherine françoise francoise valérie valerie christine sandrine sophie
    céline celine chantal émilie emilie aurélie aurelie camille léa lea manon chloé inès ines jade louise
    élodie elodie amélie amelie margaux juliette mathilde pauline claire
    hans peter klaus jürgen juergen wolfgang dieter uwe stefan andreas michael thomas frank bernd markus
    matthias jörg joerg ralf sven lukas leon finn jonas felix maximilian paul elias moritz niklas tobias
    florian sebastian johannes ursula monika petra sabine renate helga karin brigitte ingrid gisela andrea
    susanne birgit claudia julia katharina anja lena leonie hannah lea mia emilia greta johanna franziska
    josé jose antonio manuel francisco juan javier carlos jesús jesus miguel alejandro rafael pedro pablo
    diego sergio fernando jorge luis álvaro alvaro andrés andres mateo santiago carmen dolores lucía lucia
    paula elena laura marta cristina isabel rosa pilar teresa ana beatriz sofía sofia valentina camila
    giuseppe giovanni marco luca matteo alessandro andrea francesco lorenzo davide riccardo stefano paolo
    giulia chiara francesca federica alessandra martina elisa giorgia sara valentina
    joão joao pedro tiago rafael gustavo lucas gabriel mariana beatriz fernanda juliana larissa
    ahmed mohammed muhammad ali omar hassan fatima aisha yusuf ibrahim amir layla
    hiroshi takashi kenji yuki haruto sakura yui aiko
    raj rahul amit priya anjali arjun vikram deepak sunita neha
    olga ivan dmitri sergei natasha tatiana anastasia alexei
    wei li ming hui jing lei xin
    """
)

# Vietnamese family names: about 90% of the population carries one of these.
VN_FAMILY = _words(
    "nguyễn trần lê phạm hoàng huỳnh phan vũ võ đặng bùi đỗ hồ ngô dương lý đinh đào trương lâm mai "
    "nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly dinh dao truong lam"
)
# Chinese family names (the most common ~60), one character each.
CN_FAMILY = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)

# Capitalised words that are not names even after a cue ("I am Happy", "this is Monday").
NOT_NAMES = _words(
    """
    i a an the this that here there not so very just really also still happy sorry sure glad fine ok okay
    good great new looking trying writing calling interested available back going done ready from in on at
    monday tuesday wednesday thursday friday saturday sunday january february march april june july august
    september october november december english french german spanish chinese vietnamese customer client
    user admin support manager team sales unable able afraid
    """
)

_UPPER = r"\p{Lu}[\p{Ll}'\u2019\-]+"
_NAME = rf"{_UPPER}(?: {_UPPER}){{0,3}}"

# Cues that introduce a name and nothing else; what follows them is a name whatever it is.
_CUES = regex.compile(
    r"(?i:my name is|my name's|name:|call me|signed|regards,|sincerely,|je m'appelle|mon nom est|ich heiße"
    r"|ich heisse|mein name ist|me llamo|mi nombre es|mi chiamo|meu nome é|tôi tên là|tên tôi là|em tên là"
    r"|mình tên là)\s+"
    rf"(?P<name>{_NAME})"
)
# Cues that also introduce other things ("I am Canadian", "Ich bin Kunde", "this is Amazon"): a
# name only when it starts with a known given name.
_WEAK_CUES = regex.compile(
    r"(?i:i am|i'm|this is|je suis|ich bin|soy|sono|eu sou|tôi là)\s+"
    rf"(?P<name>{_NAME})"
)
# A given name followed by one of these is a place ("Mark Street", "Jordan River").
PLACE_WORDS = _words(
    """
    street st road rd avenue ave lane drive boulevard square place park river lake bridge hall hotel
    airport station university college school church hospital center centre mall tower house way
    """
)
_TITLES = regex.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Herr|Frau|M|Mme|Mlle|Sr|Sra|Señor|Señora|Sig|Sig\.ra|Ông|Bà|Anh|Chị)\.? "
    rf"(?P<name>{_NAME})"
)
_CAPITALISED_PAIR = regex.compile(rf"\b(?P<given>{_UPPER}) (?P<rest>{_UPPER}(?: {_UPPER})?)")
_VN = regex.compile(r"\b(?P<name>\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}*){1,3})")
_CN_CUE = regex.compile(r"(?:我叫|我的名字是|我是|名叫|姓名[:\uff1a]?)\s*(?P<name>\p{Han}{2,3})")
_CN_HONORIFIC = regex.compile(r"(?P<name>\p{Han}{2,3}?)(?:先生|女士|小姐|同学|老师|经理)")


def _words_ok(name: str) -> bool:
    first = name.split(" ", 1)[0].lower()
    return first not in NOT_NAMES


def _trim(name: str) -> str:
    """Keep at most the words that look like a name: stop at a word in NOT_NAMES."""
    words = name.split(" ")
    kept = []
    for word in words:
        if word.lower() in NOT_NAMES:
            break
        kept.append(word)
    return " ".join(kept)


def scan_names(text: str) -> list[Finding]:
    found: list[Finding] = []
    for pattern, score in ((_CUES, 0.85), (_TITLES, 0.85)):
        for match in pattern.finditer(text):
            name = _trim(match.group("name"))
            if name and _words_ok(name):
                start = match.start("name")
                found.append(Finding("pii", "PERSON", start, start + len(name), score))
    for match in _WEAK_CUES.finditer(text):
        name = _trim(match.group("name"))
        if name and name.split(" ")[0].lower() in GIVEN_NAMES:
            start = match.start("name")
            found.append(Finding("pii", "PERSON", start, start + len(name), 0.75))
    for match in _CAPITALISED_PAIR.finditer(text):
        last = match.group("rest").split(" ")[-1].lower()
        if match.group("given").lower() in GIVEN_NAMES and _words_ok(match.group("rest")) and last not in PLACE_WORDS:
            rest = _trim(match.group("rest"))
            if rest:
                start = match.start("given")
                found.append(Finding("pii", "PERSON", start, match.end("given") + 1 + len(rest), 0.8))
    for match in _VN.finditer(text):
        words = match.group("name").split(" ")
        if words[0].lower() in VN_FAMILY and len(words) >= 2:
            found.append(Finding("pii", "PERSON", match.start("name"), match.end("name"), 0.8))
    for pattern in (_CN_CUE, _CN_HONORIFIC):
        for match in pattern.finditer(text):
            name = match.group("name")
            if name[0] in CN_FAMILY:
                found.append(Finding("pii", "PERSON", match.start("name"), match.end("name"), 0.8))
    return found

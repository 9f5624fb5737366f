"""Personal data recognizers: a pattern finds a candidate, a validator (checksum, allocation rules)
confirms it, and cue words nearby ("IBAN", "Steuer-ID", "số CCCD") raise its score.

Everything here is plain `re` and arithmetic (flows/guards/checksums.py): a 2,000-character input
is scanned in about a millisecond, with no model and nothing loaded at run time. Person names are
flows/guards/names.py (a heuristic, or a spaCy model where one is installed).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flows.guards import checksums
from flows.guards.findings import Finding, without_overlaps
from flows.guards.names import scan_names

CONTEXT_WINDOW = 60  # characters before a candidate searched for its cue words
CONTEXT_BOOST = 0.35

PATTERN_ENTITIES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "UK_NINO",
    "DE_TAX_ID",
    "FR_NIR",
    "VN_CCCD",
    "CN_RESIDENT_ID",
    "IP_ADDRESS",
    "STREET_ADDRESS",
)
ALL_ENTITIES = (*PATTERN_ENTITIES, "PERSON")


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _alnum(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


@dataclass(frozen=True)
class Recognizer:
    entity: str
    pattern: re.Pattern[str]
    score: float  # a valid candidate without a cue word
    validate: Callable[[str], bool] | None = None  # takes the matched text
    context: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()  # words just before a candidate that make it something else

    def find(self, text: str, lowered: str) -> Iterable[Finding]:
        for match in self.pattern.finditer(text):
            start, end = match.span()
            value = match.group()
            if self.validate is not None and not self.validate(value):
                continue
            if self.not_after and lowered[max(0, start - 12) : start].rstrip().endswith(self.not_after):
                continue
            score = self.score
            if self.context:
                before = lowered[max(0, start - CONTEXT_WINDOW) : start]
                if any(cue in before for cue in self.context):
                    score = min(1.0, score + CONTEXT_BOOST)
            yield Finding("pii", self.entity, start, end, round(score, 2))


# Words near a number that say it is a phone number (several languages).
PHONE_CONTEXT = (
    "phone",
    "tel",
    "call",
    "mobile",
    "cell",
    "whatsapp",
    "téléphone",
    "telefon",
    "handy",
    "điện thoại",
    "sđt",
    "电话",
    "手机",
)


def _phone_valid(value: str) -> bool:
    digits = _digits(value)
    if value.lstrip().startswith("+"):
        return 8 <= len(digits) <= 15
    return 9 <= len(digits) <= 12 and len(set(digits)) > 2


def _card_valid(value: str) -> bool:
    digits = _digits(value)
    return checksums.luhn_valid(digits) and checksums.card_issuer_valid(digits)


def _ipv6_valid(value: str) -> bool:
    if value.count(":") < 2 or len(value) < 6:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


# A candidate is not part of a longer token (CJK text runs straight into digits, so only ASCII
# letters and digits count as joined).
_B, _E = r"(?<![A-Za-z0-9_@.+-])", r"(?![A-Za-z0-9_@-])"
_SEP = r"[ \-.]?"

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "EMAIL",
        re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"),
        0.95,
    ),
    Recognizer(
        "CREDIT_CARD",
        re.compile(_B + r"\d(?:[ \-]?\d){11,18}" + _E),
        0.9,
        _card_valid,
        ("card", "visa", "mastercard", "amex", "carte", "karte", "tarjeta", "thẻ", "卡"),
    ),
    Recognizer(
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
        0.95,
        lambda value: checksums.iban_valid(_alnum(value)),
    ),
    Recognizer(
        "US_SSN",
        re.compile(_B + r"\d{3}([ \-])\d{2}\1\d{4}" + _E),
        0.8,
        lambda value: checksums.ssn_valid(_digits(value)),
        ("ssn", "social security", "social-security"),
    ),
    Recognizer(
        "US_SSN",
        re.compile(_B + r"\d{9}" + _E),
        0.3,
        checksums.ssn_valid,
        ("ssn", "social security"),
    ),
    Recognizer(
        "UK_NINO",
        re.compile(r"\b[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]\b"),
        0.85,
        lambda value: checksums.nino_valid(_alnum(value)),
        ("national insurance", "nino", "ni number"),
    ),
    Recognizer(
        "DE_TAX_ID",
        re.compile(_B + r"[1-9]\d ?\d{3} ?\d{3} ?\d{3}" + _E),
        0.7,
        lambda value: checksums.steuer_id_valid(_digits(value)),
        ("steuer", "idnr", "identifikationsnummer", "tax id", "tin"),
    ),
    Recognizer(
        "FR_NIR",
        re.compile(_B + r"[1278] ?\d{2} ?\d{2} ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3} ?\d{2}" + _E),
        0.9,
        lambda value: checksums.nir_valid(_alnum(value)),
        ("sécurité sociale", "securite sociale", "nir", "insee", "vitale"),
    ),
    Recognizer(
        "VN_CCCD",
        re.compile(_B + r"\d{3} ?\d{3} ?\d{6}" + _E),
        0.55,
        lambda value: checksums.cccd_valid(_digits(value)),
        ("cccd", "căn cước", "can cuoc", "cmnd", "định danh", "citizen id", "id card"),
    ),
    Recognizer(
        "CN_RESIDENT_ID",
        re.compile(_B + r"\d{17}[\dXx]" + _E),
        0.95,
        checksums.cn_resident_id_valid,
        ("身份证", "resident id", "id card"),
    ),
    Recognizer(
        "PHONE",
        re.compile(_B + r"\+\d{1,3}(?:[ \-.]?\(\d{1,4}\))?(?:[ \-.]?\d{1,5}){2,6}" + _E),
        0.8,
        _phone_valid,
        PHONE_CONTEXT,
    ),
    Recognizer(
        "PHONE",
        re.compile(_B + r"(?<!\d[ -])(?:\(\d{2,5}\)[ \-.]?|0[1-9]\d{0,3}[ \-./]?)\d{2,4}(?:[ \-.]?\d{2,4}){1,3}" + _E),
        0.55,
        _phone_valid,
        (*PHONE_CONTEXT, "ring"),
    ),
    Recognizer(
        "PHONE",
        re.compile(_B + r"[2-9]\d{2}[ \-.][2-9]\d{2}[ \-.]\d{4}" + _E),  # North American, no country code
        0.6,
        None,
        ("phone", "tel", "call", "mobile", "cell", "reach me"),
    ),
    Recognizer(
        "PHONE",
        re.compile(_B + r"1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}" + _E),  # Chinese mobile
        0.6,
        None,
        ("phone", "mobile", "电话", "手机", "call"),
    ),
    Recognizer(
        "IP_ADDRESS",
        re.compile(
            r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])"
        ),
        0.75,
        None,
        ("ip", "address", "server", "host"),
        ("version", "v", "section", "§", "chapter", "release", "build", "rule", "step"),
    ),
    Recognizer(
        "IP_ADDRESS",
        re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:|:)(?::?[0-9A-Fa-f]{1,4}|:){1,7}(?![\w:])"),
        0.85,
        _ipv6_valid,
    ),
    Recognizer(
        "STREET_ADDRESS",
        re.compile(
            r"\b\d{1,5}[A-Za-z]?,? (?:[A-Z][A-Za-z'.\-]+ ){1,4}(?:(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court"
            r"|Place|Way|Terrace|Close|Crescent|Square|Highway|Parkway|Gardens|Grove|Row|Mews)\b"
            r"|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Hwy|Pkwy)\b\.?)"
        ),
        0.8,
    ),
    Recognizer(
        "STREET_ADDRESS",
        re.compile(
            r"\b\d{1,4}(?: ?(?:bis|ter))?,? (?i:rue|avenue|av\.|boulevard|bd|allée|place|chemin|impasse|quai|route"
            r"|cours|calle|avenida|via|viale|piazza|rua|corso) (?:(?i:de|du|des|la|le|del|della|di|da|do)\s+|l'|d')*"
            r"[A-ZÀ-Ý][\w'À-ÿ\-]+(?: [A-ZÀ-Ý][\w'À-ÿ\-]+){0,3}"
        ),
        0.8,
    ),
    Recognizer(
        "STREET_ADDRESS",
        re.compile(
            r"\b(?:Calle|Avenida|Via|Viale|Piazza|Rua|Plaza|Carrer) (?:(?:de|del|della|di|da|do) )?"
            r"[A-ZÀ-Ý][\wÀ-ÿ'\-]+(?: [A-ZÀ-Ý][\wÀ-ÿ'\-]+){0,3},? \d{1,4}\b"
        ),
        0.8,
    ),
    Recognizer(
        "STREET_ADDRESS",
        re.compile(
            r"\b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer)"
            r" \d{1,4}[a-z]?\b"
        ),
        0.8,
    ),
    Recognizer(
        "STREET_ADDRESS",
        re.compile(
            r"(?i:số )?\b\d{1,4}(?:/\d{1,4})?[A-Z]? (?i:đường|phố|ngõ|hẻm) [A-ZĐÀ-Ỹ][\wÀ-ỹ]*(?: [A-ZĐÀ-Ỹ][\wÀ-ỹ]*){0,4}"
        ),
        0.8,
    ),
    Recognizer(
        "STREET_ADDRESS",
        re.compile(r"[\u4e00-\u9fff]{2,20}(?:路|街|道|大道|巷|弄)\d{1,5}号"),
        0.8,
    ),
)


def scan_patterns(text: str, entities: Iterable[str] | None = None) -> list[Finding]:
    wanted = set(entities) if entities is not None else None
    lowered = text.lower()
    found: list[Finding] = []
    for recognizer in RECOGNIZERS:
        if wanted is None or recognizer.entity in wanted:
            found.extend(recognizer.find(text, lowered))
    return found


def scan_pii(
    text: str, *, entities: Iterable[str] | None = None, threshold: float = 0.5, names: bool = True
) -> list[Finding]:
    """Every personal-data finding at or above `threshold`, one per stretch of text."""
    wanted = list(entities) if entities is not None else list(ALL_ENTITIES)
    found = scan_patterns(text, wanted)
    if names and "PERSON" in wanted:
        found.extend(scan_names(text))
    return without_overlaps([f for f in found if f.score >= threshold])

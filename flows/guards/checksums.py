"""Check digits and structure rules of the identifiers the PII recognizers validate.

A candidate that matches a pattern but fails its checksum is not reported: an order number that
happens to have sixteen digits is not a card unless it passes Luhn. Each function takes the
identifier with separators already removed.
"""

from __future__ import annotations

import datetime as dt


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return digit
    raise ValueError("no Luhn digit")  # not reached for a digit string of 11-18 characters


# Card issuer prefixes (IIN ranges) and their lengths: a Luhn-valid number outside them is more
# likely an account or order number.
def card_issuer_valid(digits: str) -> bool:
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 222100 <= six <= 272099:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649:
        return n in (16, 19)  # Discover
    if 3528 <= four <= 3589:
        return n in (16, 19)  # JCB
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return n in (14, 16)  # Diners
    if two == 62:
        return 16 <= n <= 19  # UnionPay
    if digits[:2] in ("50", "56", "57", "58", "67"):
        return 12 <= n <= 19  # Maestro
    return False


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29,
}  # fmt: skip


def _iban_number(text: str) -> int:
    return int("".join(str(int(char, 36)) for char in text))


def iban_valid(iban: str) -> bool:
    iban = iban.upper()
    if len(iban) < 15 or not iban.isalnum() or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    return _iban_number(iban[4:] + iban[:4]) % 97 == 1


def iban_check_digits(country: str, bban: str) -> str:
    return f"{98 - _iban_number(bban + country + '00') % 97:02d}"


def ssn_valid(digits: str) -> bool:
    """US Social Security number: no area 000, 666 or 9xx, no group 00, no serial 0000."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in ("078051120", "219099999", "123456789")  # advertised samples


_NINO_FIRST_BAD, _NINO_SECOND_BAD = set("DFIQUV"), set("DFIOQUV")
_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def nino_valid(value: str) -> bool:
    """UK National Insurance number: two prefix letters (HMRC's allocation rules), six digits, A-D."""
    value = value.upper()
    if len(value) != 9 or not value[:2].isalpha() or not value[2:8].isdigit() or value[8] not in "ABCD":
        return False
    first, second = value[0], value[1]
    return first not in _NINO_FIRST_BAD and second not in _NINO_SECOND_BAD and value[:2] not in _NINO_BAD_PREFIXES


def steuer_id_check_digit(first_ten: str) -> int:
    """ISO 7064 MOD 11,10, as the German tax identification number uses it."""
    product = 10
    for char in first_ten:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return 0 if check == 10 else check


def steuer_id_valid(digits: str) -> bool:
    """German Steuer-ID (IdNr): 11 digits, no leading 0, one digit two or three times in the first
    ten (the others once), ISO 7064 check digit."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(d) for d in set(digits[:10])), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    return steuer_id_check_digit(digits[:10]) == int(digits[10])


def nir_key(body: str) -> int:
    """The two-digit key of a French NIR (13 characters; Corsica's 2A/2B as the rules say)."""
    text = body.upper()
    if text[5:7] == "2A":
        number = int(text[:5] + "19" + text[7:])
    elif text[5:7] == "2B":
        number = int(text[:5] + "18" + text[7:])
    else:
        number = int(text)
    return 97 - number % 97


def nir_valid(value: str) -> bool:
    """French NIR (numéro de sécurité sociale): sex, year, month, department, commune, order, key."""
    value = value.upper()
    if len(value) != 15 or value[0] not in "1278":
        return False
    body, key = value[:13], value[13:]
    corsica = body[:5].isdigit() and body[5:7] in ("2A", "2B") and body[7:].isdigit()
    if not key.isdigit() or not (body.isdigit() or corsica):
        return False
    month = int(value[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return nir_key(body) == int(key)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


VN_PROVINCES = _words(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036 037 038 "
    "040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075 077 079 080 082 "
    "083 084 086 087 089 091 092 093 094 095 096"
)


def cccd_valid(digits: str, *, today: dt.date | None = None) -> bool:
    """Vietnamese citizen ID (CCCD): province of birth, century+sex digit, birth year, serial.

    There is no check digit: the province code list and a plausible birth year are all there is,
    so the recognizer also wants a nearby cue word before it reports a bare 12-digit number."""
    if len(digits) != 12 or not digits.isdigit() or digits[:3] not in VN_PROVINCES:
        return False
    century = {"0": 1900, "1": 1900, "2": 2000, "3": 2000, "4": 2100, "5": 2100}.get(digits[3])
    if century is None:
        return False
    year = century + int(digits[4:6])
    return 1900 <= year <= (today or dt.datetime.now(tz=dt.UTC).date()).year


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_check_char(first_17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first_17, _CN_WEIGHTS, strict=True)) % 11]


def cn_resident_id_valid(value: str) -> bool:
    """Chinese resident identity card number: region, birth date, sequence, ISO 7064 MOD 11-2."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return False
    if value[0] not in "123456789":
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.datetime.now(tz=dt.UTC).date():
        return False
    return cn_check_char(value[:17]) == value[17]

"""Number-shaped personal data: payment cards, US social security numbers, phone numbers, IBANs.

Each is validated beyond its shape (Luhn, SSA number rules, national formats, mod-97) so that
order numbers, dates, versions and amounts pass unflagged. They read the text's view (view.py), in
which a no-break or thin space is a space, an en dash a dash and a digit of any script a digit.
A number glued to more digits by a single space, dash, dot or comma is part of a longer number
and is not flagged on its own. A phone- or SSN-shaped number that is an identifier is not one: glued
to a code in capitals by a dash (`ORD-0012-3456-78`, not `SSN-` or `Tel-`), or labelled serial, lot,
batch, order, part, item, invoice or SKU on its line (`Serial: 0012-3456-7890`, `Lot numbers:
0123 4567 890, 0123 4567 891`); a label makes a phone something else only if it starts with 0.
"""

from __future__ import annotations

import re

from .detector import ALNUM, CONTEXT, DIGITS, UPPER, Detector, before, is_in

GLUE = b" -.,/:"


def _number_starts(data: bytes, start: int, opened: bytes = b"(") -> bool:
    """No digit run continues into `start` from the left (nor, unless `opened` is empty, a
    parenthesis: a phone's area code opens with one)."""
    if is_in(data, start - 1, ALNUM + b"_+)" + opened):
        return False
    return not (is_in(data, start - 1, GLUE) and is_in(data, start - 2, DIGITS + b")"))


def _number_ends(data: bytes, end: int) -> bool:
    """No digit run continues from `end` to the right."""
    if is_in(data, end, ALNUM + b"_("):
        return False
    return not (is_in(data, end, GLUE) and is_in(data, end + 1, DIGITS + b"("))


# What comes before an identifier: a code in capitals and a dash (`ORD-`, not `SSN-`, `Tel-`), or a
# label on the same line (and the list of like numbers it begins). `\Z`: `$` would also match
# before a final line break, so a label would reach across it.
CODE = re.compile(r"(?<![A-Za-z0-9])(?!(?:SSN|TEL|PH|PHONE|CELL|MOBILE|FAX|ID|CONTACT)-)[A-Z][A-Z0-9]*-\Z")
LABELLED = re.compile(
    r"\b(?i:serial|lot|batch|order|part|item|invoice|sku)s?"
    r"(?:[ \t]*(?i:numbers?|nos?\.?|ids?|codes?))?[ \t]*[:#]?[ \t]*"
    r"(?:[0-9][0-9 ./-]{5,}[0-9][ \t]*,[ \t]*(?:and[ \t]+)?)*\Z"
)


def _identifier(data: bytes, start: int, *, labelled: bool = True) -> bool:
    """Whether a code is glued to the number, or (if `labelled` is to be read) a label names it."""
    text = before(data, start)
    return bool(CODE.search(text) or (labelled and LABELLED.search(text)))


# Country codes in use (ITU-T E.164 assignments): after the international prefix 00 a number must
# have one, else `0012 3456 7890` would be a phone. A `+` alone says the number is one.
COUNTRY_CODES = frozenset(
    str(code)
    for code in (
        1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52,
        53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94,
        95, 98, 211, 212, 213, 216, 218, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290,
        291, 297, 298, 299, 370, 371, 372, 373, 374, 375, 376, 377, 378, 379, 380, 381, 382,
        383, 385, 386, 387, 389, 420, 421, 423, 670, 672, 673, 674, 675, 676, 677, 678, 679,
        680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852, 853,
        855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 970, 971, 972, 973, 974, 975, 976,
        977, 979, 992, 993, 994, 995, 996, 998,
        *range(220, 259), *range(350, 360), *range(500, 510), *range(590, 600), *range(960, 969),
    )
)  # fmt: skip


def _international(number: bytes) -> bool:
    """`number` (after 00) starts with a country code; after 1 (North America) a whole NANP number."""
    if number[:1] == b"1":
        rest = number[1:]
        return len(rest) == 10 and rest[0] not in b"01" and rest[3] not in b"01"
    return any(number[:length].decode() in COUNTRY_CODES for length in (1, 2, 3))


def _digits(token: bytes) -> bytes:
    return bytes(byte for byte in token if byte in DIGITS)


def luhn(digits: bytes) -> bool:
    total = 0
    for index, byte in enumerate(reversed(digits)):
        value = byte - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_groups(token: bytes) -> bool:
    """A card number is written whole or in groups of four (Amex 4-6-5, Diners 4-6-4), its groups
    apart by spaces or dashes, or by dots alone and then in those groups only; digits in groups of
    three after the first are an amount (`4 111 111 111 111 111 €`), not a card."""
    lengths = [len(group) for group in _groups(token)]
    if len(lengths) > 1 and lengths[0] <= 3 and all(length == 3 for length in lengths[1:]):
        return False
    if b"." not in token:
        return True
    if b" " in token or b"-" in token:
        return False
    fours = all(length == 4 for length in lengths[:-1]) and 1 <= lengths[-1] <= 4
    return fours or lengths in ([4, 6, 5], [4, 6, 4])


def _card(data: bytes, start: int, end: int) -> int | None:
    # A card in parentheses is still one: `(4111 1111 1111 1111)`.
    if not (_number_starts(data, start, opened=b"") and _number_ends(data, end)):
        return None
    if not _card_groups(data[start:end]):
        return None
    digits = _digits(data[start:end])
    # Major networks start with 2-6 (Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard,
    # Discover/UnionPay); a repeated digit passes Luhn but is a placeholder, not a card.
    if not 13 <= len(digits) <= 19 or digits[0] not in b"23456" or len(set(digits)) == 1:
        return None
    return end if luhn(digits) else None


def _ssn(data: bytes, start: int, end: int) -> int | None:
    token = data[start:end]
    if token[3] != token[6] or not (_number_starts(data, start) and _number_ends(data, end)):
        return None
    if _identifier(data, start):
        return None
    area, group, serial = int(token[0:3]), int(token[4:6]), int(token[7:11])
    # https://www.ssa.gov/employer/randomization.html: no area 000, 666 or 900-999, no group 00,
    # no serial 0000.
    if area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0:
        return None
    return end


def _groups(token: bytes) -> list[bytes]:
    for separator in b" .-()":
        token = token.replace(bytes([separator]), b" ")
    return token.split()


def _phone(data: bytes, start: int, end: int) -> int | None:
    token = data[start:end]
    if not (_number_starts(data, start) and _number_ends(data, end)) or token.count(b"(") != token.count(
        b")"
    ):
        return None
    groups = _groups(token.lstrip(b"+"))
    digits = b"".join(groups)
    # A label makes only a number with a leading 0 (a trunk or international prefix) something
    # else: `Serial: 0012-3456-7890`, not `order: 415-555-0134` nor `+1 415 555 0134`.
    trunk = digits[0] == 48 and not token.startswith(b"+")
    if _identifier(data, start, labelled=trunk):
        return None
    if token.startswith(b"+"):
        # E.164: a country code (never 0) and at most 15 digits in all.
        return end if 8 <= len(digits) <= 15 and digits[0] != 48 else None
    if digits.startswith(b"00"):
        # After the international prefix 00 (`0044 20 7946 0958`): a country code in use.
        number = digits[2:]
        return end if 8 <= len(number) <= 15 and _international(number) else None
    if len(groups) < 2 and b"(" not in token:
        return None  # a bare run of digits is an order number as often as a phone number
    if [len(group) for group in groups[-3:]] == [3, 3, 4] and len(groups) <= 4:
        # North American: [1] NPA NXX XXXX, area code and exchange starting 2-9.
        lead = groups[:-3]
        if lead in ([], [b"1"]) and groups[-3][0] not in b"01" and groups[-2][0] not in b"01":
            return end
        return None
    if digits[0] == 48 and 9 <= len(digits) <= 12:
        # A national number with its trunk 0 (020 7946 0958, 030 1234567, 06 12 34 56 78), not an
        # address-like run of dotted groups.
        if b"." in token and len(groups) == 4 and all(len(group) <= 3 for group in groups):
            return None
        return end
    return None


# Lengths per country: https://www.swift.com/standards/data-standards/iban (IBAN registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def mod97(iban: bytes) -> bool:
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(chr(byte), 36)) for byte in rearranged)
    return int(number) % 97 == 1


def _iban(data: bytes, start: int, end: int) -> int | None:
    """`start` is where a country code and check digits begin; the rest is read from there: the
    country's length in characters, written whole or in groups of four apart by spaces or dashes,
    in capitals or all in small letters (`de89 3704 …`)."""
    length = IBAN_LENGTHS.get(data[start : start + 2].upper().decode())
    if length is None or is_in(data, start - 1, ALNUM):
        return None
    separator = data[start + 4 : start + 5] if is_in(data, start + 4, b" -") else b""
    stop = start + length + ((length - 1) // 4 if separator else 0)
    token = data[start:stop]
    if len(token) < stop - start:
        return None
    if separator:
        if any(token[index] != separator[0] for index in range(4, len(token), 5)):
            return None
        token = token.replace(separator, b"")
    if not (token.isupper() or token.islower()) or is_in(data, stop, ALNUM):
        return None
    token = token.upper()
    if any(byte not in UPPER + DIGITS for byte in token):
        return None
    return stop if mod97(token) else None


# The tail an IBAN may still be growing in: from a country code on, in capitals or small letters.
IBAN_TAIL = re.compile(rb"(?:[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 -]*|[A-Za-z]{1,2}[0-9]?)$")


class IbanDetector(Detector):
    """An IBAN, which may be written in small letters: holding every trailing run of letters and
    spaces would hold prose, so only the tail from what may be a country code on is held."""

    def open_from(self, data: bytes) -> int:
        floor = max(0, len(data) - self.max_len - CONTEXT)
        tail = IBAN_TAIL.search(data, floor)
        return tail.start() if tail else len(data)


NUMBER_ALPHABET = DIGITS + GLUE + b"()+"


def number_detectors() -> list[Detector]:
    return [
        Detector(
            "credit_card",
            "credit_card",
            r"[0-9](?:[ .-]?[0-9]){12,}",
            max_len=40,
            accept=_card,
            alphabet=NUMBER_ALPHABET,
            shortest_number=13,  # digits
        ),
        Detector(
            "us_ssn",
            "us_ssn",
            r"[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}",
            max_len=11,
            accept=_ssn,
            alphabet=NUMBER_ALPHABET,
            shortest_number=11,  # 123-45-6789
        ),
        Detector(
            "phone",
            "phone",
            # E.164 (whole or grouped), North American with separators, or a national number
            # with its trunk 0: shapes, so dates, versions and bare numbers rarely even match.
            r"\+[1-9][0-9]{7,14}"
            r"|\+[1-9][0-9]{0,3}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,5})){1,6}"
            r"|(?:1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}"
            r"|\(?0[0-9]{1,4}\)?(?:[ .-][0-9]{2,8}){1,4}",
            max_len=32,
            accept=_phone,
            alphabet=NUMBER_ALPHABET,
            # `+` and 8 digits (E.164); 9 digits and a separator (a trunk 0); NANP's 10 and two.
            shortest_number=9,
        ),
        IbanDetector(
            "iban",
            "iban",
            r"[A-Z]{2}[0-9]{2}|[a-z]{2}[0-9]{2}",
            max_len=42,
            accept=_iban,
            shortest_number=min(IBAN_LENGTHS.values()),  # Norway's (a number can spell only EE…, 20)
        ),
    ]

"""The values of the gateway's own request headers: yes/no flags and whole numbers.

Read one way everywhere, so `cf-aig-skip-cache: 1` means what `cf-aig-collect-log: 1` does. A value
that is neither is a 400 naming the header and what was probably meant, never ignored: an ignored
`cf-aig-skip-cache: ye` would leave its sender believing the cache was skipped. A blank flag is
absent: clients template headers from variables that may be unset.
"""

from __future__ import annotations

import math
import re

from sluicegate.errors import BadRequest
from sluicegate.gateway import threshold_meant
from sluicegate.hints import closest

YES = ("true", "1", "yes")
NO = ("false", "0", "no")
# Words written for a flag that are too far from an accepted one for `closest`, and what they mean.
_MEANT = {
    "on": "true", "off": "false", "y": "yes", "n": "no", "t": "true", "f": "false",
    "enable": "true", "enabled": "true", "disable": "false", "disabled": "false",
}  # fmt: skip
# Units a number of seconds or milliseconds is written with (`60s`, `1h`), in seconds.
_UNITS = {
    "ms": 0.001, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_SECONDS_PER = {"seconds": 1.0, "ms": 0.001}
_WITH_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
# More digits than any bound of a header has (a TTL's 30 days, a timeout of years in ms): longer
# numbers are refused before `int()` (which raises past 4,300 digits) or a float (inf) reads them.
MOST_DIGITS = 15
SEMANTIC_THRESHOLD_HEADER = "x-semantic-threshold"  # Fastly's: a similarity from 0 to 1


def flag(name: str, value: str) -> bool | None:
    """`value` of header `name` as a yes/no: true, false, 1, 0, yes or no, in any case; None (as if
    the header were absent) for a blank value."""
    word = value.strip().lower()
    if not word:
        return None
    if word in YES:
        return True
    if word in NO:
        return False
    meant = _MEANT.get(word) or closest(word, YES + NO)
    hint = f"; did you mean {meant!r}?" if meant else ""
    raise BadRequest(
        f"{name} must be true or false (or 1/0, yes/no), got {value!r}{hint}",
        header=name,
        accepted=[*YES, *NO],
    )


def whole_number(name: str, value: str, unit: str) -> int:
    """`value` of header `name` as digits only (`int()` would also take `1_000` or `+5`), a number
    of `unit` ("seconds", "ms", or another noun); the 400 says what was probably meant."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        if len(significant := text.lstrip("0")) > MOST_DIGITS:
            raise BadRequest(
                f"{name} must be a whole number of {unit} of at most {MOST_DIGITS} digits, "
                f"got one of {len(significant)}",
                header=name,
            )
        return int(text)
    meant = _meant_number(text.lower(), unit)
    hint = f"; did you mean {meant}?" if meant is not None else ""
    raise BadRequest(
        f"{name} must be a whole number of {unit}, digits only, got {value!r}{hint}", header=name
    )


def _meant_number(text: str, unit: str) -> int | None:
    """The number `text` probably means in `unit`: `1_000` 1000; `60s`, `1h` 60 and 3600 seconds."""
    digits = text.replace("_", "")
    if digits.isascii() and digits.isdigit():
        return int(digits) if len(digits.lstrip("0")) <= MOST_DIGITS else None
    match = _WITH_UNIT.fullmatch(text)
    if match is None or match[2] not in _UNITS or unit not in _SECONDS_PER:
        return None
    amount = float(match[1]) * _UNITS[match[2]] / _SECONDS_PER[unit]
    if not math.isfinite(amount) or amount >= 10**MOST_DIGITS:
        return None
    return round(amount) if abs(amount - round(amount)) < 1e-9 else None


def semantic_threshold(value: str) -> float:
    """`x-semantic-threshold`'s value, a number from 0 to 1; a percentage (50 to 100) is refused
    with the fraction it probably meant."""
    name = SEMANTIC_THRESHOLD_HEADER
    try:
        threshold = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number between 0 and 1", header=name) from None
    if not 0.0 <= threshold <= 1.0:  # NaN too
        message = f"{name} must be between 0 and 1, got {value.strip()}"
        if (meant := threshold_meant(threshold)) is not None:
            raise BadRequest(f"{message}: did you mean {meant}?", header=name, did_you_mean=meant)
        raise BadRequest(message, header=name)
    return threshold

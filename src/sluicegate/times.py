"""Times and durations a client gives (epoch seconds, seconds from now): the range each must be in,
what an out-of-range one was probably meant as, and a stored time shown whatever it holds.

The usual mistake is a unit: JavaScript's `Date.now()` is milliseconds, Java's
`System.currentTimeMillis()` too, Go's `UnixNano()` nanoseconds. Taken as seconds such a time lies
tens of thousands of years ahead, past what `datetime` (year 9999) can show; the other mistake is a
duration (`86400`) sent where a time goes, which lies in 1970.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sluicegate.errors import BadRequest

YEAR = 365.25 * 86400
# How far ahead a token may expire. Every real expiry is far within it, and `datetime` (the CLI,
# `token list`), JavaScript's Date and the SQL backends all hold a time 100 years ahead; beyond
# it a number is a unit mistake, and one far beyond overflows what shows it. A token meant to
# last is sent without an expiry.
MAX_AHEAD_YEARS = 100
MAX_AHEAD = MAX_AHEAD_YEARS * YEAR
EARLIEST = 946_684_800.0  # 2000-01-01: no time a client means today lies before it
LATEST = 1e11  # epoch seconds in the year 5138: beyond any log, well inside every backend's numbers
# A duration sent as a time: one lies within this of 1970 (a time of 1980 is no one's expiry).
DURATION_AS_TIME = 10 * YEAR
_UNITS = ((1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds"))


def shown(ts: float) -> str:
    """`ts` (epoch seconds) as an ISO 8601 UTC time to the second, or, out of the range `datetime`
    shows (a time stored before the range was checked), the number as it was written."""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return number(ts)


def number(value: float) -> str:
    """A number as a client would have written it: `1796646611`, `0.5`, `1e+300`."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def in_seconds(value: float, low: float, high: float) -> tuple[float, str] | None:
    """`value` in seconds, and the unit it looks written in, when dividing it by a unit (ms, µs,
    ns) brings it into [low, high]; None when no unit does."""
    for divisor, unit in _UNITS:
        seconds = value / divisor
        if low <= seconds <= high:
            return seconds, unit
    return None


def token_expiry(
    expires_at: float | None,
    expires_in: float | None,
    now: float,
    at_name: str | None = "expires_at",
    in_name: str = "expires_in",
) -> float | None:
    """The expiry (epoch seconds) a new token is given: `expires_at`, or `expires_in` seconds from
    `now`, or None (never). A `BadRequest` naming the field, and what was probably meant, for one
    not in the next `MAX_AHEAD_YEARS` years: milliseconds, a duration sent as a time, a time past.
    The names are the fields' in the client's words (`at_name` None: it has no such field)."""
    if expires_at is not None and expires_in is not None:
        raise BadRequest(
            f"{at_name}: sent with {in_name}; send one, {at_name} (a time, epoch seconds) or"
            f" {in_name} (seconds from now)",
            field=at_name,
        )
    if expires_in is not None:
        return now + _duration(expires_in, now, at_name, in_name)
    if expires_at is None or at_name is None:
        return None
    latest = now + MAX_AHEAD
    if not math.isfinite(expires_at) or expires_at > latest:
        meant = in_seconds(expires_at, EARLIEST, latest)
        hint = (
            f"; it looks like {meant[1]}: did you mean {number(meant[0])} (seconds)?"
            if meant
            else f"; a token that should not expire is given no {at_name} or {in_name}"
        )
        raise BadRequest(
            f"{at_name}: {number(expires_at)} is more than {MAX_AHEAD_YEARS} years ahead (after"
            f" {shown(latest)}); {at_name} is a time in epoch seconds{hint}",
            field=at_name,
        )
    if expires_at <= now:
        hint = (
            f"; did you mean {in_name}: {number(expires_at)} (seconds from now)?"
            if expires_at <= DURATION_AS_TIME
            else f"; send a later time in epoch seconds, or {in_name} (seconds from now)"
        )
        raise BadRequest(
            f"{at_name}: {number(expires_at)} is already past ({shown(expires_at)}): the token would"
            f" never work{hint}",
            field=at_name,
        )
    return expires_at


def _duration(expires_in: float, now: float, at_name: str | None, in_name: str) -> float:
    if expires_in <= 0:
        raise BadRequest(
            f"{in_name}: {number(expires_in)} is not a time from now: give seconds, above 0", field=in_name
        )
    if math.isfinite(expires_in) and expires_in <= MAX_AHEAD:
        return expires_in
    as_time = in_seconds(expires_in, EARLIEST, now + MAX_AHEAD)
    never = f"{at_name} or {in_name}" if at_name else in_name
    if as_time is not None:  # Date.now() (plus a while): a time, not a span
        meant = f"did you mean {at_name}: {number(as_time[0])}?" if at_name else "not seconds from now"
        hint = f"; it looks like a time in {as_time[1]}: {meant}"
    elif (as_span := in_seconds(expires_in, 1, MAX_AHEAD)) is not None:
        hint = f"; it looks like {as_span[1]}: did you mean {number(as_span[0])} (seconds)?"
    else:
        hint = f"; a token that should not expire is given no {never}"
    raise BadRequest(
        f"{in_name}: {number(expires_in)} seconds is more than {MAX_AHEAD_YEARS} years"
        f" ({number(MAX_AHEAD)} seconds){hint}",
        field=in_name,
    )


def query_time(value: float, name: str) -> float:
    """A time a query gives (a log filter's `from`, an analytics range's `to`): within
    ±`LATEST`; a 400 naming `name` otherwise, with the seconds meant when it looks like ms."""
    if math.isfinite(value) and -LATEST < value < LATEST:
        return value
    meant = in_seconds(value, EARLIEST, LATEST) if math.isfinite(value) else None
    hint = f"; it looks like {meant[1]}: did you mean {name}={number(meant[0])}?" if meant else ""
    raise BadRequest(
        f"{name} must be a time within about 3,000 years of 1970 (epoch seconds between -1e11 and"
        f" 1e11, or ISO 8601), got"
        f" {number(value)}{hint}",
        param=name,
    )

"""Budgets on the command line: reading a token's allowance from options, and writing spend reports
and allowances as tables people read.

A rule is written as JSON (a `RateLimitRule` object) or briefly as `AMOUNT UNIT/PERIOD`:
`5usd/day`, `200000tokens/30d`, `60requests/minute`, `1.5usd/12h` (a fixed window; JSON for more).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from sluicegate.allowance import Allowance, TokenRule
from sluicegate.cli.terminal import shown
from sluicegate.gateway import plain
from sluicegate.hints import closest

_BRIEF_RULE = re.compile(
    r"^\s*(?P<limit>\d+(?:\.\d+)?)\s*(?P<unit>usd|\$|tokens?|requests?)\s*/\s*"
    r"(?P<count>\d+)?\s*(?P<period>s|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)\s*$",
    re.IGNORECASE,
)
_UNITS = {"usd": "cost", "$": "cost", "token": "tokens", "tokens": "tokens", "request": "requests"}
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# What a brief rule that `_BRIEF_RULE` refuses was written as, to say which part is wrong.
_LOOSE_RULE = re.compile(
    r"^\s*(?P<limit>[\d.]+)\s*(?P<unit>[^\d\s/]+)\s*/\s*(?P<count>\d+)?\s*(?P<period>[a-z]+)\s*$",
    re.IGNORECASE,
)
_PERIOD_WORDS = [
    f"{word}{plural}" for word in ("second", "minute", "hour", "day", "week") for plural in ("", "s")
]
# Calendar periods are no fixed number of seconds: the days of the fixed window each comes nearest.
_CALENDAR = dict.fromkeys(("month", "months", "mo"), 30) | dict.fromkeys(("year", "years", "yr", "y"), 365)
_MOST_DAYS = 366  # RateLimitRule.period's bound
_FORMS = (
    "units usd (or $), tokens, requests; periods s, m (min), h, d, w or their words (seconds … weeks),"
    " with an optional count: 30d, 12h"
)


class OptionError(ValueError):
    """An option that cannot be read; the message names it and shows the form it takes."""


def allowance(
    rules: Sequence[str], models: Sequence[str], providers: Sequence[str], metadata: Sequence[str]
) -> Allowance:
    """The allowance the options of `token create` describe (nothing given: no limit)."""
    values: dict[str, Any] = {"rules": [rule(text) for text in rules], "metadata": _metadata(metadata)}
    if models:
        values["models"] = list(models)
    if providers:
        values["providers"] = list(providers)
    try:
        return Allowance.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise OptionError(f"--{where.split('.')[0].rstrip('s')}: {where}: {first['msg']}") from exc


def rule(text: str) -> dict[str, Any]:
    """One `--rule`: JSON, or the brief `AMOUNT UNIT/PERIOD` form."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise OptionError(f"--rule: not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise OptionError(
                '--rule: a JSON rule is an object, e.g. {"limit": 5, "period": 86400, "unit": "cost"}'
            )
        _check(value)
        return value
    brief = _BRIEF_RULE.match(text)
    if brief is None:
        raise OptionError(_not_brief(text))
    unit = brief["unit"].lower()
    seconds = _PERIODS[brief["period"][0].lower()] * int(brief["count"] or 1)
    if seconds > _MOST_DAYS * 86400:
        raise OptionError(f"--rule: {text!r}: a period is at most {_MOST_DAYS} days ({_MOST_DAYS}d)")
    value = {"limit": float(brief["limit"]), "period": seconds, "unit": _UNITS.get(unit, "requests")}
    _check(value)
    return value


def _not_brief(text: str) -> str:
    """Why `text` is no brief rule, and the rule probably meant when one part of it is off."""
    loose = _LOOSE_RULE.match(text)
    if loose is None:
        return (
            f"--rule: {text!r} is neither JSON nor AMOUNT UNIT/PERIOD such as 5usd/day, 200000tokens/30d"
            f" or 60requests/minute ({_FORMS})"
        )
    unit, period, count = loose["unit"].lower(), loose["period"].lower(), int(loose["count"] or 1)
    if _BRIEF_RULE.match(f"1{unit}/d") is None:
        return f"--rule: {text!r}: {loose['unit']!r} is no unit: usd (or $), tokens or requests"
    amount = f"{loose['limit']}{loose['unit']}"
    if period in _CALENDAR:
        days = count * _CALENDAR[period]
        meant = f"did you mean {amount}/{days}d?" if days <= _MOST_DAYS else f"the longest is {_MOST_DAYS}d"
        calendar = "month" if _CALENDAR[period] == 30 else "year"
        return f"--rule: {text!r}: a period is a fixed window of seconds, not a calendar {calendar}; {meant}"
    word = closest(period, _PERIOD_WORDS)
    if word is not None:
        return f"--rule: {text!r}: no period {period!r}; did you mean {amount}/{loose['count'] or ''}{word}?"
    return f"--rule: {text!r}: no period {period!r}: {_FORMS}"


def _check(value: dict[str, Any]) -> None:
    try:
        TokenRule.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "rule"
        raise OptionError(f"--rule: {where}: {first['msg']}") from exc


def _metadata(items: Sequence[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise OptionError(f"--metadata: {item!r} is not KEY=VALUE, e.g. team=search")
        metadata[key.strip()] = value.strip()
    return metadata


def allowance_text(token: Allowance) -> str:
    """A token's allowance in a few words, for `token list` ("" for none)."""
    parts = [_rule_text(rule) for rule in token.rules]
    if token.models is not None:
        parts.append("models " + ",".join(token.models))
    if token.providers is not None:
        parts.append("providers " + ",".join(token.providers))
    parts += [f"{key}={value}" for key, value in token.metadata.items()]
    return "; ".join(parts)


def _rule_text(rule: TokenRule) -> str:
    amount = f"${plain(rule.limit)}" if rule.unit == "cost" else f"{plain(rule.limit)} {rule.unit}"
    return f"{rule.name + ': ' if rule.name else ''}{amount}/{_period_text(rule.period)}"


def _period_text(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            count = seconds // size
            return (
                f"{count}{unit}"
                if count != 1
                else {"w": "week", "d": "day", "h": "hour", "m": "minute"}[unit]
            )
    return f"{seconds}s"


def spend_table(answer: dict[str, Any]) -> Table:
    """A spend report's top spenders, with what each has left of its budgets."""
    by = answer["by"]
    columns = [
        by,
        *(["name"] if by == "token" else []),
        "requests",
        "tokens in",
        "tokens out",
        "cost",
        "budget left",
    ]
    table = Table(*columns)
    for row in answer["result"]:
        # A user, team or model is what clients sent: Text, so `[bold]` is no markup, and escaped.
        cells = [Text(shown(row["key"])) if row["key"] is not None else "(none)"]
        if by == "token":
            cells.append(Text(shown(row.get("name") or "")))
        cells += [
            str(row["requests"]),
            str(row["tokens_in"]),
            str(row["tokens_out"]),
            money(row["cost_usd"]) + (f" (+{row['unpriced']} unpriced)" if row["unpriced"] else ""),
            Text("\n".join(budget_text(budget) for budget in row["budgets"])),
        ]
        table.add_row(*cells)
    return table


def budget_text(budget: dict[str, Any]) -> str:
    def amount(value: float) -> str:
        return money(value) if budget["unit"] == "cost" else f"{plain(value)} {budget['unit']}"

    where = f" ({budget['gateway']})" if budget["gateway"] else ""
    return shown(f"{budget['label']}{where}: {amount(budget['remaining'])} of {amount(budget['limit'])}")


def money(value: float) -> str:
    return f"${plain(round(value, 6)) if value >= 0.000001 or value == 0 else plain(value)}"

"""Query parameters as Cloudflare's clients send them: a 400 names any the route does not take."""

from __future__ import annotations

import math
from collections.abc import Mapping

from sluicegate.endpoints.query_params import check_params
from sluicegate.errors import BadRequest


def only(params: Mapping[str, str], *names: str) -> None:
    """Refuse a parameter not in `names` (`filters.key` counts as `filters`), naming the nearest."""
    check_params((given for given in params if given.split(".", 1)[0] not in names), names)


def boolean(value: str | bool, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise BadRequest(f"{name} must be true or false, got {value!r}", param=name)


def number(value: str | float, name: str) -> float:
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be a number, got {value!r}", param=name)
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, got {value!r}", param=name) from None
    if not math.isfinite(parsed):
        raise BadRequest(f"{name} must be a finite number, got {value!r}", param=name)
    return parsed

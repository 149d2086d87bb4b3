"""Reading a log query from URL parameters (the admin API, the Cloudflare-style API, exports and
the CLI share it): times, status classes, feedback, scores and page sizes, each refused with a 400
naming the parameter (one a route does not take: `query_params.check_params`)."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sluicegate.endpoints.query_params import FROM_TO, check_params, provider_name
from sluicegate.errors import BadRequest
from sluicegate.storage.base import LogQuery
from sluicegate.times import query_time

MAX_PAGE = 1000
LOG_PARAMS = (
    "from", "to", "provider", "model", "status", "cached", "feedback", "score_min", "score_max",
    "cursor", "limit",
)  # fmt: skip
_LOG_ID = re.compile(r"[0-9a-f]{32}")  # exchange.new_log_id's form


def log_query(account: str, gateway: str | None, params: Any, also: Collection[str] = ()) -> LogQuery:
    """A `LogQuery` from URL parameters: from, to, provider (in any case), model, status, cached,
    feedback, score_min, score_max, cursor, limit, and the caller's `also`. Any other is a 400
    naming the nearest (`check_params`)."""
    check_params(params, [*LOG_PARAMS, *also], meant=FROM_TO)
    status_min, status_max = _status_range(params.get("status"))
    limit = _int_param(params, "limit", 50)
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}", param="limit")
    cached = params.get("cached")
    if cached not in (None, "true", "false"):
        raise BadRequest("cached must be true or false", param="cached")
    score_min, score_max = _score_param(params, "score_min"), _score_param(params, "score_max")
    if score_min is not None and score_max is not None and score_min > score_max:
        raise BadRequest(f"score_min ({score_min:g}) is above score_max ({score_max:g})", param="score_min")
    return LogQuery(
        account=account,
        gateway=gateway,
        since=parse_time(params.get("from"), "from"),
        until=parse_time(params.get("to"), "to"),
        provider=provider_name(params.get("provider")),
        model=params.get("model"),
        status_min=status_min,
        status_max=status_max,
        cached=None if cached is None else cached == "true",
        feedback=feedback_param(params.get("feedback")),
        score_min=score_min,
        score_max=score_max,
        cursor=params.get("cursor"),
        limit=limit,
    )


def is_log_id(text: str) -> bool:
    """Whether `text` has the form of the ids the gateway gives its records."""
    return _LOG_ID.fullmatch(text) is not None


def bad_cursor(cursor: str) -> BadRequest:
    return BadRequest(
        f"cursor must be the next_cursor of the previous page (a log id), got {cursor!r}", param="cursor"
    )


def parse_time(value: str | None, name: str) -> float | None:
    """Epoch seconds (within `times.query_time`'s range: a time in milliseconds, taken as seconds,
    would select nothing or everything), or an ISO 8601 time (`2026-11-26T10:00:00Z`)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return query_time(number, name)  # as seconds: a JavaScript client's milliseconds are a 400
    try:
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()  # naive means UTC
    except ValueError as exc:
        raise BadRequest(
            f"{name} must be epoch seconds or an ISO 8601 time, got {value!r}", param=name
        ) from exc


def _status_range(value: str | None) -> tuple[int | None, int | None]:
    """`404` is one status; `4xx` a class."""
    if value is None:
        return None, None
    if len(value) == 3 and value[0] in "12345" and value[1:].lower() == "xx":
        return int(value[0]) * 100, int(value[0]) * 100 + 99
    if value.isdigit() and len(value) == 3:
        return int(value), int(value)
    raise BadRequest(f"status must be a code like 429 or a class like 5xx, got {value!r}", param="status")


# Words people write for a thumb, and the value they mean.
_THUMBS = {"up": 1, "positive": 1, "good": 1, "down": -1, "negative": -1, "bad": -1, "none": 0, "neutral": 0}


def feedback_param(value: str | None) -> int | None:
    """`feedback=-1`, `0` or `1`; a word for one (`up`) is a 400 that names the number meant."""
    if value is None:
        return None
    if value.strip() in ("-1", "0", "1", "+1"):
        return int(value)
    meant = _THUMBS.get(value.strip().lower())
    hint = f"; for {value!r} send feedback={meant}" if meant is not None else ""
    raise BadRequest(
        f"feedback must be -1 (thumbs down), 0 (not evaluated) or 1 (thumbs up), got {value!r}{hint}",
        param="feedback",
    )


def _score_param(params: Any, name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        score = float(value)
    except ValueError:
        score = math.nan
    if not 0 <= score <= 100:
        raise BadRequest(f"{name} must be a number from 0 to 100, got {value!r}", param=name)
    return score


def _int_param(params: Any, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer, got {value!r}", param=name) from exc

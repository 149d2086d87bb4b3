"""What a stream that opens with the provider's error stands for: the HTTP status the provider gives
the same error outside a stream.

Anthropic often answers a streamed request with 200 and an `error` event as its first event, e.g.
`overloaded_error` where an unstreamed request gets 529
(https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events); OpenAI and servers
that copy it send `data: {"error": ...}`, Gemini its error object with a numeric `code`. Before any
content has gone to the client such an answer is the failure it names: retries and fallbacks treat
it as that status (pipeline/forward.py).
"""

from __future__ import annotations

from typing import Final

import orjson

from sluicegate.providers.sse import error_event_at, error_event_data

# error.type -> status: Anthropic's (https://docs.anthropic.com/en/api/errors) and OpenAI's
# (https://platform.openai.com/docs/guides/error-codes), whose 429s are typed by what ran out.
_TYPE_STATUS: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
    "server_error": 500,
    "insufficient_quota": 429,
    "requests": 429,
    "tokens": 429,
}
_CODE_STATUS: Final = {"rate_limit_exceeded": 429, "insufficient_quota": 429, "server_error": 500}
# An error whose kind cannot be read is the server's (as Anthropic's api_error is).
UNKNOWN_ERROR_STATUS: Final = 500


def opening_error(events: bytes) -> int | None:
    """The status the first event of a stream (`events`: its start, the first event whole) stands
    for when that event is an error, else None. Comments and blank lines may come before it; an
    event with data may not (the stream had begun its answer)."""
    start = error_event_at(events)
    if start < 0 or b"data:" in events[:start]:
        return None
    data = error_event_data(events, start)
    try:
        document = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return UNKNOWN_ERROR_STATUS
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return UNKNOWN_ERROR_STATUS
    for field in ("code", "status"):  # Gemini's {"code": 503, "status": "UNAVAILABLE"}
        number = error.get(field)
        if isinstance(number, int) and not isinstance(number, bool) and 400 <= number <= 599:
            return number
    kind, code = error.get("type"), error.get("code")
    if isinstance(kind, str) and kind in _TYPE_STATUS:
        return _TYPE_STATUS[kind]
    if isinstance(code, str) and code in _CODE_STATUS:
        return _CODE_STATUS[code]
    return UNKNOWN_ERROR_STATUS

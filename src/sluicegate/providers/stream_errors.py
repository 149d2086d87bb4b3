"""What a stream that opens with the provider's error stands for: the HTTP status the provider gives
the same error outside a stream.

Anthropic often answers a streamed request with 200 and an `error` event as its first event, e.g.
`overloaded_error` where an unstreamed request gets 529
(https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events); OpenAI and servers
that copy it send `data: {"error": ...}`, Gemini its error object with a numeric `code`. Before any
content has gone to the client such an answer is the failure it names: retries and fallbacks treat
it as that status (pipeline/forward.py). Its first event need not be in the first read: keep-alive
comments (OpenRouter's) and Anthropic's `ping` events may come before it, and its lines may come in
separate writes, so `opening` says when the reads so far do not settle it yet.
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
# What `opening` says besides a status: the stream opens with an answer, or the reads so far do not say.
NOT_AN_ERROR: Final = 0
UNDECIDED: Final = -1


def opening(events: bytes) -> int:
    """What the start of an SSE stream (`events`: the reads so far) says of its first event: the
    status it stands for when it is an error (`opening_error`), `NOT_AN_ERROR` when it is anything
    else, `UNDECIDED` while that event has not come whole. Comments, blank lines and `ping` events
    before it are skipped; an event named otherwise, or a `data:` line that is no error, settles it
    at its first line, an error (or an event that starts with `id:`/`retry:`) at its blank line."""
    at, size = 0, len(events)
    while at < size:
        if events[at] in b"\r\n":  # the blank lines between events
            at += 1
            continue
        line_end = events.find(b"\n", at)
        if line_end < 0:
            return UNDECIDED
        field, _, value = events[at:line_end].rstrip(b"\r").partition(b":")
        value = value.strip()
        if field == b"":  # a comment (": keep-alive")
            at = line_end + 1
            continue
        if field == b"event" and value == b"ping":
            at = _event_end(events, at)
            if at < 0:
                return UNDECIDED
            continue
        if field == b"event" and value != b"error":
            return NOT_AN_ERROR
        if field == b"data" and error_event_at(events[at : line_end + 1]) != 0:
            return NOT_AN_ERROR
        if field not in (b"event", b"data", b"id", b"retry"):
            return NOT_AN_ERROR
        end = _event_end(events, at)
        if end < 0:
            return UNDECIDED
        return _error_status(events[at:end]) or NOT_AN_ERROR
    return UNDECIDED


def opening_at_end(events: bytes) -> int:
    """`opening` of a stream that has ended: its last event ends with it (an error event cut short
    of its blank line still is one); nothing but comments is no error."""
    verdict = opening(events)  # (most often settled without the copy below)
    return verdict if verdict != UNDECIDED else max(opening(events + b"\n\n"), NOT_AN_ERROR)


def _event_end(events: bytes, at: int) -> int:
    """Where the event that starts at `at` ends (past its blank line), or -1 before it has."""
    lf, crlf = events.find(b"\n\n", at), events.find(b"\r\n\r\n", at)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 4
    return lf + 2 if lf >= 0 else -1


def opening_error(events: bytes) -> int | None:
    """The status the first event of a stream (`events`: its start, the first event whole) stands
    for when that event is an error, else None; comments and pings before it are skipped (`opening`)."""
    return opening_at_end(events) or None


def _error_status(events: bytes) -> int | None:
    """`opening_error` of a first event with nothing before it but comments and blank lines; an
    event with data may not come before it (the stream had begun its answer)."""
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

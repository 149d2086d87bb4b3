"""What a stream that opens with the provider's error stands for: the HTTP status the provider gives
the same error outside a stream.

Anthropic often answers a streamed request with 200 and an `error` event as its first event, e.g.
`overloaded_error` where an unstreamed request gets 529
(https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events); OpenAI and servers
that copy it send `data: {"error": ...}`, Gemini its error object with a numeric `code`. Before any
content has gone to the client such an answer is the failure it names: retries and fallbacks treat
it as that status (pipeline/forward.py). Its first event need not be in the first read: keep-alive
comments (OpenRouter's) and Anthropic's `ping` events may come before it, and its lines may come in
separate writes, so `Opening` says, read by read, when the reads so far do not settle it yet.
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
_CR: Final = ord("\r")
_COLON: Final = ord(":")


class Opening:
    """What the start of an SSE stream says of its first event, read by read (`feed`): the status it
    stands for when it is an error (`opening_error`), `NOT_AN_ERROR` when it is anything else,
    `UNDECIDED` while that event has not come whole. Comments, blank lines and `ping` events before
    it are skipped; an event named otherwise, or a `data:` line that is no error, settles it at its
    first line, an error (or an event that starts with `id:`/`retry:`) at its blank line. Each byte
    is scanned once however the reads split it: the upstream chooses how many reads (up to the
    forwarder's 64 KiB) come before the first event, so a scan from the start per read would be
    quadratic in them."""

    __slots__ = ("_event", "_events", "_line", "_ping", "_searched", "_verdict")

    def __init__(self) -> None:
        self._events: bytes | bytearray = b""
        self._line = 0  # where the line not yet scanned starts
        self._searched = 0  # that line has no line feed before this
        self._event = -1  # where the event begun and not yet whole starts (-1: between events)
        self._ping = False  # that event is a ping
        self._verdict = UNDECIDED  # (once decided, it stays)

    @property
    def size(self) -> int:
        """How many bytes have been fed."""
        return len(self._events)

    def feed(self, read: bytes) -> int:
        """The verdict on the reads so far, `read` the latest."""
        if self._verdict != UNDECIDED:
            return self._verdict
        events = self._events
        if not events:
            events = read  # the first read, as it is (most streams: its first line settles it)
        else:
            if isinstance(events, bytes):
                events = bytearray(events)
            events += read
        self._events = events
        self._verdict = self._scan(events)
        return self._verdict

    def at_end(self) -> int:
        """The verdict once the stream has ended: its last event ends with it (an error event cut
        short of its blank line still is one); nothing but comments and pings is no error."""
        return max(self.feed(b"\n\n"), NOT_AN_ERROR)

    def _scan(self, events: bytes | bytearray) -> int:
        while True:
            end = events.find(b"\n", max(self._line, self._searched))
            if end < 0:
                self._searched = len(events)
                return UNDECIDED
            start, self._line = self._line, end + 1
            if end == start or (end == start + 1 and events[start] == _CR):  # a blank line
                if self._event < 0 or self._ping:  # between events, or a ping's end
                    self._event = -1
                    continue
                return _error_status(bytes(events[self._event : end + 1])) or NOT_AN_ERROR
            if self._event >= 0 or events[start] == _COLON:  # a line of the event begun, or a comment
                continue
            field, _, value = bytes(events[start:end]).rstrip(b"\r").partition(b":")
            value = value.strip()
            if field == b"event" and value == b"ping":
                self._event, self._ping = start, True
                continue
            if field == b"event" and value != b"error":
                return NOT_AN_ERROR
            if field == b"data" and error_event_at(bytes(events[start : end + 1])) != 0:
                return NOT_AN_ERROR
            if field not in (b"event", b"data", b"id", b"retry"):
                return NOT_AN_ERROR
            self._event, self._ping = start, False


def opening(events: bytes) -> int:
    """`Opening`'s verdict on `events`, the start of a stream."""
    return Opening().feed(events)


def opening_at_end(events: bytes) -> int:
    """`Opening`'s verdict on `events`, a whole stream."""
    scan = Opening()
    verdict = scan.feed(events)
    return verdict if verdict != UNDECIDED else scan.at_end()


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

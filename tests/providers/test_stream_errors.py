"""The status a stream's opening error event stands for, as each provider sends one."""

from __future__ import annotations

import time

import pytest

from sluicegate.providers.stream_errors import (
    NOT_AN_ERROR,
    UNDECIDED,
    Opening,
    opening,
    opening_at_end,
    opening_error,
)


def anthropic(kind: str) -> bytes:
    return b'event: error\ndata: {"type":"error","error":{"type":"' + kind.encode() + b'","message":"x"}}\n\n'


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("overloaded_error", 529),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("invalid_request_error", 400),
        ("timeout_error", 504),
        ("some_new_error", 500),
    ],
)
def test_anthropic_s_error_types_stand_for_their_statuses(kind: str, status: int) -> None:
    # https://docs.anthropic.com/en/api/errors
    assert opening_error(anthropic(kind)) == status


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (b'data: {"error": {"message": "m", "type": "server_error", "param": null, "code": null}}\n\n', 500),
        (b'data: {"error": {"message": "m", "type": "requests", "code": "rate_limit_exceeded"}}\n\n', 429),
        (b'data: {"error": {"message": "m", "type": "x", "code": "rate_limit_exceeded"}}\n\n', 429),
        (b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n', 503),
        (b'data: {"error": "something broke"}\n\n', 500),
        (b"event: error\ndata: not json\n\n", 500),
        (b"event: error\n", 500),  # its data has not come
        (b": keep-alive\n\n" + anthropic("overloaded_error"), 529),  # a comment first
    ],
)
def test_other_error_events_first(event: bytes, status: int) -> None:
    assert opening_error(event) == status


@pytest.mark.parametrize(
    "events",
    [
        b'event: message_start\ndata: {"type":"message_start"}\n\n' + anthropic("overloaded_error"),
        b'data: {"id":"c","choices":[],"error":null}\n\n',
        b'data: {"id":"c","choices":[{"delta":{"content":"error"}}]}\n\n',
        b"",
    ],
)
def test_a_stream_that_began_its_answer_or_has_no_error_is_none(events: bytes) -> None:
    assert opening_error(events) is None


PING = b'event: ping\ndata: {"type":"ping"}\n\n'
OVERLOADED = anthropic("overloaded_error")


@pytest.mark.parametrize(
    ("events", "verdict"),
    [
        (b'event: message_start\ndata: {"type":"message_start"', NOT_AN_ERROR),  # its first line settles it
        (b'data: {"id":"chatcmpl-1","choices":[]}\n', NOT_AN_ERROR),
        (b": keep-alive\n\n", UNDECIDED),
        (b": OPENROUTER PROCESSING\n\n" + OVERLOADED, 529),
        (PING + OVERLOADED, 529),
        (PING + b"event: content_block_delta\n", NOT_AN_ERROR),
        (b"event: error\n", UNDECIDED),  # its data is in the next write
        (OVERLOADED[:-1], UNDECIDED),  # not whole before its blank line
        (OVERLOADED.replace(b"\n", b"\r\n"), 529),
        (b'data: {"error":{"code":503,"status":"UNAVAILABLE"}}\r\n\r\n', 503),  # Gemini's CRLF
        (b"event: mess", UNDECIDED),
    ],
)
def test_the_opening_is_decided_once_the_first_event_that_is_not_a_ping_has_come(
    events: bytes, verdict: int
) -> None:
    assert opening(events) == verdict


def test_a_stream_that_ended_is_decided_by_what_came() -> None:
    assert opening_at_end(OVERLOADED[:-2]) == 529
    assert opening_at_end(b": keep-alive\n\n") == NOT_AN_ERROR
    assert opening_error(PING + OVERLOADED) == 529  # (the meter reads a logged body so)


@pytest.mark.parametrize(
    "events",
    [
        b": OPENROUTER PROCESSING\n\n" + OVERLOADED,
        PING + OVERLOADED,
        OVERLOADED.replace(b"\n", b"\r\n"),
        b": keep-alive\r\n\r\n" + PING.replace(b"\n", b"\r\n") + b'data: {"id":"c","choices":[]}\r\n\r\n',
        PING + b'event: message_start\ndata: {"type":"message_start"}\n\n',
        b'data: {"error":{"code":503,"status":"UNAVAILABLE"}}\n\n',
    ],
)
def test_read_by_read_is_as_read_whole(events: bytes) -> None:
    # However the upstream splits its writes: a byte at a time here.
    scan = Opening()
    verdicts = [scan.feed(events[at : at + 1]) for at in range(len(events))]
    decided = [v for v in verdicts if v != UNDECIDED]
    assert decided
    assert decided[0] == opening(events) != UNDECIDED
    assert set(decided) == {decided[0]}  # once decided, it stays
    assert scan.at_end() == decided[0]


def test_each_read_scans_only_what_is_new() -> None:
    # The upstream chooses how the read-ahead's 64 KiB come: keep-alives a byte at a time are 65536
    # reads. Scanned from the start each time, that is some 2**31 bytes; here, each byte once.
    keep_alives = b": keep-alive\n\n" * (64 * 1024 // 14)
    scan = Opening()
    started = time.perf_counter()
    for at in range(len(keep_alives)):
        assert scan.feed(keep_alives[at : at + 1]) == UNDECIDED
    assert scan.feed(OVERLOADED) == 529
    assert time.perf_counter() - started < 2.0  # about 0.05 s; about a minute scanned from the start

"""A request line and headers must arrive within `timeouts.header_timeout` (security finding 6,
slowloris): a connection that sent part of a head by then is answered 408 and closed, one that sent
nothing is closed, and neither is logged. A kept-alive connection waits for its next request as
before; the clock starts at that request's first byte.

Raw sockets over loopback to a real gateway with a short timeout; the client writes a header line
more often than the timeout, so a timer that only counted idle time would never fire.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Callable

import orjson
import pytest

from tests.conftest import RunningGateway
from tests.integration.rawhttp import connections_on, parse_responses, wait_until

HEADER_TIMEOUT = 0.3
EARLIEST = 0.9 * HEADER_TIMEOUT  # libuv times from its cached loop time: a few ms early
GIVE_UP_AFTER = 5.0  # seconds without an answer or a close: the gateway never cut the head off
HEAD = b"POST /v1/local/default/openai/chat/completions HTTP/1.1\r\nHost: gateway\r\n"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway(timeouts={"header_timeout": HEADER_TIMEOUT})


def connect(gateway: RunningGateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.server.port), timeout=GIVE_UP_AFTER)


def until_closed(sock: socket.socket, started: float, trickle: bytes = b"") -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed; meanwhile `trickle`, if
    given, is sent whenever 50 ms pass without a byte from the server."""
    received = b""
    while True:
        assert time.monotonic() - started < GIVE_UP_AFTER, "the server neither answered nor closed"
        if not select.select([sock], [], [], 0.05)[0]:
            if trickle and not received:
                sock.sendall(trickle)
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def answer(sock: socket.socket) -> int:
    """The status of the next whole response on a kept-alive connection."""
    received = b""
    while not (responses := parse_responses(received, complete_only=True)):
        assert select.select([sock], [], [], GIVE_UP_AFTER)[0], "no answer"
        chunk = sock.recv(65536)
        assert chunk, "closed instead of answering"
        received += chunk
    return responses[0].status


def timed_out(received: bytes) -> None:
    (response,) = parse_responses(received)
    assert response.status == 408, received
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    error = orjson.loads(response.body)["error"]
    assert error == {
        "message": f"the request line and headers did not arrive within {HEADER_TIMEOUT:g} s",
        "type": "sluicegate_error",
        "code": "request_timeout",
        "timeout_s": HEADER_TIMEOUT,
    }


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /v1/local/default/openai/chat/co", HEAD, HEAD + b"Content-Type: application/json\r\n"],
    ids=["nothing", "part of the request line", "the request line", "a header line"],
)
def test_a_head_that_does_not_come_in_time_is_cut_off(
    gateway: RunningGateway, sent: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), connect(gateway) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        received, elapsed = until_closed(sock, started)

    assert elapsed >= EARLIEST
    if sent:
        timed_out(received)
    else:
        assert received == b""  # nothing asked, nothing answered: closed
    # Nothing per connection in the gateway's log or aiohttp's, and no request record.
    assert [r for r in caplog.records if r.name.startswith(("sluicegate", "aiohttp"))] == []
    assert gateway.logs() == []


def test_a_header_line_now_and_then_does_not_hold_the_connection(gateway: RunningGateway) -> None:
    with connect(gateway) as sock:
        started = time.monotonic()
        sock.sendall(HEAD)
        received, elapsed = until_closed(sock, started, trickle=b"X-Slow: 1\r\n")

    timed_out(received)
    assert EARLIEST <= elapsed < GIVE_UP_AFTER


def test_a_kept_alive_connection_waits_for_its_next_request_then_times_its_head(
    gateway: RunningGateway,
) -> None:
    ask = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with connect(gateway) as sock:
        sock.sendall(ask)
        assert answer(sock) == 200
        # Idle for three times the head's timeout after an answer: still open (keep-alive's timer).
        assert not select.select([sock], [], [], 3 * HEADER_TIMEOUT)[0], "closed while kept alive"
        sock.sendall(ask)
        assert answer(sock) == 200
        # The next request's head starts its clock at its first byte.
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        received, elapsed = until_closed(sock, started)

    timed_out(received)
    assert elapsed >= EARLIEST


def test_many_half_sent_heads_are_all_let_go(gateway: RunningGateway) -> None:
    """The tester held ~19,900 such connections open; each now lasts the timeout."""
    port = gateway.server.port
    socks: list[socket.socket] = []
    try:
        for index in range(200):
            socks.append(connect(gateway))
            socks[-1].sendall(HEAD[: 1 + index % len(HEAD)])
        assert wait_until(lambda: connections_on(port) == 0, timeout=GIVE_UP_AFTER), connections_on(port)
        for sock in socks[::50]:
            received, _ = until_closed(sock, time.monotonic())
            timed_out(received)
    finally:
        for sock in socks:
            sock.close()


def test_a_kept_alive_connection_idle_past_the_keepalive_timeout_is_closed(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    """The head clock starts at a request's first byte, so one cheap request and then silence held
    a connection for aiohttp's default hour (the review of the head timeout): an idle kept-alive
    connection now lasts `timeouts.keepalive_timeout`."""
    keepalive = 0.5
    gateway = make_gateway(timeouts={"header_timeout": 30.0, "keepalive_timeout": keepalive})
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        assert answer(sock) == 200
        started = time.monotonic()
        received, elapsed = until_closed(sock, started)

    assert received == b""  # closed between requests: nothing to answer
    assert 0.9 * keepalive <= elapsed < GIVE_UP_AFTER

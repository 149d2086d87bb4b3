"""A request body that trickles in is cut off after `body_timeout` seconds in all: 408 JSON, logged.

The client keeps sending a byte whenever 50 ms pass without an answer, so a timeout that only
counted idle time would never fire; the whole body is never sent.
"""

from __future__ import annotations

import http.client
import json
import logging
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, RunningGateway
from tests.fakes.openai_server import FakeOpenAI

BODY_TIMEOUT = 0.5
GIVE_UP_AFTER = 5.0  # seconds of trickling without an answer: the gateway never cut it off


def trickle(gateway: RunningGateway, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], float]:
    """POST to `path` a body announced as 100 kB, sent a byte at a time; the answer and its delay."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection(("127.0.0.1", gateway.server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100000\r\n{head}\r\n{{".encode()
        )
        while not select.select([sock], [], [], 0.05)[0]:
            assert time.monotonic() - started < GIVE_UP_AFTER, "no answer while the body trickled in"
            sock.sendall(b" ")
        elapsed = time.monotonic() - started
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        return response.status, json.loads(response.read()), elapsed


def test_a_trickling_proxy_body_gets_408_and_a_log_record(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, body_timeout=BODY_TIMEOUT)
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        status, body, elapsed = trickle(gateway, "/v1/local/default/openai/chat/completions?key=secret", {})
    assert status == 408, body
    assert body["error"]["code"] == "request_timeout"
    assert body["error"]["message"] == "the request body did not arrive within 0.5 s"
    assert BODY_TIMEOUT <= elapsed < GIVE_UP_AFTER
    assert not fake.requests
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["error"]) == (408, body["error"]["message"])
    warnings = [r.getMessage() for r in caplog.records if "answered 408" in r.getMessage()]
    assert len(warnings) == 1
    assert "/v1/local/default/openai/chat/completions from 127.0.0.1" in warnings[0]
    assert "secret" not in warnings[0]  # the query string stays out of the log
    # A body sent at once is answered as before.
    message = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "in time"}]}
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=10)
    connection.request("POST", "/v1/local/default/openai/chat/completions", body=json.dumps(message).encode())
    assert connection.getresponse().status == 200
    connection.close()


def test_a_trickling_admin_body_gets_408(make_gateway: Callable[..., RunningGateway]) -> None:
    gateway = make_gateway(body_timeout=BODY_TIMEOUT)
    status, body, elapsed = trickle(
        gateway, "/api/v1/accounts/local/gateways", {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert (status, body["error"]["code"]) == (408, "request_timeout")
    assert elapsed < GIVE_UP_AFTER


@pytest.mark.parametrize("sent", ["part of the body", "the whole body"])
def test_a_client_that_resets_is_logged_as_gone_not_as_a_gateway_error(
    sent: str, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, body_timeout=5.0)
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    length = len(body) if sent == "the whole body" else 100_000
    with caplog.at_level(logging.ERROR, logger="sluicegate"):
        for _ in range(20):  # the reset may land before or after the handler starts: try both
            sock = socket.create_connection(("127.0.0.1", gateway.server.port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(
                b"POST /v1/local/default/openai/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (length, body)
            )
            sock.close()  # a reset
        records = gateway.wait_for_logs(20)
    assert {record["status"] for record in records} <= {200, 499}, records
    assert all(record["status"] == 200 or "client disconnected" in record["error"] for record in records), (
        records
    )
    assert not [r.getMessage() for r in caplog.records if "unhandled error" in r.getMessage()]

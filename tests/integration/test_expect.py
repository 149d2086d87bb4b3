"""`Expect: 100-continue` on the proxy's routes: the `100 Continue` is sent only once the pipeline
reads the body, so a request refused before (413 from its Content-Length, 401, 404) gets its final
answer instead and its client never sends the body (RFC 9110 §10.1.1)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.rawhttp import converse

MAX_BODY = 64 * 1024
CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"expect"}]}'
PROVIDER = b"/v1/local/default/openai/chat/completions"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(
        upstreams={"openai": fake.base_url},
        host_overrides={"api.openai.com": fake.url},
        max_body_bytes=MAX_BODY,
    )
    gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "Locked", "slug": "locked"})
    gateway.configure("locked", authentication=True)
    return gateway


def head(target: bytes, length: int, *extra: bytes) -> bytes:
    lines = [
        b"POST %s HTTP/1.1" % target,
        b"Host: 127.0.0.1",
        b"Authorization: Bearer sk-expect-0123456789",
        b"Content-Type: application/json",
        b"Content-Length: %d" % length,
        b"Expect: 100-continue",
        b"Connection: close",
        *extra,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    ("target", "length", "status"),
    [
        (PROVIDER, 50_000_000, 413),
        (b"/v1/local/default", MAX_BODY + 1, 413),
        (b"/v1/local/default/compat/chat/completions", MAX_BODY + 1, 413),
        (b"/api.openai.com/v1/chat/completions", MAX_BODY + 1, 413),
        (b"/v1/local/locked/openai/chat/completions", len(CHAT), 401),
        (b"/v1/local/nope/openai/chat/completions", len(CHAT), 404),
    ],
)
def test_a_request_refused_before_its_body_gets_no_100_continue(
    gateway: RunningGateway, fake: FakeOpenAI, target: bytes, length: int, status: int
) -> None:
    # The body is sent only after a 100 Continue; a final answer instead ends the conversation.
    transcript = converse(gateway.server.port, [head(target, length), CHAT])
    assert b"100 Continue" not in transcript.raw
    [response] = transcript.responses
    assert response.status == status, transcript.raw[:300]
    assert "error" in orjson.loads(response.body)
    assert fake.requests == []


def test_a_request_the_gateway_reads_gets_its_100_continue(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    transcript = converse(gateway.server.port, [head(PROVIDER, len(CHAT)), CHAT])
    assert [response.status for response in transcript.responses] == [100, 200]
    assert [request.json["messages"][0]["content"] for request in fake.requests] == ["expect"]
    [record] = gateway.wait_for_logs(1)
    assert record["status"] == 200


def test_the_413_is_logged(gateway: RunningGateway) -> None:
    converse(gateway.server.port, [head(PROVIDER, 50_000_000), CHAT])
    [record] = gateway.wait_for_logs(1)
    assert record["status"] == 413


def test_an_expectation_other_than_100_continue_is_a_417(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    data = head(PROVIDER, len(CHAT)).replace(b"100-continue", b"200-ok") + CHAT
    [response] = converse(gateway.server.port, [data]).responses
    assert response.status == 417
    assert fake.requests == []


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        (b"POST", b"/v1/local/locked/openai/chat/completions", b"401 Unauthorized"),  # in the pipeline
        (b"PUT", b"/v1/local/default", b"405 Method Not Allowed"),  # before it
        (b"POST", b"/nohost/v1/chat/completions", b"404 Not Found"),
    ],
)
def test_a_keep_alive_connection_answered_before_its_body_is_told_it_closes(
    gateway: RunningGateway, method: bytes, target: bytes, status: bytes
) -> None:
    """Whether the client sends the uninvited body or not, the server cannot tell where a next
    request would start: the answer says `Connection: close` (RFC 9110 §10.1.1: the server SHOULD
    say whether it closes), so the client does not send another on it."""
    keep_alive = (
        head(target, len(CHAT))
        .replace(b"Connection: close", b"Connection: keep-alive")
        .replace(b"POST ", method + b" ", 1)
    )
    with socket.create_connection(("127.0.0.1", gateway.server.port), timeout=5) as conn:
        conn.sendall(keep_alive)
        received = b""
        while b"\r\n\r\n" not in received:
            received += conn.recv(65536)
    status_line, _, headers = received.partition(b"\r\n\r\n")[0].partition(b"\r\n")
    assert status_line == b"HTTP/1.1 " + status
    assert b"connection: close" in headers.lower().split(b"\r\n")

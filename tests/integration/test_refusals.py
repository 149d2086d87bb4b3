"""Requests aiohttp's HTTP parser refuses before any route runs (endpoints/refusals.py): each gets the
gateway's JSON error with the status that fits, quoting none of what was sent, and the gateway's
log gets one line without values instead of a traceback that quoted the request line."""

from __future__ import annotations

import gzip
import logging
import random
import socket
from collections.abc import Callable

import httpx2 as httpx
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.rawhttp import first_response, parse_responses

PATH = b"/v1/local/default/openai/chat/completions"
CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
GEMINI_KEY = b"AIzaSyREFUSED-0123456789abcdefghijklm"
BEARER = b"eyJREFUSEDJWT" + b"A" * 9000


def request(*headers: bytes, target: bytes = PATH, body: bytes = CHAT) -> bytes:
    lines = [
        b"POST " + target + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Authorization: Bearer sk-refusals-0123456789",
        *headers,
        b"Content-Length: %d" % len(body),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


JSON = b"Content-Type: application/json"
ENCODING, HEADERS, URI, BAD = (
    "unsupported_content_encoding",
    "request_header_fields_too_large",
    "uri_too_long",
    "bad_request",
)
CASES = {
    "zstd body": (request(JSON, b"Content-Encoding: zstd", body=b"(\xb5/\xfd\x00"), 415, ENCODING),
    "br body": (request(JSON, b"Content-Encoding: br", body=b"\x1b\x00"), 415, ENCODING),
    "two Content-Type": (request(JSON, JSON), 400, BAD),
    "two Host": (request(JSON, b"Host: other.example"), 400, BAD),
    "Transfer-Encoding and Content-Length": (
        request(JSON, b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400, BAD,
    ),
    "a 16 KB cookie": (request(JSON, b"Cookie: a=" + b"x" * 16_000), 431, HEADERS),
    "a 9 KB Authorization": (request(JSON, b"Authorization: Bearer " + BEARER), 431, HEADERS),
    "200 header lines": (request(JSON, *(b"X-N%d: v" % i for i in range(200))), 431, HEADERS),
    "a 10 KB path": (request(JSON, target=PATH + b"/" + b"a" * 10_000), 414, URI),
    "raw UTF-8 in the query": (
        request(JSON, target=PATH + b"?key=" + GEMINI_KEY + b"&q=caf\xc3\xa9"), 400, BAD,
    ),
    "a space in the target": (request(JSON, target=PATH + b"?key=" + GEMINI_KEY + b"&q=a b"), 400, BAD),
}  # fmt: skip


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.mark.parametrize("case", list(CASES))
def test_a_request_the_parser_refuses_gets_a_json_error_that_quotes_nothing(
    case: str, gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    data, status, code = CASES[case]
    with caplog.at_level(logging.INFO):
        response = first_response(gateway.server.port, data)
    assert response is not None
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json", response
    error = orjson.loads(response.body)["error"]
    assert (error["type"], error["code"]) == ("sluicegate_error", code)
    for secret in (GEMINI_KEY, BEARER[:40], b"x" * 100, b"caf", b"sk-refusals"):
        assert secret not in response.body
        assert secret.decode() not in caplog.text
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    [line] = [record for record in caplog.records if record.name == "sluicegate.endpoints.refusals"]
    assert line.levelno == logging.INFO
    assert f" {status} " in line.getMessage()


def test_an_encoding_it_cannot_decode_is_a_415_naming_those_it_can(gateway: RunningGateway) -> None:
    response = first_response(gateway.server.port, CASES["zstd body"][0])
    assert response is not None
    assert response.status == 415
    assert response.headers["accept-encoding"] == "gzip, deflate"  # RFC 9110 §15.5.16
    error = orjson.loads(response.body)["error"]
    assert (error["header"], error["accepted"]) == ("content-encoding", ["gzip", "deflate"])
    # and one it can decode is read as before
    gzipped = request(JSON, b"Content-Encoding: gzip", b"Connection: close", body=gzip.compress(CHAT))
    response = first_response(gateway.server.port, gzipped)
    assert response is not None
    assert response.status == 200


def test_the_messages_say_what_to_fix(gateway: RunningGateway) -> None:
    def message(case: str) -> str:
        response = first_response(gateway.server.port, CASES[case][0])
        assert response is not None
        text: str = orjson.loads(response.body)["error"]["message"]
        return text

    assert "more than one content-type header" in message("two Content-Type")
    assert "more than one host header" in message("two Host")
    assert "both Content-Length and Transfer-Encoding" in message("Transfer-Encoding and Content-Length")
    assert "longer than 8190 bytes" in message("a 9 KB Authorization")
    assert "more than 128 header lines" in message("200 header lines")
    assert "longer than 8192 bytes" in message("a 10 KB path")
    assert "percent-encoded" in message("raw UTF-8 in the query")


def test_the_limits_are_the_documented_ones(gateway: RunningGateway) -> None:
    port = gateway.server.port
    header = b"X-Long: " + b"a" * 8190  # aiohttp's C parser counts the value (the Python one, the line)
    for data, status in [
        (request(JSON, header, b"Connection: close"), 200),
        (request(JSON, header + b"a", b"Connection: close"), 431),
        (request(JSON, b"Connection: close", target=PATH + b"?q=" + b"a" * (8192 - len(PATH) - 3)), 200),
        (request(JSON, b"Connection: close", target=PATH + b"?q=" + b"a" * (8193 - len(PATH) - 3)), 414),
    ]:
        response = first_response(port, data)
        assert response is not None
        assert response.status == status


JUNK = random.Random(7).randbytes(3000)  # no deflate stream: its decoding fails partway


def without_token(data: bytes) -> bytes:
    return data.replace(b"Authorization: Bearer sk-refusals-0123456789\r\n", b"")


def answered_then_closed(port: int, *parts: bytes) -> int:
    """The status of the answer to `parts[0]` (the rest sent once it is in), read until the gateway
    closes the connection: by then it has done with the request, its log lines included."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(parts[0])
        received = b""
        while not parse_responses(received, complete_only=True):
            received += sock.recv(65536)
        for part in parts[1:]:
            sock.sendall(part)
        while chunk := sock.recv(65536):
            received += chunk
    return parse_responses(received)[0].status


@pytest.mark.parametrize("target", [b"/api/v1/accounts/local/tokens", PATH])
def test_a_body_not_in_its_content_encoding_logs_no_traceback(
    target: bytes, gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A body that is not in the Content-Encoding it names is refused (a 400 where its handler
    reads it, or the route's 401 first), and what is left of it was drained after the answer: its
    decoding error was logged as aiohttp's "Unhandled exception" traceback, before any token was
    checked, for anyone who cares to send one."""
    refused = without_token(request(b"Content-Encoding: deflate", target=target, body=JUNK))
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert 400 <= answered_then_closed(gateway.server.port, refused) < 500
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200  # and the gateway goes on answering


def test_a_body_that_fails_to_decode_after_its_answer_logs_no_traceback(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """The body's bytes come once the request is answered (refused before its body is read): they
    fail to decode in aiohttp's drain of the body, and the connection closes, unlogged."""
    data = without_token(
        request(b"Content-Encoding: deflate", target=b"/api/v1/accounts/local/tokens", body=JUNK)
    )
    head = data[: data.index(b"\r\n\r\n") + 4]
    with caplog.at_level(logging.DEBUG):
        assert answered_then_closed(gateway.server.port, head, JUNK) == 401
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]

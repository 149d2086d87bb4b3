"""The first-byte client (bench/first_byte.py) against a real local server."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from bench.first_byte import FirstByteClient, FirstByteError, Prepared, build_request

from tests.fakes.server_thread import ServerThread

FIRST_EVENT = b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
LATER_EVENTS = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
PLAIN = b'{"choices":[{"message":{"content":"hi"}}]}'
#: How long the server holds the stream back after its first event: what a first-byte measurement
#: must not wait for.
GAP_S = 0.3


def _app(peers: list[object]) -> web.Application:
    async def stream(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(FIRST_EVENT)
        await asyncio.sleep(GAP_S)  # the gap being measured, not a synchronisation
        await response.write(LATER_EVENTS)
        await response.write_eof()
        return response

    async def plain(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        await request.read()
        return web.Response(body=PLAIN, content_type="application/json")

    async def failing(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=503, body=b'{"error":"overloaded"}', content_type="application/json")

    async def closing(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=PLAIN, headers={"Connection": "close"}, content_type="application/json")

    app = web.Application()
    app.router.add_post("/stream", stream)
    app.router.add_post("/plain", plain)
    app.router.add_post("/failing", failing)
    app.router.add_post("/closing", closing)
    return app


@pytest.fixture
def server() -> Iterator[tuple[ServerThread, list[object]]]:
    peers: list[object] = []
    with ServerThread(_app(peers)) as running:
        yield running, peers


def _request(server: ServerThread, path: str) -> Prepared:
    return build_request(f"{server.url}{path}", b'{"stream":true}', {"Content-Type": "application/json"})


def test_the_first_event_is_timed_before_the_stream_ends(server: tuple[ServerThread, list[object]]) -> None:
    running, peers = server
    with FirstByteClient("127.0.0.1", running.port) as client:
        answer = client.ask(_request(running, "/stream"), sse=True)
        plain = client.ask(_request(running, "/plain"), sse=False)
        again = client.ask(_request(running, "/stream"), sse=True)
    assert answer.status == 200
    assert answer.body == FIRST_EVENT + LATER_EVENTS  # read to its end, de-chunked
    assert answer.whole_s >= GAP_S
    # Had the client waited for the whole answer, the first byte would be as late as the end.
    assert answer.first_byte_s < GAP_S / 3
    assert again.first_byte_s < GAP_S / 3 <= GAP_S <= again.whole_s
    # A plain answer's time is its whole answer (Content-Length), on the same connection.
    assert plain.body == PLAIN
    assert plain.first_byte_s <= plain.whole_s < GAP_S
    assert len(peers) == 3
    assert len(set(peers)) == 1  # one keep-alive connection


def test_a_non_2xx_answer_fails_loudly(server: tuple[ServerThread, list[object]]) -> None:
    running, _ = server
    with (
        FirstByteClient("127.0.0.1", running.port) as client,
        pytest.raises(FirstByteError, match=r"HTTP 503.*overloaded"),
    ):
        client.ask(_request(running, "/failing"), sse=False)


def test_an_answer_that_closes_the_connection_fails_loudly(server: tuple[ServerThread, list[object]]) -> None:
    running, _ = server
    with (
        FirstByteClient("127.0.0.1", running.port) as client,
        pytest.raises(FirstByteError, match="not keep-alive"),
    ):
        client.ask(_request(running, "/closing"), sse=False)


def test_a_stream_without_an_event_fails_loudly(server: tuple[ServerThread, list[object]]) -> None:
    running, _ = server
    with (
        FirstByteClient("127.0.0.1", running.port) as client,
        pytest.raises(FirstByteError, match="no data:"),
    ):
        client.ask(_request(running, "/plain"), sse=True)


def test_the_request_is_one_keep_alive_post() -> None:
    request = build_request("http://127.0.0.1:8001/v1/chat/completions?x=1", b"{}", {"Authorization": "k"})
    assert request.wire == (
        b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nContent-Length: 2\r\n"
        b"Authorization: k\r\n\r\n{}"
    )


def test_a_malformed_answer_fails_loudly() -> None:
    """Raw bytes from a socket server: a chunk size that is not hex."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n")
            connection.recv(1)  # until the client hangs up

    serving = threading.Thread(target=answer)
    serving.start()
    try:
        with FirstByteClient("127.0.0.1", port) as client, pytest.raises(FirstByteError, match="malformed"):
            client.ask(build_request(f"http://127.0.0.1:{port}/", b"{}", {}), sse=True)
    finally:
        serving.join(5)
        listener.close()

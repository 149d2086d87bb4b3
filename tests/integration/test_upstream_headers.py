"""What the gateway sends upstream of a client's request headers, and relays of an upstream's
answer headers, over real sockets: the gateway on loopback, fakes or tiny upstreams written here.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import threading
import zlib
from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest
from aiohttp import web
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread

KEY = "sk-proj-headers-0123456789abcdef"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "compressed hello"}]}
ANSWER = json.dumps(
    {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "raw"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY).serve() as server:
        yield server


class RawUpstream:
    """An upstream spoken by hand, for what an aiohttp server would do for us: it reads one request
    per connection, its head and then a body of its Content-Length (sending no `100 Continue`, as
    an upstream need not: RFC 9110 §10.1.1), records both, and answers `head` with a chat
    completion."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.received: list[tuple[bytes, bytes]] = []  # each request's head and body
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                received = b""
                while b"\r\n\r\n" not in received:
                    if not (chunk := connection.recv(65536)):
                        return
                    received += chunk
                head, _, body = received.partition(b"\r\n\r\n")
                declared = re.search(rb"(?im)^content-length:[ \t]*(\d+)", head)
                while len(body) < (int(declared[1]) if declared else 0):
                    if not (chunk := connection.recv(65536)):
                        return
                    body += chunk
                self.received.append((head, body))
                connection.sendall(
                    self.head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(ANSWER) + ANSWER
                )
            except TimeoutError:
                return


@pytest.fixture
def raw_upstream() -> Iterator[Callable[[bytes], RawUpstream]]:
    started: list[RawUpstream] = []

    def start(head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n") -> RawUpstream:
        started.append(RawUpstream(head))
        return started[-1]

    yield start
    for upstream in started:
        upstream.close()


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.mark.parametrize(
    ("path", "model"),
    [("openai/chat/completions", "gpt-4o-mini"), ("compat/chat/completions", "openai/gpt-4o-mini")],
    ids=["provider", "compat"],
)
@pytest.mark.parametrize(
    ("coding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)], ids=["gzip", "deflate"]
)
def test_a_compressed_request_body_goes_upstream_decoded_without_its_content_encoding(
    gateway: RunningGateway,
    fake: FakeOpenAI,
    path: str,
    model: str,
    coding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    body = json.dumps({**CHAT, "model": model}).encode()
    response = httpx.post(
        f"{gateway.url}/v1/local/default/{path}",
        content=compress(body),
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "Content-Encoding": coding,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: compressed hello"
    [received] = fake.requests
    assert received.header("Content-Encoding") is None
    assert received.json["messages"] == CHAT["messages"]
    assert received.header("Content-Length") == str(len(received.body))


def test_the_clients_expect_100_continue_is_not_sent_upstream(
    make_gateway: Callable[..., RunningGateway], raw_upstream: Callable[..., RawUpstream]
) -> None:
    """The gateway answers the client's `Expect` itself; sent on, it would make aiohttp's client
    wait for an upstream's 100 that need never come, until the deadline (curl sends the header for
    every body over 1 MB: an audio upload)."""
    upstream = raw_upstream()
    gateway = make_gateway(upstreams={"groq": upstream.url + "/openai/v1"}, upstream_timeout=3)
    body = json.dumps(CHAT).encode()
    response = httpx.post(
        f"{gateway.url}/v1/local/default/groq/chat/completions",
        content=body,
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "Expect": "100-continue",
        },
    )
    assert response.status_code == 200, response.text
    [(head, received)] = upstream.received
    assert b"expect:" not in head.lower()
    assert received == body


def test_headers_named_in_connection_stay_on_their_hop_both_ways(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    raw_upstream: Callable[..., RawUpstream],
) -> None:
    """RFC 9110 §7.6.1: a proxy must remove the headers its `Connection` names, each way."""
    upstream = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive, X-Up-Hop\r\n"
        b"X-Up-Hop: upstream-private\r\nX-Up-Kept: for-the-client\r\n"
    )
    gateway = make_gateway(upstreams={"openai": fake.base_url, "groq": upstream.url + "/openai/v1"})
    headers = {"Authorization": f"Bearer {KEY}", "X-Client-Hop": "client-private", "X-Client-Kept": "on"}
    headers["Connection"] = "keep-alive, X-Client-Hop"
    response = httpx.post(f"{gateway.provider_url('openai')}/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 200, response.text
    [received] = fake.requests
    assert received.header("X-Client-Hop") is None
    assert received.header("X-Client-Kept") == "on"

    response = httpx.post(f"{gateway.provider_url('groq')}/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 200, response.text
    assert "x-up-hop" not in response.headers
    assert response.headers["x-up-kept"] == "for-the-client"


def send_with_http_client(gateway: RunningGateway, headers: dict[str, str | bytes]) -> tuple[int, bytes]:
    """A chat request through Python's http.client, which sends a str header value as Latin-1."""
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/local/default/openai/chat/completions",
            body=json.dumps(CHAT),
            headers={"Content-Type": "application/json", **headers},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_credential_that_is_not_utf8_is_refused_naming_the_header(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """aiohttp's client writes header text as UTF-8 and silently left out the byte E9 it cannot
    write: the upstream got another credential than the one the client sent and the cache key
    hashed."""
    status, body = send_with_http_client(gateway, {"Authorization": f"Bearer {KEY[:10]}\u00e9{KEY[10:]}"})
    assert status == 400, body
    error = json.loads(body)["error"]
    assert error["header"] == "Authorization"
    assert "the value of the Authorization header holds bytes that are not UTF-8" in error["message"]
    assert KEY[10:] not in error["message"]
    assert fake.requests == []


def test_another_header_that_is_not_utf8_goes_on_with_replacement_characters(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """`X-Title: Café App` (OpenRouter's attribution header) as Python's requests and a browser's
    fetch send it, in Latin-1: it went upstream as `Caf App`; now as `Caf\ufffd App`, what was lost
    shown. The same text in UTF-8 goes upstream as sent."""
    status, body = send_with_http_client(
        gateway, {"Authorization": f"Bearer {KEY}", "X-Title": "Caf\u00e9 App"}
    )
    assert status == 200, body
    assert fake.requests[-1].header("X-Title") == "Caf\ufffd App"
    status, body = send_with_http_client(
        gateway, {"Authorization": f"Bearer {KEY}", "X-Title": "Café App".encode()}
    )
    assert status == 200, body
    assert fake.requests[-1].header("X-Title") == "Café App"


def test_answer_header_bytes_that_are_not_utf8_reach_the_client_as_replacement_characters(
    make_gateway: Callable[..., RunningGateway], raw_upstream: Callable[..., RawUpstream]
) -> None:
    """aiohttp's server cannot write the byte back either: it left it out (`caf`), a value that
    looks whole. U+FFFD shows what was lost, as the log record does."""
    upstream = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Obs: caf\xe9\r\nX-Utf8: caf\xc3\xa9\r\n"
    )
    gateway = make_gateway(upstreams={"groq": upstream.url + "/openai/v1"})
    response = httpx.post(
        f"{gateway.provider_url('groq')}/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200, response.text
    raw = {name.lower(): value for name, value in response.headers.raw}
    assert raw[b"x-obs"] == "caf\ufffd".encode()
    assert raw[b"x-utf8"] == "café".encode()


def test_a_redirected_websocket_handshake_is_refused_and_the_key_stays_with_its_provider(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    """aiohttp's `ws_connect` follows redirects, and across origins drops only `Authorization`:
    Azure's `api-key` went wherever the provider's `Location` pointed. A redirect is now a refused
    upgrade, like any status but 101."""
    arrived: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        arrived.append(dict(request.headers))
        return web.Response(status=404)

    elsewhere_app = web.Application()
    elsewhere_app.router.add_get("/{tail:.*}", record)
    elsewhere = ServerThread(elsewhere_app).start()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{elsewhere.url}{request.path_qs}")

    provider_app = web.Application()
    provider_app.router.add_get("/{tail:.*}", redirect)
    provider = ServerThread(provider_app).start()
    try:
        gateway = make_gateway(upstreams={"azure-openai": provider.url})
        url = gateway.url.replace("http://", "ws://") + (
            "/v1/local/default/azure-openai/my-resource/openai/realtime"
            "?api-version=2025-04-01-preview&deployment=my-realtime"
        )
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={"api-key": "azure-key-0123456789abcdef"}, open_timeout=10)
        assert refused.value.response.status_code == 502
        assert json.loads(refused.value.response.body or b"{}")["error"]["message"]
        assert arrived == []
    finally:
        provider.stop()
        elsewhere.stop()

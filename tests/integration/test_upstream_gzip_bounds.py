"""What a compressed upstream answer decodes to is bounded: an answer read whole past what the
gateway holds whole is a 502 upstream_broken, a compressed stream is decoded as the client takes
it (memory bounded, backpressure kept), and a gzip body of many members is refused in linear time.
A real aiohttp upstream on loopback sends the bombs; the official OpenAI SDK is the client."""

from __future__ import annotations

import contextlib
import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.server_thread import ServerThread

MIB = 1 << 20
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "go"}]


def _gzip(*parts: bytes, repeat: int = 1) -> bytes:
    """`parts`, the middle one repeated, as one gzip member (built without holding it decoded)."""
    head, middle, tail = parts
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [compressor.compress(head)] + [compressor.compress(middle) for _ in range(repeat)]
    return b"".join([*out, compressor.compress(tail), compressor.flush()])


# A chat answer of 64 MiB in about 64 KB.
WHOLE_BOMB = _gzip(
    b'{"id":"x","object":"chat.completion","choices":[{"message":{"content":"',
    b"A" * MIB,
    b'"}}]}',
    repeat=64,
)
EVENT_CHARS = 16000
EVENT = (
    b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"' + b"A" * EVENT_CHARS + b'"}}]}\n\n'
)
STREAM_EVENTS = 3 * 1024  # 48 MiB of events, in about 48 KB: few large events, so the test is quick
STREAM_BOMB = _gzip(b"", EVENT, b"data: [DONE]\n\n", repeat=STREAM_EVENTS)
MEMBERS = gzip.compress(b"", mtime=0) * (MIB // 20)  # 1 MiB of empty members: 52428 of them


def bomb_app() -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        asked = await request.json()
        if asked.get("stream"):
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
            )
            await response.prepare(request)
            await response.write(STREAM_BOMB)
            await response.write_eof()
            return response
        body = MEMBERS if request.headers.get("x-members") else WHOLE_BOMB
        return web.Response(
            body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    return app


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ServerThread(bomb_app()).start()
    yield server.url + "/v1"
    server.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], upstream: str) -> RunningGateway:
    # A small log tee: what the gateway holds of a stream is then what decoding holds.
    return make_gateway(upstreams={"openai": upstream}, limits={"log_tee_bytes": 64 * 1024})


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)


@contextlib.contextmanager
def traced() -> Iterator[list[int]]:
    """The most memory Python held (all threads: the gateway's too) while inside, in MiB, once out
    (traced only while inside: the gateway's log writer crawls under tracemalloc)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1] // MIB)
        tracemalloc.stop()


def test_a_whole_answer_that_decodes_past_the_whole_limit_is_a_502(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    assert len(WHOLE_BOMB) < MIB  # read whole by its Content-Length
    with traced() as peak, pytest.raises(openai.APIStatusError) as broken:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert broken.value.status_code == 502
    assert broken.value.body["code"] == "upstream_broken"  # type: ignore[index]
    assert "larger than 10485760 bytes decoded" in broken.value.body["message"]  # type: ignore[index]
    print(peak)
    assert peak[0] < 24, f"{peak[0]} MiB"  # the old code held 64 MiB twice
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], "larger than" in record["error"]) == (502, True)


def test_a_compressed_stream_is_decoded_as_the_client_takes_it(
    client: openai.OpenAI,
) -> None:
    with traced() as peak:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        received = sum(len(chunk.choices[0].delta.content or "") for chunk in stream if chunk.choices)
    assert received == STREAM_EVENTS * EVENT_CHARS
    print(peak)
    assert peak[0] < 24, f"{peak[0]} MiB"  # the old code decoded 48 MiB at once


def test_a_gzip_body_of_too_many_members_is_refused_at_once(client: openai.OpenAI) -> None:
    start = time.monotonic()
    with pytest.raises(openai.APIStatusError) as broken:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_headers={"x-members": "1"},
        )
    assert broken.value.status_code == 502
    assert "more than 1024 members" in broken.value.body["message"]  # type: ignore[index]
    assert time.monotonic() - start < 2  # the old code copied the rest of the body per member

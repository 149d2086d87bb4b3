"""What the gateway sends upstream of a client's request headers, and relays of an upstream's
answer headers, over real sockets: the gateway on loopback, fakes or tiny upstreams written here.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-proj-headers-0123456789abcdef"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "compressed hello"}]}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY).serve() as server:
        yield server


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

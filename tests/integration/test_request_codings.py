"""A request body in a `Content-Encoding` the gateway does not decode is a 415 naming those it does
(docs/api.md), logged as the other 4xxs are, and never sent upstream: aiohttp's parser undoes gzip
or deflate alone and passes any other coding (`rot13`, `x-gzip`, two codings) through untouched,
which was answered 200 with the body forwarded unread. `identity` is no coding."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import httpx2 as httpx
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.rawhttp import converse

KEY = {"Authorization": "Bearer sk-codings-0123456789", "Content-Type": "application/json"}
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "codings"}]})


@pytest.fixture
def gw(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url, "anthropic": claude.base_url})


@pytest.mark.parametrize("coding", ["rot13", "x-gzip", "gzip, br", "identity, gzip", "compress"])
def test_a_coding_the_gateway_does_not_decode_is_a_logged_415(
    gw: RunningGateway, fake: FakeOpenAI, coding: str
) -> None:
    url = gw.provider_url("openai") + "/chat/completions"
    response = httpx.post(url, headers=KEY | {"Content-Encoding": coding}, content=CHAT)

    assert response.status_code == 415, response.text
    assert response.headers["accept-encoding"] == "gzip, deflate"
    error = response.json()["error"]
    assert (error["code"], error["header"], error["accepted"]) == (
        "unsupported_content_encoding",
        "content-encoding",
        ["gzip", "deflate"],
    )
    assert f"Content-Encoding {coding!r}: it decodes gzip or deflate" in error["message"]
    assert fake.requests == []
    [record] = gw.wait_for_logs(1)
    assert (record["status"], record["provider"]) == (415, "openai")
    assert "cannot decode a request body in Content-Encoding" in record["error"]


def test_the_refusal_takes_the_shape_of_the_providers_errors(
    gw: RunningGateway, claude: FakeAnthropic
) -> None:
    url = gw.provider_url("anthropic") + "/v1/messages"
    response = httpx.post(url, headers=KEY | {"Content-Encoding": "rot13"}, content=CHAT)

    assert response.status_code == 415
    body = response.json()
    assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error")
    assert body["error"]["code"] == "unsupported_content_encoding"
    assert claude.requests == []


def test_only_identity_and_the_codings_it_decodes_are_served(gw: RunningGateway, fake: FakeOpenAI) -> None:
    url = gw.provider_url("openai") + "/chat/completions"
    sent = [("identity", CHAT), ("GZIP", gzip.compress(CHAT)), ("rot13", CHAT)]

    statuses = [
        httpx.post(url, headers=KEY | {"Content-Encoding": coding}, content=body).status_code
        for coding, body in sent
    ]

    assert statuses == [200, 200, 415]
    assert [request.json["messages"][0]["content"] for request in fake.requests] == ["codings", "codings"]


def test_a_client_that_waits_for_100_continue_is_refused_before_sending_its_body(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    head = (
        b"POST /v1/local/default/openai/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer sk-codings-0123456789\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: rot13\r\nContent-Length: %d\r\nExpect: 100-continue\r\n"
        b"Connection: close\r\n\r\n" % len(CHAT)
    )

    transcript = converse(gw.server.port, [head, CHAT])

    assert b"100 Continue" not in transcript.raw
    [response] = transcript.responses
    assert response.status == 415
    assert fake.requests == []

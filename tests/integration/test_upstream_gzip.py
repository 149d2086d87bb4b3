"""An answer whose gzip data is cut short, its HTTP framing complete (a Content-Length of the cut
bytes, as a proxy that gave up midway sends it), is a broken answer: 502 upstream_broken before
the answer started, logged with the error, retried or fallen back, never cached. Whole gzip
answers and gzip streams still read as before. The official OpenAI SDK is the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "hello there, how are you today"}]
CUT = "ended before its compressed data did"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)


def ask(client: openai.OpenAI, behavior: str, **headers: str) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={"x-fake-behavior": behavior, "cf-aig-cache-ttl": "600", **headers},
    )


@pytest.mark.parametrize("behavior", ["gzip-cut", "gzip-cut,chunked"])
def test_a_gzip_answer_cut_short_is_a_502_logged_and_never_cached(
    client: openai.OpenAI, gateway: RunningGateway, fake: FakeOpenAI, behavior: str
) -> None:
    for _ in range(2):  # the second is not answered from the cache
        with pytest.raises(openai.APIStatusError) as broken:
            ask(client, behavior)
        assert broken.value.status_code == 502
        assert broken.value.body["code"] == "upstream_broken"  # type: ignore[index]
    assert len(fake.requests) == 2
    records = gateway.wait_for_logs(2)
    assert [record["status"] for record in records] == [502, 502]
    assert all(CUT in record["error"] for record in records)


def test_a_gzip_answer_cut_short_is_retried(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.APIStatusError):
        ask(client, "gzip-cut", **{"cf-aig-max-attempts": "2", "cf-aig-retry-delay": "0"})
    assert len(fake.requests) == 2


def test_the_universal_endpoint_falls_back_past_a_gzip_answer_cut_short(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    def step(behavior: str) -> dict[str, Any]:
        return {
            "provider": "openai",
            "endpoint": "chat/completions",
            "headers": {"Authorization": "Bearer sk-test", "x-fake-behavior": behavior},
            "query": {"model": "gpt-4o-mini", "messages": MESSAGES},
        }

    response = gateway.http.post("/v1/local/default", json=[step("gzip-cut"), step("gzip")])
    assert (response.status_code, response.headers["cf-aig-step"]) == (200, "1")
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello there, how are you today"


@pytest.mark.parametrize("behavior", ["gzip", "gzip,chunked"])
def test_a_whole_gzip_answer_reads_and_is_cached(
    client: openai.OpenAI, fake: FakeOpenAI, behavior: str
) -> None:
    for _ in range(2):
        assert ask(client, behavior).choices[0].message.content == "echo: hello there, how are you today"
    assert len(fake.requests) == 1  # the second came from the cache


def stream_text(client: openai.OpenAI, behavior: str) -> str:
    chunks = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-fake-behavior": behavior, "cf-aig-cache-ttl": "600"},
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def test_a_gzip_stream_reads_as_it_comes(client: openai.OpenAI, gateway: RunningGateway) -> None:
    assert stream_text(client, "gzip") == "echo: hello there, how are you today"
    assert gateway.wait_for_logs(1)[0]["error"] is None


def test_a_gzip_stream_cut_short_is_broken_off_logged_and_never_cached(
    client: openai.OpenAI, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    for _ in range(2):
        with pytest.raises(openai.APIError):
            stream_text(client, "gzip-cut")
    assert len(fake.requests) == 2
    assert all(CUT in record["error"] for record in gateway.wait_for_logs(2))

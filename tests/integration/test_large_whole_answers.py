"""Answers asked for whole that are over a megabyte: the openai SDK's default embeddings call (base64)
of 200 inputs is a 1.6 MB JSON answer, sent with its Content-Length or chunked and gzipped. One
whole answer: read whole up to limits.cache_entry_bytes when a cache would store it (so cached and
metered exactly), else up to 1 MiB; past that relayed, yet still logged and metered as one answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

INPUTS = [f"document {n}" for n in range(200)]  # 2 words each: 400 prompt tokens at the fake


@pytest.fixture
def client() -> Iterator[Callable[[str], openai.OpenAI]]:
    clients: list[openai.OpenAI] = []

    def make(base_url: str) -> openai.OpenAI:
        clients.append(openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30))
        return clients[-1]

    yield make
    for made in clients:
        made.close()


def embed(client: openai.OpenAI, **headers: str) -> Any:
    return client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=INPUTS, extra_headers=headers
    )


@pytest.mark.parametrize("behavior", ["text-embedding-3-small", "chunked,gzip"])
def test_embeddings_over_a_megabyte_are_one_answer_metered_and_cached(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    client: Callable[[str], openai.OpenAI],
    behavior: str,
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    proxied = client(gateway.provider_url("openai"))
    headers = {"cf-aig-cache-ttl": "600", "x-fake-behavior": behavior}
    first, second = embed(proxied, **headers), embed(proxied, **headers)
    assert len(first.content) > 1024 * 1024
    assert [first.headers["cf-aig-cache-status"], second.headers["cf-aig-cache-status"]] == ["MISS", "HIT"]
    assert len(fake.requests) == 1
    assert second.parse().data[199].embedding == first.parse().data[199].embedding
    record = gateway.wait_for_logs(2)[-1]  # the first, oldest
    assert record["cache_status"] == "MISS"
    assert record["stream"] is False
    assert (record["tokens_in"], record["usage_estimated"]) == (first.parse().usage.prompt_tokens, False)
    assert record["tokens_in"] == 400


def test_a_chat_answer_over_a_megabyte_keeps_its_output_tokens(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, client: Callable[[str], openai.OpenAI]
) -> None:
    fake.answer = lambda text: " ".join(["long" * 5000] * 64)  # 64 words (tokens), 1.28 MB
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    answer = client(gateway.provider_url("openai")).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "write a lot"}]
    )
    assert len(answer.choices[0].message.content or "") > 1024 * 1024
    assert answer.usage is not None
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is False
    assert (record["tokens_out"], record["usage_estimated"]) == (answer.usage.completion_tokens, False)


def test_past_the_bound_a_whole_answer_is_relayed_and_metered_from_its_end(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, client: Callable[[str], openai.OpenAI]
) -> None:
    bound = 256 * 1024
    gateway = make_gateway(
        upstreams={"openai": fake.base_url}, limits={"cache_entry_bytes": bound, "log_tee_bytes": bound}
    )
    proxied = client(gateway.provider_url("openai"))
    first, second = (
        embed(proxied, **{"cf-aig-cache-ttl": "600"}),
        embed(proxied, **{"cf-aig-cache-ttl": "600"}),
    )
    assert len(first.parse().data) == len(INPUTS)
    assert len(fake.requests) == 2  # larger than the cache stores
    assert second.headers["cf-aig-cache-status"] == "MISS"
    for record in gateway.wait_for_logs(2):
        assert record["stream"] is False
        # The usage closes the answer: read from the end the log kept, not estimated.
        assert (record["tokens_in"], record["usage_estimated"]) == (400, False)


def test_an_answer_no_cache_stores_is_relayed_past_a_megabyte_not_held_whole(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, client: Callable[[str], openai.OpenAI]
) -> None:
    # With no cache on for the request, nothing needs the answer whole past the first MiB: the log
    # keeps its end and the meter reads the usage there. Held whole, each such answer took up to
    # 10 MiB (limits.cache_entry_bytes) of the gateway's memory, twice over while it was joined.
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    proxied = client(gateway.provider_url("openai")).with_options(timeout=5)
    paused = {"x-fake-behavior": "chunked,pause-stream"}  # all but its last KiB, then held
    try:
        with proxied.embeddings.with_streaming_response.create(
            model="text-embedding-3-small", input=INPUTS, extra_headers=paused
        ) as answer:
            parts = answer.iter_bytes()
            first = next(parts)  # while the upstream holds its last KiB (held whole: a read timeout)
            fake.release()
            body = first + b"".join(parts)
    finally:
        fake.release()

    assert len(body) > 1024 * 1024
    assert len(json.loads(body)["data"]) == len(INPUTS)
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is False
    assert (record["tokens_in"], record["usage_estimated"]) == (400, False)

"""Azure OpenAI answers in the caches, against the fake Azure resource on loopback, with the official
`openai` SDK pointed at the gateway as Cloudflare's docs configure it (`…/azure-openai/{resource}/
{deployment}`, `api-version` as a default query, the key in `api-key`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.azure_server import DEPLOYMENTS, PROMPT_FILTER_CHUNK, FakeAzureOpenAI
from tests.integration.test_semantic import stored

API_VERSION = "2024-10-21"
AZURE_KEY = "azure-key-0123456789abcdef"
RESOURCE = "my-resource"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]


@pytest.fixture
def fake() -> Iterator[FakeAzureOpenAI]:
    deployments = {**DEPLOYMENTS, "instruct": "gpt-35-turbo-instruct"}  # a model no price covers
    with FakeAzureOpenAI(deployments=deployments, api_key=AZURE_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAzureOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"azure-openai": fake.base_url})


@pytest.fixture
def azure(gateway: RunningGateway) -> Iterator[Callable[..., openai.OpenAI]]:
    """`OpenAI` clients of a deployment through the gateway; closed after the test."""
    with contextlib.ExitStack() as opened:

        def make(deployment: str, api_version: str = API_VERSION) -> openai.OpenAI:
            client = openai.OpenAI(
                base_url=f"{gateway.provider_url('azure-openai')}/{RESOURCE}/{deployment}",
                api_key=AZURE_KEY,
                default_query={"api-version": api_version},
                default_headers={"api-key": AZURE_KEY},
                max_retries=0,
            )
            return opened.enter_context(client)

        yield make


def test_a_stream_stored_under_a_name_is_served_to_a_whole_request(
    gateway: RunningGateway, fake: FakeAzureOpenAI, azure: Callable[..., openai.OpenAI]
) -> None:
    # Azure's stream opens with the prompt filter's chunk, whose `object`, `id` and `model` are "":
    # the stream is still a chat stream, and the whole answer takes its head from the chunks after.
    client, named = azure("prod-chat"), {"cf-aig-cache-key": "azure-named"}
    chunks = list(
        client.chat.completions.create(model="prod-chat", messages=MESSAGES, stream=True, extra_headers=named)
    )
    assert chunks[0].model_extra is not None
    assert chunks[0].model_extra["prompt_filter_results"] == PROMPT_FILTER_CHUNK["prompt_filter_results"]
    written = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    raw = client.chat.completions.with_raw_response.create(
        model="prod-chat", messages=MESSAGES, extra_headers=named
    )
    assert raw.headers["cf-aig-cache-status"] == "HIT"
    whole = raw.parse()
    assert (whole.object, whole.id, whole.model) == ("chat.completion", chunks[1].id, "gpt-4o-2024-08-06")
    assert whole.created == chunks[1].created > 0
    assert whole.choices[0].message.content == written
    assert whole.choices[0].finish_reason == "stop"
    assert whole.model_extra is not None
    assert whole.model_extra["prompt_filter_results"] == PROMPT_FILTER_CHUNK["prompt_filter_results"]
    assert len(fake.requests) == 1


def test_a_hit_of_an_answer_nothing_prices_is_flagged_unpriced_as_its_miss_was(
    gateway: RunningGateway, fake: FakeAzureOpenAI, azure: Callable[..., openai.OpenAI]
) -> None:
    # The deployment `instruct` runs gpt-35-turbo-instruct, which the price table lacks: what its
    # hit saved is unknown, not nothing, and the hit cost nothing.
    gateway.configure(cache_enabled=True)
    for deployment in ("instruct", "prod-chat"):
        for _ in range(2):
            azure(deployment).completions.create(model=deployment, prompt="Once upon a time", max_tokens=5)
    records = sorted(gateway.wait_for_logs(4), key=lambda record: record["id"])
    assert len(fake.requests) == 2
    assert [(r["model"], r["cache_status"]) for r in records] == [
        ("instruct", "MISS"),
        ("instruct", "HIT"),
        ("prod-chat", "MISS"),
        ("prod-chat", "HIT"),
    ]
    unpriced_miss, unpriced_hit, priced_miss, priced_hit = records
    assert (unpriced_miss["unpriced"], unpriced_miss["cost_usd"]) == (True, None)
    assert unpriced_hit["unpriced"] is True
    assert (unpriced_hit["cost_usd"], unpriced_hit["saved_usd"]) == (0.0, None)
    assert unpriced_hit["tokens_out"] == unpriced_miss["tokens_out"] > 0
    assert (priced_miss["unpriced"], priced_hit["unpriced"], priced_hit["cost_usd"]) == (False, False, 0.0)
    assert priced_miss["cost_usd"] > 0
    assert priced_hit["saved_usd"] == pytest.approx(priced_miss["cost_usd"])


def test_an_answer_is_kept_apart_by_the_api_version_in_the_semantic_cache_too(
    gateway: RunningGateway, fake: FakeAzureOpenAI, azure: Callable[..., openai.OpenAI]
) -> None:
    # The API version decides the answer's shape (its fields, its filters): the exact key holds the
    # query it comes in, and so does the semantic scope.
    def status(api_version: str) -> str:
        raw = azure("prod-chat", api_version).chat.completions.with_raw_response.create(
            model="prod-chat", messages=[{"role": "user", "content": "which city is the capital of Spain"}]
        )
        return raw.headers["cf-aig-cache-status"]

    gateway.configure(semantic_cache_enabled=True)
    assert status("2024-10-21") == "MISS"
    stored(gateway, 1)  # (entries are stored after the answer)
    assert status("2025-04-01-preview") == "MISS"
    stored(gateway, 2)
    assert [status("2025-04-01-preview"), status("2024-10-21")] == ["HIT", "HIT"]
    assert [r.query_string for r in fake.requests] == [
        "api-version=2024-10-21",
        "api-version=2025-04-01-preview",
    ]

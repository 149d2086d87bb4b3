"""What a semantic hit says about itself, with the openai SDK against the fake upstream: its
cache-status headers agree with each other and with its log record, exact cache on or off."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import SYSTEM, ask, ready, stored

QUESTION, PARAPHRASE = "How do I reset my password?", "How can I reset my password?"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    settings = {"settings": {"semantic_cache_enabled": True}}
    assert gateway.http.patch("/api/v1/accounts/local/gateways/default", json=settings).is_success
    ready(gateway)
    return gateway


def entries(gateway: RunningGateway) -> float:
    """The `sluicegate_semantic_entries` gauge (the index's size when scraped)."""
    found = re.search(r"^sluicegate_semantic_entries (\S+)$", httpx.get(gateway.url + "/metrics").text, re.M)
    assert found is not None
    return float(found.group(1))


@pytest.mark.parametrize("exact", [False, True])
def test_a_semantic_hit_says_hit_in_both_headers(gateway: RunningGateway, exact: bool) -> None:
    settings = {"cache_enabled": exact}
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    miss = ask(gateway, QUESTION)
    assert (miss.headers["x-semantic-cache"], miss.headers["cf-aig-cache-status"]) == ("MISS", "MISS")
    stored(gateway, 1)
    hit = ask(gateway, PARAPHRASE)
    assert (hit.headers["x-semantic-cache"], hit.headers["cf-aig-cache-status"]) == ("HIT", "HIT")
    record = gateway.wait_for_logs(2)[0]
    assert (record["cache_status"], record["cache_source"]) == ("HIT", "semantic")


def test_an_exact_hit_replays_no_semantic_header(gateway: RunningGateway) -> None:
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}})
    ask(gateway, QUESTION)
    stored(gateway, 1)
    again = ask(gateway, QUESTION)
    assert again.headers["cf-aig-cache-status"] == "HIT"
    assert not [name for name in again.headers if name.lower().startswith("x-semantic-")]
    record = gateway.wait_for_logs(2)[0]
    assert (record["cache_status"], record["cache_source"]) == ("HIT", "exact")


def test_purging_the_gateways_cache_forgets_its_semantic_entries(gateway: RunningGateway) -> None:
    ask(gateway, QUESTION)
    stored(gateway, 1)
    assert ask(gateway, PARAPHRASE).headers["x-semantic-cache"] == "HIT"
    assert gateway.http.delete("/api/v1/accounts/local/gateways/default/cache").is_success
    assert entries(gateway) == 0
    assert ask(gateway, PARAPHRASE).headers["x-semantic-cache"] == "MISS"


def test_a_hit_on_a_stream_stored_without_usage_reports_the_gateways_count(gateway: RunningGateway) -> None:
    """A stream stored without a usage chunk (an upstream that sends none, though the gateway asks):
    a whole hit still has `usage`, a streamed hit asking for it gets the usage chunk, both the
    gateway's count (the log says so)."""
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        messages: Any = [SYSTEM, {"role": "user", "content": QUESTION}]
        no_usage = {"x-fake-behavior": "no-usage"}
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, extra_headers=no_usage
        )
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        stored(gateway, 1)
        messages[1]["content"] = PARAPHRASE
        whole = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
        assert whole.headers["x-semantic-cache"] == "HIT"
        usage = whole.parse().usage
        assert usage is not None
        assert usage.completion_tokens > 0
        assert usage.prompt_tokens > 0
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        assert whole.parse().choices[0].message.content == answer
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
            )
        )
    assert chunks[-1].choices == []
    assert chunks[-1].usage == usage
    assert all(chunk.choices for chunk in chunks[:-1])
    records = gateway.wait_for_logs(3)
    assert [(r["cache_status"], r["usage_estimated"]) for r in records[:2]] == [("HIT", True), ("HIT", True)]
    assert records[0]["tokens_out"] == usage.completion_tokens

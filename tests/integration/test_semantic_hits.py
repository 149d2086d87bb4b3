"""What a semantic hit says about itself, with the openai SDK against the fake upstream: its
cache-status headers agree with each other and with its log record, exact cache on or off."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ask, ready, stored

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

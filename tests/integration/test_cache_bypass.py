"""One rule for `cf-aig-cache-status` (`pipeline/cache_labels.py`): a request that asked not to be
served from cache is a BYPASS wherever a cache would otherwise have been read, the exact or the
semantic one; where no cache applies, the answer carries no status, whatever was asked. Cloudflare's
HIT and MISS as before. The openai SDK against the fake upstream, each answer numbered."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cache import universal_step
from tests.integration.test_semantic import ready, stored

STATUS = "cf-aig-cache-status"
QUESTION, REWORDED = "How do I reset my password?", "How can I reset my password?"
# Every way a request asks not to be served from cache.
DECLINES = {
    "cf-aig-skip-cache": {"cf-aig-skip-cache": "true"},
    "cf-aig-cache-ttl-0": {"cf-aig-cache-ttl": "0"},
    "no-cache": {"cache-control": "no-cache"},
    "max-age-0": {"cache-control": "max-age=0"},
}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    numbers = itertools.count(1)
    fake.answer = lambda text: f"answer {next(numbers)} to {text}"
    return make_gateway(upstreams={"openai": fake.base_url})


def ask(gateway: RunningGateway, question: str, **headers: str) -> tuple[str, str | None]:
    """The answer's text and its `cf-aig-cache-status` (None when absent)."""
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], extra_headers=headers
        )
    return raw.parse().choices[0].message.content or "", raw.headers.get("cf-aig-cache-status")


def test_asking_not_to_be_served_from_cache_is_a_bypass_where_the_gateway_caches(
    gateway: RunningGateway,
) -> None:
    gateway.configure(cache_enabled=True)
    assert ask(gateway, QUESTION) == (f"answer 1 to {QUESTION}", "MISS")
    assert ask(gateway, QUESTION) == (f"answer 1 to {QUESTION}", "HIT")
    answers = {name: ask(gateway, QUESTION, **declines) for name, declines in DECLINES.items()}
    assert answers == {
        name: (f"answer {number} to {QUESTION}", "BYPASS") for number, name in enumerate(DECLINES, start=2)
    }
    records = gateway.wait_for_logs(2 + len(DECLINES))
    assert [record["cache_status"] for record in records[: len(DECLINES)]] == ["BYPASS"] * len(DECLINES)


def test_where_no_cache_applies_no_ask_brings_a_status(gateway: RunningGateway) -> None:
    assert ask(gateway, QUESTION) == (f"answer 1 to {QUESTION}", None)  # the gateway does not cache
    answers = {name: ask(gateway, QUESTION, **declines) for name, declines in DECLINES.items()}
    assert answers == {
        name: (f"answer {number} to {QUESTION}", None) for number, name in enumerate(DECLINES, start=2)
    }
    records = gateway.wait_for_logs(1 + len(DECLINES))
    assert [record["cache_status"] for record in records] == [""] * (1 + len(DECLINES))
    # A name would have been read (Cloudflare keeps a named entry 5 minutes where the gateway does
    # not cache), so declining it is a bypass; a TTL turns the cache on, HIT and MISS as ever.
    named = {"cf-aig-cache-key": "faq"}
    assert ask(gateway, QUESTION, **named) == (f"answer 6 to {QUESTION}", "MISS")
    assert [ask(gateway, QUESTION, **named, **declines)[1] for declines in DECLINES.values()] == [
        "BYPASS"
    ] * len(DECLINES)
    hour = {"cf-aig-cache-ttl": "3600"}
    assert ask(gateway, REWORDED, **hour) == (f"answer 11 to {REWORDED}", "MISS")
    assert ask(gateway, REWORDED, **hour) == (f"answer 11 to {REWORDED}", "HIT")


@pytest.mark.parametrize("exact", [False, True], ids=["semantic", "exact-and-semantic"])
def test_the_semantic_cache_is_bypassed_by_the_same_asks(gateway: RunningGateway, exact: bool) -> None:
    """A question close in meaning to a stored one is answered upstream when its request asks not
    to be served from cache, and says BYPASS (in Fastly's header: MISS, not found by meaning)."""
    gateway.configure(semantic_cache_enabled=True, cache_enabled=exact)
    ready(gateway)  # the models are loaded: the first answer is stored
    assert ask(gateway, QUESTION) == (f"answer 1 to {QUESTION}", "MISS")
    stored(gateway, 1)
    assert ask(gateway, REWORDED) == (f"answer 1 to {QUESTION}", "HIT")
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        for number, declines in enumerate(DECLINES.values(), start=2):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": REWORDED}], extra_headers=declines
            )
            assert raw.parse().choices[0].message.content == f"answer {number} to {REWORDED}", declines
            statuses = (raw.headers["cf-aig-cache-status"], raw.headers["x-semantic-cache"])
            assert statuses == ("BYPASS", "MISS"), declines
    records = gateway.wait_for_logs(2 + len(DECLINES))
    assert [record["cache_status"] for record in records[: len(DECLINES)]] == ["BYPASS"] * len(DECLINES)


def test_on_the_universal_endpoint_only_a_declined_first_step_is_a_bypass(gateway: RunningGateway) -> None:
    """The lookup is the first step's: one with no cache of its own was asked to skip nothing, so a
    later step whose own TTL stores its answer makes a MISS (not a BYPASS), as its log record says;
    with that storing declined too, no cache acts and none is named. A first step declining the
    gateway's cache is a BYPASS."""
    later_caches = [universal_step("gpt-4o-mini"), universal_step("gpt-4o", **{"cf-aig-cache-ttl": "600"})]
    statuses = [
        gateway.http.post("/v1/local/default", json=later_caches).headers.get(STATUS) for _ in range(2)
    ]
    assert statuses == ["MISS", "MISS"]  # the first step answered: nothing stored, nothing to hit
    skipped = gateway.http.post("/v1/local/default", json=later_caches, headers={"cf-aig-skip-cache": "true"})
    assert skipped.headers.get(STATUS) is None
    gateway.configure(cache_enabled=True)
    first_declines = [
        universal_step("gpt-4o-mini", **{"cf-aig-skip-cache": "true"}),
        universal_step("gpt-4o"),
    ]
    assert gateway.http.post("/v1/local/default", json=first_declines).headers.get(STATUS) == "BYPASS"
    records = gateway.wait_for_logs(4)
    assert [record["cache_status"] for record in records[:4]] == ["BYPASS", "", "MISS", "MISS"]

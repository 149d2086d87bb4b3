"""A refusal a client can provoke from a valid stored key takes no key out for the others
(pipeline/key_verdicts.py): an admin endpoint or a scope the key lacks is the request's own answer,
and a refusal that does not say the key is invalid rests it for that model at that route only. The
official OpenAI SDK is the client (sending no key of its own); the fake OpenAI upstream answers each
key as OpenAI does (tests/fakes/openai_server.py). A revoked key is still disabled:
test_key_pools.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_key_pools import GOOD, KEYS, OTHER, ask, keys_sent, store

THIRD = "sk-third-0123456789abcdef"
RESTRICTED = "sk-restricted-0123456789abcdef"  # a restricted key without the scope chat needs
BARE = "sk-bare-0123456789abcdef"  # refused with a 401 whose body says nothing of the key
HEAVY = 1_000_000  # a key this heavy beside one of weight 1 is chosen first (all but 1 in a million)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(
        key_behaviors={RESTRICTED: "missing-scopes", BARE: "unauthorized-bare"}
    ).serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    return make_gateway(clock=clock, upstreams={"openai": fake.base_url}, secret_key="master-key-for-tests")


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="unused", max_retries=0) as sdk:
        yield sdk


def states(gateway: RunningGateway) -> dict[str, str]:
    listed: list[dict[str, Any]] = gateway.http.get(KEYS).json()["result"]
    return {key["name"]: key["status"] for key in listed}


def test_an_admin_endpoint_no_stored_key_may_use_takes_none_of_them_out(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    """OpenAI answers a project key 401 "Missing scopes: api.usage.read" on its admin endpoints: a
    client without a key of its own (anyone, on an open gateway) asking for one gets that answer,
    and the pool serves everyone else as before."""
    for name, key in (("good", GOOD), ("other", OTHER), ("third", THIRD)):
        store(gateway, name, key)
    for _ in range(3):
        costs = httpx.get(f"{gateway.provider_url('openai')}/organization/costs?start_time=1730419200")
        assert costs.status_code == 401, costs.text
        assert "Missing scopes: api.usage.read" in costs.json()["error"]["message"]
    assert len(fake.requests) == 3  # one key asked per request: the pool is not walked
    assert states(gateway) == {"good": "ok", "other": "ok", "third": "ok"}
    assert ask(client).choices[0].message.content == "echo: hello"


def test_a_scope_a_restricted_key_lacks_is_the_requests_own_answer(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    store(gateway, "restricted", RESTRICTED, weight=HEAVY)
    store(gateway, "good", GOOD)
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(client)
    assert "Missing scopes: model.request" in refused.value.message
    assert keys_sent(fake) == [f"Bearer {RESTRICTED}"]
    assert states(gateway) == {"restricted": "ok", "good": "ok"}
    metrics = gateway.http.get("/metrics").text  # counted, so that an operator sees it
    labels = 'account="local",gateway="default",key="restricted",provider="openai"'
    assert f'sluicegate_provider_key_refusals_total{{{labels},status="401"}} 1.0' in metrics
    assert RESTRICTED not in metrics + str(gateway.wait_for_logs(1))


def test_a_401_that_does_not_say_the_key_is_invalid_rests_it_for_that_model_only(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, clock: FakeClock
) -> None:
    store(gateway, "bare", BARE, weight=HEAVY)
    store(gateway, "good", GOOD)
    assert ask(client).choices[0].message.content == "echo: hello"
    assert keys_sent(fake) == [f"Bearer {BARE}", f"Bearer {GOOD}"]  # one request, two keys
    assert states(gateway) == {"bare": "ok", "good": "ok"}  # not disabled
    fake.clear()
    for _ in range(3):
        ask(client)
    assert keys_sent(fake) == [f"Bearer {GOOD}"] * 3  # resting for that model
    fake.clear()
    ask(client, "gpt-4o")
    assert keys_sent(fake) == [f"Bearer {BARE}", f"Bearer {GOOD}"]  # another model: tried
    clock.advance(600)
    fake.clear()
    ask(client)
    assert keys_sent(fake)[0] == f"Bearer {BARE}"  # tried again for the first model after the rest


def test_a_refusal_on_one_route_rests_the_keys_for_that_route_only(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    """A client that gets every key refused for a model on one route (a destination it named, as
    an Azure resource is) leaves the keys serving that model on the others."""
    store(gateway, "good", GOOD)
    store(gateway, "other", OTHER)
    forbidden = {"x-fake-behavior": "error-403", "Authorization": openai.Omit()}
    for _ in range(2):
        with pytest.raises(openai.PermissionDeniedError):
            client.completions.create(model="gpt-4o-mini", prompt="hello", extra_headers=forbidden)
    assert len(fake.requests) == 2  # each key refused once; then both rest for that route
    assert ask(client).choices[0].message.content == "echo: hello"
    assert states(gateway) == {"good": "ok", "other": "ok"}


@pytest.mark.parametrize("echoed", ["invalid api key", "Incorrect API key provided"])
def test_a_400_that_quotes_the_clients_words_disables_no_key(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, echoed: str
) -> None:
    """OpenAI's 400 quotes the value it refuses ("Invalid encoding_format: '…'"): a client that
    writes a key-invalid phrase there must not walk the pool disabling every key (found in review:
    1b7797a read any 4xx message for the phrase)."""
    for name, key in (("good", GOOD), ("other", OTHER), ("third", THIRD)):
        store(gateway, name, key)
    refused = httpx.post(
        f"{gateway.provider_url('openai')}/embeddings",
        json={"model": "text-embedding-3-small", "input": "hi", "encoding_format": echoed},
    )
    assert refused.status_code == 400, refused.text
    assert echoed in refused.text  # the fake quotes it, as OpenAI does
    assert states(gateway) == {"good": "ok", "other": "ok", "third": "ok"}
    assert ask(client).choices[0].message.content

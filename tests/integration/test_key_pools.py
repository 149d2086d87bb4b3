"""Key pools: several named stored keys per provider, spread by weight; a 429 cools a key down and
the same request moves to the next key; a 401 disables a key, which the admin API and /metrics
show. The official OpenAI SDK is the client (sending no key of its own); the fake OpenAI upstream
answers per key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

KEYS = "/api/v1/accounts/local/gateways/default/provider-keys"
SPENT, REVOKED = "sk-spent-0123456789abcdef", "sk-revoked-0123456789abcdef"
GOOD, OTHER = "sk-good-0123456789abcdef", "sk-other-0123456789abcdef"
BROKE = "sk-broke-0123456789abcdef"  # its account is out of credit: OpenAI's 429 insufficient_quota
HEAVY = 1_000_000  # a key this heavy beside one of weight 1 is chosen first (all but 1 in a million)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    behaviors = {
        SPENT: "rate-limited,retry-after-ms-30000",
        REVOKED: "error-401",
        BROKE: "insufficient-quota",
    }
    with FakeOpenAI(key_behaviors=behaviors).serve() as server:
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


def store(gateway: RunningGateway, name: str, key: str, weight: float = 1) -> dict[str, Any]:
    response = gateway.http.put(f"{KEYS}/openai/{name}", json={"key": key, "weight": weight})
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


def ask(client: openai.OpenAI, model: str = "gpt-4o-mini") -> openai.types.chat.ChatCompletion:
    """A chat completion that brings no provider key, so the gateway uses its stored ones."""
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hello"}],
        extra_headers={"Authorization": openai.Omit()},
    )


def keys_sent(fake: FakeOpenAI) -> list[str | None]:
    return [request.header("authorization") for request in fake.requests]


def listed(gateway: RunningGateway) -> dict[str, dict[str, Any]]:
    return {key["name"]: key for key in gateway.http.get(KEYS).json()["result"]}


def test_requests_are_spread_over_the_keys_by_weight_and_logged_by_name(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    store(gateway, "big", GOOD, weight=3)
    store(gateway, "small", OTHER, weight=1)
    for _ in range(200):
        ask(client)
    sent = Counter(keys_sent(fake))
    assert set(sent) == {f"Bearer {GOOD}", f"Bearer {OTHER}"}
    assert abs(sent[f"Bearer {GOOD}"] - 150) <= 30  # 5 standard deviations of a binomial(200, 0.75)
    records = gateway.wait_for_logs(200)
    by_name = Counter(record["key_name"] for record in records)
    assert by_name == {"big": sent[f"Bearer {GOOD}"], "small": sent[f"Bearer {OTHER}"]}


def test_a_429_cools_the_key_down_and_the_same_request_moves_to_the_next(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, clock: FakeClock
) -> None:
    store(gateway, "spent", SPENT, weight=HEAVY)
    store(gateway, "spare", GOOD)
    answer = ask(client)
    assert answer.choices[0].message.content == "echo: hello"
    assert keys_sent(fake) == [f"Bearer {SPENT}", f"Bearer {GOOD}"]  # one request, two keys
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["key_name"]) == (200, "spare")
    assert [(a["key"], a["status"]) for a in record["attempts"]] == [("spent", 429), ("spare", 200)]
    spent = listed(gateway)["spent"]
    assert (spent["status"], spent["until"], spent["reason"]) == (
        "cooling", clock.now + 30, "upstream answered 429",
    )  # fmt: skip

    fake.clear()
    for _ in range(5):
        ask(client)
    assert keys_sent(fake) == [f"Bearer {GOOD}"] * 5  # the cooling key is left alone for Retry-After
    clock.advance(30)
    assert listed(gateway)["spent"]["status"] == "ok"
    ask(client)
    assert keys_sent(fake)[5] == f"Bearer {SPENT}"  # cooled down: chosen again


def test_a_key_out_of_credit_rests_an_hour_and_the_same_request_moves_to_the_next(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, clock: FakeClock
) -> None:
    """OpenAI's 429 insufficient_quota is no rate limit: no retry mends it until someone pays, so
    the key rests an hour (not the 60 s of a 429 without Retry-After), and comes back by itself."""
    store(gateway, "broke", BROKE, weight=HEAVY)
    store(gateway, "spare", GOOD)
    assert ask(client).choices[0].message.content == "echo: hello"
    assert keys_sent(fake) == [f"Bearer {BROKE}", f"Bearer {GOOD}"]  # one request, two keys
    broke = listed(gateway)["broke"]
    assert (broke["status"], broke["until"], broke["reason"]) == (
        "cooling", clock.now + 3600, "upstream answered 429: out of credit",
    )  # fmt: skip
    clock.advance(600)  # past any ordinary cool-down
    fake.clear()
    for _ in range(5):
        ask(client)
    assert keys_sent(fake) == [f"Bearer {GOOD}"] * 5
    clock.advance(3000)
    assert listed(gateway)["broke"]["status"] == "ok"  # tried again once the hour is over


def test_a_401_disables_the_key_which_the_listing_and_metrics_report(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, clock: FakeClock
) -> None:
    store(gateway, "revoked", REVOKED, weight=HEAVY)
    store(gateway, "good", GOOD)
    ask(client)
    assert keys_sent(fake) == [f"Bearer {REVOKED}", f"Bearer {GOOD}"]
    revoked = listed(gateway)["revoked"]
    assert (revoked["status"], revoked["reason"]) == ("disabled", "upstream answered 401")
    metrics = gateway.http.get("/metrics").text
    labels = 'account="local",gateway="default",key="revoked",provider="openai"'
    assert f'sluicegate_provider_key{{{labels},state="disabled"}} 1.0' in metrics
    assert f'sluicegate_provider_key_refusals_total{{{labels},status="401"}} 1.0' in metrics

    clock.advance(30 * 86400)  # disabled stays disabled
    fake.clear()
    for _ in range(5):
        ask(client)
    assert keys_sent(fake) == [f"Bearer {GOOD}"] * 5
    enabled = gateway.http.patch(f"{KEYS}/openai/revoked", json={"enabled": True})
    assert (enabled.status_code, enabled.json()["status"]) == (200, "ok")
    ask(client)
    assert keys_sent(fake)[5] == f"Bearer {REVOKED}"  # in use again (and refused again)
    everything = gateway.http.get(KEYS).text + metrics + str(gateway.wait_for_logs(7))
    assert not any(key in everything for key in (REVOKED, GOOD))


def test_with_every_key_cooling_the_gateway_answers_429_with_when_one_frees(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    store(gateway, "spent", SPENT)
    store(gateway, "revoked", REVOKED, weight=HEAVY)
    with pytest.raises(openai.RateLimitError):
        ask(client)  # each key refused once: the last refusal, the upstream's own 429, comes back
    assert keys_sent(fake) == [f"Bearer {REVOKED}", f"Bearer {SPENT}"]
    with pytest.raises(openai.RateLimitError) as cooling:
        ask(client)
    assert len(fake.requests) == 2  # nothing went upstream
    error = cooling.value.body
    assert isinstance(error, dict)
    assert error["code"] == "provider_keys_cooling"
    assert "usable again in 30 s" in error["message"]
    assert cooling.value.response.headers["retry-after"] == "30"


def test_with_every_key_disabled_the_gateway_answers_503_saying_how_to_fix_it(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    store(gateway, "revoked", REVOKED)
    store(gateway, "also-revoked", REVOKED)
    with pytest.raises(openai.AuthenticationError):
        ask(client)
    with pytest.raises(openai.InternalServerError) as disabled:
        ask(client)
    assert disabled.value.status_code == 503
    error = disabled.value.body
    assert isinstance(error, dict)
    assert error["code"] == "provider_keys_disabled"
    assert '{"enabled": true}' in error["message"]
    assert sorted(error["keys"]) == ["also-revoked", "revoked"]


def test_a_403_for_one_model_rests_the_keys_for_that_model_only(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, clock: FakeClock
) -> None:
    """Providers answer 403 for a model a key's project may not use: one such request must not
    take the keys out for every other model."""
    store(gateway, "good", GOOD)
    store(gateway, "other", OTHER)
    forbidden = "error-403"  # the fake answers 403 to every key for this model

    def ask_for(model: str) -> openai.types.chat.ChatCompletion:
        return client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"Authorization": openai.Omit()},
        )

    with pytest.raises(openai.PermissionDeniedError):
        ask_for(forbidden)  # each key refused once: the upstream's own 403 comes back
    assert len(fake.requests) == 2
    assert ask_for("gpt-4o-mini").choices[0].message.content == "echo: hello"  # both keys still serve it
    with pytest.raises(openai.PermissionDeniedError) as resting:
        ask_for(forbidden)
    assert len(fake.requests) == 3  # the resting keys were not tried for that model again
    error = resting.value.body
    assert isinstance(error, dict)
    assert error["code"] == "provider_keys_refused_model"
    assert error["model"] == forbidden
    assert resting.value.response.headers["retry-after"] == "600"
    assert {key["status"] for key in listed(gateway).values()} == {"ok"}
    clock.advance(600)
    with pytest.raises(openai.PermissionDeniedError):
        ask_for(forbidden)  # tried again after the rest
    assert len(fake.requests) == 5


def test_the_universal_endpoint_falls_back_past_keys_refused_and_resting_for_its_model(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    store(gateway, "good", GOOD)
    store(gateway, "other", OTHER)

    def step(model: str) -> dict[str, Any]:
        query = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
        return {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": query}

    steps = [step("error-403"), step("gpt-4o-mini")]
    retried = {"cf-aig-max-attempts": "3", "cf-aig-retry-delay": "10"}  # retries: none of them here
    first = httpx.post(f"{gateway.url}/v1/local/default", json=steps, headers=retried)
    assert first.status_code == 200, first.text  # each key refused for the model: the next step
    second = httpx.post(f"{gateway.url}/v1/local/default", json=steps, headers=retried)
    assert second.status_code == 200, second.text  # no key may serve the first step: the next one
    assert [request.json["model"] for request in fake.requests] == [
        "error-403", "error-403", "gpt-4o-mini", "gpt-4o-mini",
    ]  # fmt: skip
    record = next(r for r in gateway.wait_for_logs(2) if r["id"] == second.headers["cf-aig-log-id"])
    # The resting keys are no failure worth retrying: one look at the first step, then the next.
    assert [(a["step"], a["status"]) for a in record["attempts"]] == [(0, 403), (1, 200)]


def test_the_single_key_api_is_the_key_named_default(gateway: RunningGateway, client: openai.OpenAI) -> None:
    assert gateway.http.put(f"{KEYS}/openai", json={"key": GOOD}).status_code == 201
    store(gateway, "second", OTHER, weight=2)
    assert [(k["provider"], k["name"], k["weight"]) for k in gateway.http.get(KEYS).json()["result"]] == [
        ("openai", "default", 1.0),
        ("openai", "second", 2.0),
    ]
    # Replacing a key keeps its weight unless one is given.
    assert gateway.http.put(f"{KEYS}/openai/second", json={"key": GOOD}).json()["weight"] == 2.0
    assert gateway.http.patch(f"{KEYS}/openai/second", json={"weight": 5}).json()["weight"] == 5.0
    assert gateway.http.delete(f"{KEYS}/openai").status_code == 204  # the default one
    assert list(listed(gateway)) == ["second"]
    missing = gateway.http.delete(f"{KEYS}/openai")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        "no stored openai key named 'default' in gateway 'default'; known: second"
        " (one is removed with DELETE …/provider-keys/openai/<name>)"
    )
    bad = gateway.http.put(f"{KEYS}/openai/not%20ok", json={"key": GOOD})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "name"
    assert "letters, digits" in bad.json()["error"]["message"]
    weightless = gateway.http.put(f"{KEYS}/openai/x", json={"key": GOOD, "weight": 0})
    assert (weightless.status_code, weightless.json()["error"]["field"]) == (400, "weight")


def test_cf_aig_byok_alias_uses_only_the_stored_key_of_that_name(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    store(gateway, "default", GOOD, weight=HEAVY)
    store(gateway, "prod", OTHER)
    for _ in range(5):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"Authorization": openai.Omit(), "cf-aig-byok-alias": "prod"},
        )
    assert keys_sent(fake) == [f"Bearer {OTHER}"] * 5
    assert all(request.header("cf-aig-byok-alias") is None for request in fake.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"Authorization": openai.Omit(), "cf-aig-byok-alias": "staging"},
        )
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["aliases"] == ["default", "prod"]
    assert "'staging'" in error["message"]
    assert GOOD not in str(error)
    assert OTHER not in str(error)
    assert len(fake.requests) == 5


def test_answers_are_kept_apart_by_the_stored_key_an_alias_chooses(
    gateway: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Aliases are how one gateway serves several tenants' keys: one tenant's cached answer must not
    # be served to a request that chose another key (a revoked one least of all).
    store(gateway, "tenant-a", GOOD)
    store(gateway, "tenant-b", REVOKED)
    gateway.configure(cache_enabled=True)

    def status(alias: str) -> str:
        try:
            answer = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hello"}],
                extra_headers={"Authorization": openai.Omit(), "cf-aig-byok-alias": alias},
            )
        except openai.AuthenticationError as refused:
            return str(refused.response.headers.get("cf-aig-cache-status"))
        return answer.headers["cf-aig-cache-status"]

    assert status("tenant-a") == "MISS"
    assert status("tenant-b") == "MISS"  # the revoked key's own answer: a 401
    assert status("tenant-a") == "HIT"
    assert keys_sent(fake) == [f"Bearer {GOOD}", f"Bearer {REVOKED}"]

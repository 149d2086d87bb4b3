"""A universal step's `headers` as Cloudflare's `AIGatewayHeaders` type (`@cloudflare/workers-types`)
allows them: numbers, booleans and objects beside strings, and the request's `cf-aig-*` headers
(metadata, custom cost, collect-log, cache key, event id) with a meaning for that step
(pipeline/step_headers.py). Plain httpx to a real gateway on loopback, the fake OpenAI upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "which step answered?"}]
LOGS = "/api/v1/accounts/local/gateways/default/logs"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def step(model: str, content: str = "which step answered?", **own: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "endpoint": "chat/completions",
        "headers": {"Authorization": "Bearer sk-test", "Content-Type": "application/json", **own},
        "query": {"model": model, "messages": [{"role": "user", "content": content}]},
    }


def universal(gateway: RunningGateway, steps: Any, **headers: str) -> httpx.Response:
    return gateway.http.post("/v1/local/default", json=steps, headers=headers)


def record_of(gateway: RunningGateway, response: httpx.Response, kept: int = 1) -> dict[str, Any]:
    """The record of `response`, once the gateway has written `kept` records in all."""
    log_id = response.headers["cf-aig-log-id"]
    found = next(r for r in gateway.wait_for_logs(kept) if r["id"] == log_id)
    return gateway.http.get(f"{LOGS}/{found['id']}").json()


def test_numbers_and_booleans_are_taken_as_their_header_text(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """`cf-aig-cache-ttl: number | string`, `cf-aig-skip-cache: boolean | string`: a Worker writes
    `{"cf-aig-cache-ttl": 3600}`, which was a 400 "Input should be a valid string"."""
    cached = [step("gpt-4o-mini", **{"cf-aig-cache-ttl": 3600})]
    statuses = [universal(gateway, cached).headers["cf-aig-cache-status"] for _ in range(2)]
    assert statuses == ["MISS", "HIT"]
    skipped = [step("gpt-4o-mini", **{"cf-aig-skip-cache": True, "cf-aig-cache-ttl": 3600.0})]
    assert universal(gateway, skipped).headers["cf-aig-cache-status"] == "BYPASS"
    # Another header's number or object goes upstream as its JSON text.
    sent = universal(gateway, [step("gpt-4o", **{"X-Attempt": 2, "X-Beta": False, "X-Tags": {"a": 1}})])
    assert sent.status_code == 200, sent.text
    upstream = fake.requests[-1]
    assert (upstream.header("x-attempt"), upstream.header("x-beta")) == ("2", "false")
    assert json.loads(upstream.header("x-tags") or "") == {"a": 1}
    assert len(fake.requests) == 3


@pytest.mark.parametrize(("value", "kind"), [(["a"], "an array"), (None, "a null")])
def test_a_value_no_header_can_carry_is_a_400_naming_the_header(
    gateway: RunningGateway, fake: FakeOpenAI, value: Any, kind: str
) -> None:
    refused = universal(gateway, [step("gpt-4o"), step("gpt-4o", **{"cf-aig-metadata": value})])
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"] == (
        "step 1: headers.cf-aig-metadata: a header's value is a string, a number, a boolean or an"
        f" object (sent as its JSON text), not {kind}"
    )
    assert (error["step"], error["field"]) == (1, "headers.cf-aig-metadata")
    assert fake.requests == []


def test_the_answering_steps_metadata_is_laid_over_the_requests(gateway: RunningGateway) -> None:
    """`cf-aig-metadata: object | string`: the object form, and per step (the fallback answers)."""
    steps = [
        step("error-500", **{"cf-aig-metadata": {"via": "first", "tier": 1}}),
        step("gpt-4o", **{"cf-aig-metadata": {"via": "fallback", "tier": 2}}),
    ]
    request = {"cf-aig-metadata": '{"user": "ada", "tier": 0}'}
    answered = universal(gateway, steps, **request)
    assert (answered.status_code, answered.headers["cf-aig-step"]) == (200, "1")
    record = record_of(gateway, answered)
    assert (record["step"], record["metadata"]) == (1, {"user": "ada", "tier": 2, "via": "fallback"})
    # Step 0 answers: its own, as a string this time; step 1's are not this record's.
    first = [step("gpt-4o", **{"cf-aig-metadata": '{"via": "first"}'}), steps[1]]
    record = record_of(gateway, universal(gateway, first, **request), kept=2)
    assert (record["step"], record["metadata"]) == (0, {"user": "ada", "tier": 0, "via": "first"})


def test_a_steps_metadata_cannot_name_another_team_than_its_token(gateway: RunningGateway) -> None:
    made = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "red", "scopes": ["run"], "metadata": {"team": "red"}}
    )
    assert made.status_code == 201, made.text
    token = {"cf-aig-authorization": f"Bearer {made.json()['token']}"}
    steps = [step("gpt-4o", **{"cf-aig-metadata": {"team": "blue", "user": "ada"}})]
    record = record_of(gateway, universal(gateway, steps, **token))
    assert record["metadata"] == {"team": "red", "user": "ada"}


def test_a_steps_metadata_past_five_entries_keeps_five_and_says_which_were_not(
    gateway: RunningGateway,
) -> None:
    six = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
    answered = universal(gateway, [step("gpt-4o", **{"cf-aig-metadata": six})])
    assert answered.status_code == 200
    assert answered.headers["x-sluicegate-warning"] == (
        'step 0: cf-aig-metadata has more than 5 entries; the first 5 are kept, not ["f"]'
    )
    assert record_of(gateway, answered)["metadata"] == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    bad = universal(gateway, [step("gpt-4o", **{"cf-aig-metadata": {"nested": {"x": 1}}})])
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("step 0: headers: cf-aig-metadata: entry 'nested'")


def test_the_answering_steps_custom_cost_prices_its_record(gateway: RunningGateway) -> None:
    """`cf-aig-custom-cost` in a step: the cost of that step's answer, over the request's."""
    steps = [
        step("error-500", **{"cf-aig-custom-cost": {"total_cost": 9.0}}),
        step("gpt-4o", **{"cf-aig-custom-cost": {"per_token_in": 0.001, "per_token_out": 0.002}}),
    ]
    answered = universal(gateway, steps, **{"cf-aig-custom-cost": '{"total_cost": 5}'})
    assert answered.status_code == 200, answered.text
    usage = answered.json()["usage"]
    record = record_of(gateway, answered)
    expected = usage["prompt_tokens"] * 0.001 + usage["completion_tokens"] * 0.002
    assert record["cost_usd"] == pytest.approx(expected)
    assert record["metadata"] == {"cost_source": "custom"}
    # A step without one: the request's.
    plain = universal(gateway, [step("gpt-4o", "another")], **{"cf-aig-custom-cost": '{"total_cost": 5}'})
    assert record_of(gateway, plain, kept=2)["cost_usd"] == 5.0


def test_collect_log_in_the_answering_step_decides_whether_its_record_is_kept(
    gateway: RunningGateway,
) -> None:
    unkept = universal(gateway, [step("gpt-4o", **{"cf-aig-collect-log": False})])
    assert unkept.status_code == 200
    assert "cf-aig-log-id" not in unkept.headers
    # Step 0's false is not the fallback's: the record of step 1's answer is kept.
    fallback = [step("error-500", **{"cf-aig-collect-log": "false"}), step("gpt-4o")]
    kept = universal(gateway, fallback)
    assert kept.headers["cf-aig-step"] == "1"
    # Records are written in order: once the kept one is found, the unkept one would have been too.
    assert [r["id"] for r in gateway.wait_for_logs(1)] == [kept.headers["cf-aig-log-id"]]
    # And a step's true keeps what the request asked not to.
    kept = universal(
        gateway, [step("gpt-4o", **{"cf-aig-collect-log": True})], **{"cf-aig-collect-log": "no"}
    )
    assert "cf-aig-log-id" in kept.headers


def test_a_steps_cache_key_names_the_requests_entry(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    named = {"cf-aig-cache-key": "greeting", "cf-aig-cache-ttl": 600}
    first = universal(gateway, [step("gpt-4o", "hello", **named)])
    other_words = universal(gateway, [step("gpt-4o", "hi there", **named)])
    assert [first.headers["cf-aig-cache-status"], other_words.headers["cf-aig-cache-status"]] == [
        "MISS",
        "HIT",
    ]
    assert other_words.content == first.content
    assert len(fake.requests) == 1
    # The same name on the request and in a step is one name.
    again = universal(gateway, [step("gpt-4o", "hey", **named)], **{"cf-aig-cache-key": "greeting"})
    assert again.headers["cf-aig-cache-status"] == "HIT"


@pytest.mark.parametrize(
    ("steps", "request_key", "said"),
    [
        ([{"cf-aig-cache-key": "a"}, {"cf-aig-cache-key": "b"}], None,
         "step 1: headers: cf-aig-cache-key names another cache entry than step 0's"),
        ([{}, {"cf-aig-cache-key": "b"}], "a",
         "step 1: headers: cf-aig-cache-key names another cache entry than the request's"),
    ],
)  # fmt: skip
def test_two_names_for_the_one_entry_are_a_400(
    gateway: RunningGateway, fake: FakeOpenAI, steps: list[dict[str, str]], request_key: str | None, said: str
) -> None:
    headers = {} if request_key is None else {"cf-aig-cache-key": request_key}
    refused = universal(gateway, [step("gpt-4o", **own) for own in steps], **headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith(said)
    assert fake.requests == []


def test_an_event_id_is_taken_and_not_sent_upstream(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    answered = universal(gateway, [step("gpt-4o", **{"cf-aig-event-id": "my-request"})])
    assert answered.status_code == 200, answered.text
    assert fake.requests[0].header("cf-aig-event-id") is None


def test_a_cost_rule_charges_an_unpriced_model_at_its_steps_custom_cost(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    """Where nothing else prices a model, a cost rule takes the client's custom cost: the step's own."""
    gateway.configure(rate_limits=[{"name": "budget", "limit": 1.0, "period": 86400, "unit": "cost"}])
    steps = [step("house-model-7", **{"cf-aig-custom-cost": {"total_cost": 0.4}})]
    statuses = [universal(gateway, steps).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # 0.4 + 0.4 spent; 0.4 more does not fit in 1.0
    assert len(fake.requests) == 2


def test_a_steps_blank_cache_key_names_no_entry(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    answers = [
        universal(gateway, [step("gpt-4o", question, **{"cf-aig-cache-key": ""})])
        for question in ("first question", "second question")
    ]
    first, second = (a.json()["choices"][0]["message"]["content"] for a in answers)
    assert "first question" in first
    assert "second question" in second
    assert [a.headers.get("cf-aig-cache-status") for a in answers] == [None, None]
    assert len(fake.requests) == 2

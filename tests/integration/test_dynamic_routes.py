"""Dynamic routes: `"model": "dynamic/<route>"` on the unified endpoint, with the official OpenAI
SDK against the fake OpenAI server (whose behaviour is chosen by the model name)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]
SETTINGS = "/api/v1/accounts/local/gateways/default"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-provider", max_retries=0)


def set_routes(gateway: RunningGateway, routes: dict[str, Any]) -> None:
    response = gateway.http.patch(SETTINGS, json={"settings": {"routes": routes}})
    assert response.status_code == 200, response.text


def ask(client: openai.OpenAI, route: str, metadata: dict[str, Any] | None = None, free: bool = False) -> str:
    """The model that answered (the fake echoes the model it was sent); `free`: with a custom cost
    of zero, which a cost limit must not take."""
    headers = {"cf-aig-metadata": orjson.dumps(metadata).decode()} if metadata else {}
    if free:
        headers["cf-aig-custom-cost"] = '{"per_token_in": 0, "per_token_out": 0}'
    answer = client.chat.completions.create(
        model=f"dynamic/{route}", messages=MESSAGES, extra_headers=headers
    )
    return answer.model


def test_a_route_of_one_target_is_a_model_alias(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    set_routes(gateway, {"fast": {"model": "openai/gpt-4o-mini"}})
    assert ask(client, "fast") == "gpt-4o-mini"
    assert fake.requests[-1].json["model"] == "gpt-4o-mini"


def test_a_weighted_split_spreads_requests_by_weight(gateway: RunningGateway, client: openai.OpenAI) -> None:
    split = [{"weight": 3, "then": {"model": "openai/big"}}, {"weight": 1, "then": {"model": "openai/small"}}]
    set_routes(gateway, {"ab": {"split": split}})
    counts = Counter(ask(client, "ab") for _ in range(200))
    assert set(counts) == {"big", "small"}
    assert abs(counts["big"] - 150) <= 30  # 5 standard deviations of a binomial(200, 0.75)


def test_a_sticky_split_keeps_each_user_on_one_branch(gateway: RunningGateway, client: openai.OpenAI) -> None:
    split = [
        {"weight": 1, "then": {"model": "openai/left"}},
        {"weight": 1, "then": {"model": "openai/right"}},
    ]
    set_routes(gateway, {"ab": {"split": split, "sticky": "metadata.user"}})
    chosen = {user: {ask(client, "ab", {"user": user}) for _ in range(4)} for user in map(str, range(16))}
    assert all(len(models) == 1 for models in chosen.values()), chosen
    assert {next(iter(models)) for models in chosen.values()} == {"left", "right"}


def test_a_condition_on_metadata_picks_the_branch(gateway: RunningGateway, client: openai.OpenAI) -> None:
    route = {
        "if": {"metadata.tier": "pro"},
        "then": {"model": "openai/best"},
        "else": {"model": "openai/cheap"},
    }
    set_routes(gateway, {"support": route})
    assert ask(client, "support", {"tier": "pro"}) == "best"
    assert ask(client, "support", {"tier": "free"}) == "cheap"
    assert ask(client, "support") == "cheap"


@pytest.mark.parametrize(
    "failing",
    [
        {"model": "openai/error-500"},
        {"model": "openai/rate-limited"},
        {"model": "openai/slow-1000", "timeout_ms": 100},
    ],
)
def test_a_fallback_moves_on_after_each_kind_of_failure(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, failing: dict[str, Any]
) -> None:
    set_routes(gateway, {"safe": {"fallback": [failing, {"model": "openai/steady"}]}})
    assert ask(client, "safe") == "steady"
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == 200


def test_a_fallback_moves_on_when_a_target_refuses_connections(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, refused_port: int
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url, "groq": f"http://127.0.0.1:{refused_port}"})
    set_routes(gateway, {"safe": {"fallback": [{"model": "groq/llama"}, {"model": "openai/steady"}]}})
    client = openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-provider", max_retries=0)
    assert ask(client, "safe") == "steady"
    [record] = gateway.wait_for_logs(1)
    assert (record["provider"], record["status"]) == ("openai", 200)


@pytest.mark.parametrize(
    ("unit", "limit", "free"),
    # about two answers' worth of each; a cost limit counts the table's price, not a client's
    [("tokens", 20, False), ("cost", None, False), ("cost", None, True)],
)
def test_a_token_or_cost_limit_node_switches_to_else_once_spent(
    gateway: RunningGateway, client: openai.OpenAI, unit: str, limit: float | None, free: bool
) -> None:
    first = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert first.usage is not None
    gateway.wait_for_logs(1)
    one_answer = gateway.logs()[0]["cost_usd"] if unit == "cost" else first.usage.total_tokens
    assert one_answer
    rule = {"unit": unit, "limit": limit or 2.5 * one_answer, "period": 3600, "scope": "metadata.team"}
    route = {"limit": rule, "then": {"model": "openai/gpt-4o-mini"}, "else": {"model": "openai/budget"}}
    set_routes(gateway, {"team": route})
    answered = []
    for count in range(2, 6):
        answered.append(ask(client, "team", {"team": "red"}, free))
        gateway.wait_for_logs(count)
    # Spent once the answers used what the rule allows (each reserved and then charged): cheaper after.
    assert answered[0].startswith("gpt-4o-mini")
    assert answered[-1] == "budget"
    assert ask(client, "team", {"team": "blue"}).startswith("gpt-4o-mini")  # another team's is untouched


def test_a_limit_node_switches_to_else_once_spent(gateway: RunningGateway, client: openai.OpenAI) -> None:
    limit = {"unit": "requests", "limit": 2, "period": 3600, "scope": "metadata.team"}
    route = {"limit": limit, "then": {"model": "openai/premium"}, "else": {"model": "openai/budget"}}
    set_routes(gateway, {"team": route})
    answered = []
    for count in range(1, 4):
        answered.append(ask(client, "team", {"team": "red"}))
        gateway.wait_for_logs(count)  # the limit is counted once the response completed, before its record
    assert answered == ["premium", "premium", "budget"]
    assert ask(client, "team", {"team": "blue"}) == "premium"  # another team's budget is untouched


def test_an_invalid_route_is_refused_naming_its_path(gateway: RunningGateway) -> None:
    bad = {"cheap": {"split": [{"weight": 1, "then": {"model": "gpt-4o"}}]}}
    response = gateway.http.patch(SETTINGS, json={"settings": {"routes": bad}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_route"
    assert error["field"] == "routes.cheap.split[0].then.model"
    assert 'e.g. "openai/gpt-4o-mini"' in error["message"]  # what was probably meant
    assert gateway.http.get(SETTINGS).json()["settings"]["routes"] == {}  # nothing was saved


def test_an_unknown_route_says_which_exist(gateway: RunningGateway, client: openai.OpenAI) -> None:
    set_routes(gateway, {"support": {"model": "openai/gpt-4o"}})
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "suport")
    assert "support" in str(caught.value)


def test_the_response_and_the_log_say_which_route_and_target(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    route = {
        "if": {"metadata.tier": "pro"},
        "then": {"fallback": [{"model": "openai/error-503"}, {"model": "openai/steady"}]},
        "else": {"model": "openai/cheap"},
    }
    set_routes(gateway, {"support": route})
    raw = client.chat.completions.with_raw_response.create(
        model="dynamic/support", messages=MESSAGES, extra_headers={"cf-aig-metadata": '{"tier": "pro"}'}
    )
    assert raw.headers["cf-aig-route"].partition("@")[0] == "support"
    assert (raw.headers["cf-aig-provider"], raw.headers["cf-aig-model"]) == ("openai", "steady")
    assert raw.headers["cf-aig-step"] == "1"
    record = gateway.wait_for_logs(1)[0]
    assert record["metadata"]["tier"] == "pro"
    assert record["metadata"]["route"] == raw.headers["cf-aig-route"]
    assert record["metadata"]["route_path"] == "if=then target=then.fallback[1]"
    assert record["model"] == "steady"


ROUTES = "/api/v1/accounts/local/gateways/default/routes"


def test_every_change_is_a_version_and_any_can_be_restored(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    first, second = {"model": "openai/one"}, {"model": "openai/two"}
    set_routes(gateway, {"pick": first})
    put = gateway.http.put(f"{ROUTES}/pick", json=second)
    assert put.status_code == 200, put.text
    assert put.json() == {"name": "pick", "version": 2, "route": second}
    assert (
        client.chat.completions.with_raw_response.create(model="dynamic/pick", messages=MESSAGES).headers[
            "cf-aig-route"
        ]
        == "pick@2"
    )
    versions = gateway.http.get(f"{ROUTES}/pick/versions").json()["result"]
    assert [(v["version"], v["route"], v["current"]) for v in versions] == [
        (2, second, True),
        (1, first, False),
    ]
    restored = gateway.http.post(f"{ROUTES}/pick/versions/1/restore")
    assert restored.json() == {"name": "pick", "version": 3, "route": first}
    assert ask(client, "pick") == "one"
    assert gateway.http.get(f"{ROUTES}/pick").json()["version"] == 3
    # An unchanged save makes no version; a client cannot set the numbers.
    set_routes(gateway, {"pick": first})
    gateway.http.patch(SETTINGS, json={"settings": {"route_versions": {"pick": 99}}})
    assert gateway.http.get(f"{ROUTES}/pick").json()["version"] == 3
    missing = gateway.http.post(f"{ROUTES}/pick/versions/7/restore")
    assert missing.status_code == 404
    assert missing.json()["error"]["versions"] == [1, 2, 3]


def test_a_route_set_alone_is_validated_naming_its_path(gateway: RunningGateway) -> None:
    response = gateway.http.put(f"{ROUTES}/cheap", json={"fallback": [{"modle": "openai/gpt-4o"}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "routes.cheap.fallback[0]"
    assert "'model'" in error["message"]
    assert gateway.http.get(f"{ROUTES}/cheap").status_code == 404


def test_a_failing_target_is_skipped_while_its_circuit_is_open_then_probed(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> None:
    gateway = make_gateway(clock, upstreams={"openai": fake.base_url})
    client = openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-provider", max_retries=0)
    flaky = "fail-6-then-ok"  # the fake answers its first 6 requests with a 500
    set_routes(gateway, {"safe": {"fallback": [{"model": f"openai/{flaky}"}, {"model": "openai/steady"}]}})

    def sent_to_flaky() -> int:
        return sum(1 for r in fake.requests if r.json.get("model") == flaky)

    assert [ask(client, "safe") for _ in range(5)] == ["steady"] * 5
    assert sent_to_flaky() == 5  # 5 failures within 60 s: the circuit opens
    assert ask(client, "safe") == "steady"
    assert sent_to_flaky() == 5  # skipped
    metrics = gateway.http.get("/metrics").text
    assert (
        f'sluicegate_circuit{{account="local",gateway="default",state="open",target="openai/{flaky}"}} 1.0'
        in metrics
    )
    clock.advance(31)  # after the cool-down one request probes it; it fails: open again
    assert ask(client, "safe") == "steady"
    assert sent_to_flaky() == 6
    assert ask(client, "safe") == "steady"
    assert sent_to_flaky() == 6
    clock.advance(31)  # the next probe succeeds: closed, and it answers again
    assert [ask(client, "safe") for _ in range(2)] == [flaky, flaky]
    assert sent_to_flaky() == 8
    assert "closed" in gateway.http.get("/metrics").text


def test_a_route_whose_every_target_is_open_answers_503_with_retry_after(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> None:
    gateway = make_gateway(clock, upstreams={"openai": fake.base_url})
    client = openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-provider", max_retries=0)
    set_routes(gateway, {"down": {"model": "openai/error-503"}})
    for _ in range(5):
        with pytest.raises(openai.InternalServerError):
            ask(client, "down")
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client, "down")
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "30"
    assert "circuit is open" in caught.value.message
    assert sum(1 for r in fake.requests if r.json.get("model") == "error-503") == 5


def test_a_limit_repeating_a_gateway_rule_shares_its_counter_once(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    rule = {"unit": "requests", "limit": 3, "period": 3600, "scope": "gateway"}
    gateway.http.patch(SETTINGS, json={"settings": {"rate_limits": [rule]}}).raise_for_status()
    route = {"limit": rule, "then": {"model": "openai/premium"}, "else": {"model": "openai/budget"}}
    set_routes(gateway, {"team": route})
    answered = []
    for count in range(1, 4):
        answered.append(ask(client, "team"))
        gateway.wait_for_logs(count)
    assert answered == ["premium"] * 3  # each request counted once, by the gateway's rule
    with pytest.raises(openai.RateLimitError):
        ask(client, "team")  # the rule itself is spent: the gateway refuses before any target


def test_a_spent_limit_without_else_is_a_429_naming_it(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    limit = {"limit": 1, "period": 3600, "name": "one a day"}
    set_routes(gateway, {"once": {"limit": limit, "then": {"model": "openai/gpt-4o"}}})
    ask(client, "once")
    gateway.wait_for_logs(1)
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, "once")
    assert "one a day" in caught.value.message


def test_a_target_at_a_provider_the_gateway_lacks_is_refused_when_the_route_is_saved(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    odd = {"odd": {"fallback": [{"model": "openai/gpt-4o"}, {"model": "nowhere/model-x"}]}}
    refused = gateway.http.patch(SETTINGS, json={"settings": {"routes": odd}})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "routes.odd.fallback[1].model"
    with pytest.raises(openai.BadRequestError, match="has no route 'odd'"):  # nothing was saved
        ask(client, "odd")


def test_conditions_on_stream_and_prompt_tokens(gateway: RunningGateway, client: openai.OpenAI) -> None:
    route = {
        "if": {"prompt_tokens_over": 50},
        "then": {"model": "openai/long-context"},
        "else": {
            "if": {"stream": True},
            "then": {"model": "openai/streamer"},
            "else": {"model": "openai/short"},
        },
    }
    set_routes(gateway, {"size": route})
    assert ask(client, "size") == "short"
    long = [{"role": "user", "content": "tell me about rivers " * 40}]
    assert client.chat.completions.create(model="dynamic/size", messages=long).model == "long-context"
    raw = client.chat.completions.with_raw_response.create(
        model="dynamic/size", messages=MESSAGES, stream=True
    )
    assert raw.headers["cf-aig-model"] == "streamer"
    chunks = list(raw.parse())
    assert chunks
    assert {chunk.model for chunk in chunks} == {"streamer"}

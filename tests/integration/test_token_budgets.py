"""Budgets per token, user and team (LiteLLM's "virtual keys", on gateway tokens): a token's own
rules, its allow-list of models and providers, and the metadata it stamps on its requests, which
wins over the request's so that a team budget cannot be dodged.

Clients are the official `openai` SDK, sending the gateway token in `cf-aig-authorization`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from sluicegate.gateway import plain
from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import MODEL, SIX_WORDS, answer_cost
from tests.integration.test_cli import run_cli, table_rows

TOKENS = "/api/v1/accounts/local/tokens"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def mint(gateway: RunningGateway, **fields: Any) -> str:
    response = gateway.http.post(TOKENS, json={"name": "budgeted", "scopes": ["run"], **fields})
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


def client(gateway: RunningGateway, secret: str, slug: str = "default") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.provider_url("openai", slug),
        api_key="sk-test",
        max_retries=0,
        default_headers={"cf-aig-authorization": f"Bearer {secret}"},
    )


def ask(sdk: openai.OpenAI, model: str = MODEL, **headers: str) -> int:
    """One six-word question (18 tokens in all): its status."""
    try:
        sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": SIX_WORDS}],
            max_tokens=6,
            extra_headers=headers or None,
        )
    except openai.APIStatusError as error:
        return error.status_code
    return 200


def refusal(sdk: openai.OpenAI, model: str = MODEL, **headers: str) -> dict[str, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": SIX_WORDS}],
            max_tokens=6,
            extra_headers=headers,
        )
    body = caught.value.body
    assert isinstance(body, dict)
    error: dict[str, Any] = body.get("error", body)
    error["status"] = caught.value.status_code
    return error


def test_a_token_with_its_own_budget_is_refused_when_spent_while_another_is_not(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "second"}).status_code == 201
    budget = 2.5 * answer_cost()
    capped = mint(gateway, rules=[{"name": "pocket money", "limit": budget, "period": 86400, "unit": "cost"}])
    free = mint(gateway)
    # The token's budget counts its use on every gateway it reaches: one answer here, one there.
    assert ask(client(gateway, capped)) == 200
    assert ask(client(gateway, capped, "second")) == 200
    refused = refusal(client(gateway, capped))
    assert refused["status"] == 429
    assert refused["message"] == "this token's limit exceeded: pocket money"
    assert refused["rule"]["scope"] == "token"
    assert ask(client(gateway, capped, "second")) == 429
    assert [ask(client(gateway, free)) for _ in range(3)] == [200] * 3  # another token is not held back
    assert len(fake.requests) == 5
    me = httpx.get(gateway.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {capped}"}).json()
    assert [rule["name"] for rule in me["rules"]] == ["pocket money"]  # a token can read its own budget


def test_raising_a_token_budget_takes_effect_at_once(gateway: RunningGateway) -> None:
    rule = {"name": "tiny", "limit": 20, "period": 3600, "unit": "tokens"}
    capped = mint(gateway, rules=[rule])
    sdk = client(gateway, capped)
    assert [ask(sdk), ask(sdk)] == [200, 429]
    token_id = next(t["id"] for t in gateway.http.get(TOKENS).json()["result"] if t["name"] == "budgeted")
    raised = gateway.http.patch(
        f"{TOKENS}/{token_id}", json={"rules": [{**rule, "name": "bigger", "limit": 100}]}
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["rules"][0]["limit"] == 100
    assert ask(sdk) == 200  # a new rule counts afresh
    lifted = gateway.http.patch(f"{TOKENS}/{token_id}", json={"rules": []})
    assert lifted.json()["rules"] == []
    assert [ask(sdk) for _ in range(5)] == [200] * 5


def test_a_token_rule_keeps_its_count_when_another_is_added_before_it(gateway: RunningGateway) -> None:
    rule = {"name": "tiny", "limit": 20, "period": 3600, "unit": "tokens"}
    capped = mint(gateway, rules=[rule])
    sdk = client(gateway, capped)
    assert [ask(sdk), ask(sdk)] == [200, 429]
    token_id = next(t["id"] for t in gateway.http.get(TOKENS).json()["result"] if t["name"] == "budgeted")
    hourly = {"name": "hourly", "limit": 1000, "period": 3600}
    added = gateway.http.patch(f"{TOKENS}/{token_id}", json={"rules": [hourly, rule]})
    assert added.status_code == 200, added.text
    assert ask(sdk) == 429


def test_a_model_or_provider_outside_the_allow_list_is_a_403_naming_what_is_allowed(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    minis = mint(gateway, models=["gpt-4o-mini", "o4-*"])
    refused = refusal(client(gateway, minis), model="gpt-4o")
    assert refused["status"] == 403
    assert refused["message"] == "this token may use the models 'gpt-4o-mini', 'o4-*', not 'gpt-4o'"
    assert refused["allowed_models"] == ["gpt-4o-mini", "o4-*"]
    assert ask(client(gateway, minis)) == 200
    assert ask(client(gateway, minis), model="o4-mini") == 200  # a trailing * matches any ending
    anthropic_only = mint(gateway, providers=["anthropic"])
    refused = refusal(client(gateway, anthropic_only))
    assert refused["message"] == "this token may use the providers 'anthropic', not 'openai'"
    assert refused["allowed_providers"] == ["anthropic"]
    assert len(fake.requests) == 2  # refusals never reach the upstream


def test_every_universal_step_must_be_allowed(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    minis = mint(gateway, models=["gpt-4o-mini"])
    steps = [
        {"provider": "openai", "endpoint": "chat/completions", "query": {"model": MODEL, "messages": []}},
        {"provider": "openai", "endpoint": "chat/completions", "query": {"model": "gpt-4o", "messages": []}},
    ]
    response = httpx.post(
        gateway.url + "/v1/local/default", json=steps, headers={"cf-aig-authorization": f"Bearer {minis}"}
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["step"], error["message"]) == (
        1,
        "step 1: this token may use the models 'gpt-4o-mini', not 'gpt-4o'",
    )
    assert fake.requests == []


def test_a_cached_answer_is_not_served_to_a_token_that_may_not_use_its_model(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": {"cache_enabled": True}})
    assert ask(client(gateway, mint(gateway)), model="gpt-4o") == 200  # now cached
    assert refusal(client(gateway, mint(gateway, models=["gpt-4o-mini"])), model="gpt-4o")["status"] == 403


def test_a_team_budget_holds_whatever_team_the_request_claims(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    team_rule = {
        "name": "team tokens",
        "limit": 30,
        "period": 3600,
        "unit": "tokens",
        "scope": "metadata.team",
    }
    settings = {"rate_limits": [team_rule]}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    red_alice = client(gateway, mint(gateway, metadata={"team": "red", "user": "alice"}))
    red_bob = client(gateway, mint(gateway, metadata={"team": "red", "user": "bob"}))
    blue = client(gateway, mint(gateway, metadata={"team": "blue"}))
    assert ask(red_alice) == 200  # 18 of red's 30 tokens
    refused = refusal(red_bob)  # the same team's budget: another 18 does not fit
    assert (refused["status"], refused["rule"]["name"]) == (429, "team tokens")
    assert ask(red_alice, **{"cf-aig-metadata": '{"team": "blue"}'}) == 429  # the token's team wins
    assert ask(blue) == 200
    records = gateway.wait_for_logs(4)
    assert records[-1]["metadata"] == {"team": "red", "user": "alice"}  # merged: the token's values
    assert records[1]["metadata"] == {"team": "red", "user": "alice"}  # not the claimed "blue"
    assert len(fake.requests) == 2


def test_a_user_budget_in_dollars_counts_each_user_apart(gateway: RunningGateway) -> None:
    user_rule = {"limit": 1.5 * answer_cost(), "period": 86400, "unit": "cost", "scope": "metadata.user"}
    gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"rate_limits": [user_rule]}}
    )
    alice, bob = (client(gateway, mint(gateway, metadata={"user": name})) for name in ("alice", "bob"))
    assert [ask(alice), ask(alice)] == [200, 429]
    assert [ask(bob), ask(bob)] == [200, 429]


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"rules": [{"limit": 5, "period": 60, "scope": "metadata.user"}]}, "rules.0.scope", "metadata.user"),
        ({"rules": [{"limit": 0, "period": 60}]}, "rules.0.limit", "greater than 0"),
        ({"providers": ["opneai"]}, "providers.0", "did you mean 'openai'"),
        ({"models": []}, "models", "at least 1"),
        ({"metadata": {"team": ["red"]}}, "metadata.team", ""),
        ({"metadata": {f"k{n}": n for n in range(6)}}, "metadata", "at most 5"),
    ],
)
def test_bad_token_allowances_are_400s_naming_the_field(
    gateway: RunningGateway, fields: dict[str, Any], field: str, hint: str
) -> None:
    response = gateway.http.post(TOKENS, json={"name": "bad", "scopes": ["run"], **fields})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"].startswith(field)
    assert hint in error["message"]


def test_a_token_never_creates_one_with_a_wider_allowance(gateway: RunningGateway) -> None:
    def create(creator: str, **fields: Any) -> httpx.Response:
        body = {"name": "child", "scopes": ["run"], **fields}
        return httpx.post(gateway.url + TOKENS, json=body, headers={"Authorization": f"Bearer {creator}"})

    red_admin = mint(gateway, scopes=["admin"], metadata={"team": "red"}, models=["gpt-4o-mini"])
    blue = create(red_admin, metadata={"team": "blue"}, models=["gpt-4o-mini"])
    assert blue.status_code == 403
    assert "sets metadata team='red'" in blue.json()["error"]["message"]
    wider = create(red_admin, metadata={"team": "red"}, models=["gpt-4o"])
    assert "not 'gpt-4o'" in wider.json()["error"]["message"]
    assert (
        create(red_admin, metadata={"team": "red", "user": "carol"}, models=["gpt-4o-mini"]).status_code
        == 201
    )
    budgeted_admin = mint(gateway, scopes=["admin"], rules=[{"limit": 1, "period": 60}])
    refused = create(budgeted_admin)
    assert refused.status_code == 403
    assert "cannot create tokens" in refused.json()["error"]["message"]


def test_the_cli_creates_a_token_with_its_allowance(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    env = {"SLUICEGATE_DATABASE_URL": gateway.settings.stores.database_url}
    budget = round(2.5 * answer_cost(), 10)
    created = run_cli(
        gateway.settings.data_dir,
        "token", "create", "--scope", "run", "--name", "intern",
        "--rule", f"{budget:.10f}usd/day", "--model", "gpt-4o-mini", "--metadata", "team=red",
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.split(": ")[-1].strip()
    sdk = client(gateway, secret)
    assert refusal(sdk, model="gpt-4o")["status"] == 403
    assert [ask(sdk) for _ in range(3)] == [200, 200, 429]
    listed = run_cli(gateway.settings.data_dir, "token", "list", env=env | {"COLUMNS": "250"})
    [row] = [row for row in table_rows(listed.stdout) if row[1] == "intern"]
    assert row[4] == f"${plain(budget)}/day; models gpt-4o-mini; team=red"
    bad = run_cli(
        gateway.settings.data_dir, "token", "create", "--scope", "run", "--rule", "5 dollars a day", env=env
    )
    assert bad.returncode == 2
    assert "neither JSON nor AMOUNT UNIT/PERIOD such as 5usd/day" in bad.stderr
    typo = run_cli(
        gateway.settings.data_dir, "token", "create", "--scope", "run", "--provider", "opneai", env=env
    )
    assert "no provider 'opneai'; did you mean 'openai'?" in typo.stderr

"""Spend per token, user, team and model over a period, from the logs, with each spender's remaining
budget from the counters: the admin API and `sluicegate spend`, on both storage setups."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import MODEL, SIX_WORDS, answer_cost
from tests.integration.test_cli import run_cli, table_rows

SPEND = "/api/v1/accounts/local/spend"
TOKENS = "/api/v1/accounts/local/tokens"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def mint(gateway: RunningGateway, name: str, **fields: Any) -> tuple[str, str]:
    response = gateway.http.post(TOKENS, json={"name": name, "scopes": ["run"], **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def ask(
    gateway: RunningGateway, secret: str | None, times: int = 1, slug: str = "default", **headers: str
) -> None:
    if secret:
        headers["cf-aig-authorization"] = f"Bearer {secret}"
    with openai.OpenAI(
        base_url=gateway.provider_url("openai", slug),
        api_key="sk-test",
        max_retries=0,
        default_headers=headers,
    ) as client:
        for _ in range(times):
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": SIX_WORDS}], max_tokens=6
            )


def spend(gateway: RunningGateway, http: httpx.Client | None = None, /, **params: Any) -> dict[str, Any]:
    response = (http or gateway.http).get(SPEND, params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def spent(gateway: RunningGateway) -> dict[str, str]:
    """alice (red) asks 3 times, bob (red) twice, carol (blue) once, and one request has no token."""
    ids = {}
    for name, team, times in (("alice", "red", 3), ("bob", "red", 2), ("carol", "blue", 1)):
        token_id, secret = mint(gateway, name, metadata={"user": name, "team": team})
        ask(gateway, secret, times)
        ids[name] = token_id
    ask(gateway, None)
    gateway.wait_for_logs(7)
    return ids


def test_spend_per_token_user_team_and_model(gateway: RunningGateway, spent: dict[str, str]) -> None:
    one = answer_cost()
    by_token = spend(gateway, by="token")
    rows = {row["key"]: row for row in by_token["result"]}
    keys = [row["key"] for row in by_token["result"]]
    assert keys[:2] == [spent["alice"], spent["bob"]]  # the most spent first
    assert set(keys[2:]) == {spent["carol"], None}
    assert (rows[spent["alice"]]["name"], rows[spent["alice"]]["requests"]) == ("alice", 3)
    assert rows[spent["alice"]]["cost_usd"] == pytest.approx(3 * one)
    assert rows[spent["alice"]]["tokens_in"] == 3 * 12
    assert rows[None]["requests"] == 1  # the request without a token
    assert by_token["totals"]["requests"] == 7
    assert by_token["totals"]["cost_usd"] == pytest.approx(7 * one)
    by_user = {row["key"]: row["requests"] for row in spend(gateway, by="user")["result"]}
    assert by_user == {"alice": 3, "bob": 2, "carol": 1, None: 1}
    by_team = spend(gateway, by="team")["result"]
    assert [(row["key"], row["requests"]) for row in by_team] == [("red", 5), ("blue", 1), (None, 1)]
    assert by_team[0]["cost_usd"] == pytest.approx(5 * one)
    assert [(row["key"], row["requests"]) for row in spend(gateway, by="model")["result"]] == [(MODEL, 7)]


def test_the_trend_adds_up_to_the_totals_and_follows_one_spender(
    gateway: RunningGateway, spent: dict[str, str]
) -> None:
    everyone = spend(gateway, by="team", since="2h", interval="hour")
    assert everyone["interval"] == "hour"
    assert sum(point["requests"] for point in everyone["series"]) == 7
    assert len(everyone["series"]) in (2, 3)  # the hours the last two hours touch
    red = spend(gateway, by="team", key="red", since="2h")
    assert sum(point["requests"] for point in red["series"]) == 5
    assert sum(point["cost_usd"] for point in red["series"]) == pytest.approx(5 * answer_cost())
    long_ago = spend(gateway, by="team", since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")
    assert (long_ago["result"], long_ago["totals"]["requests"]) == ([], 0)


def test_each_spender_shows_what_is_left_of_its_budgets(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    one = answer_cost()
    team_rule = {
        "name": "team budget",
        "limit": 10 * one,
        "period": 86400,
        "unit": "cost",
        "scope": "metadata.team",
    }
    whole = {"name": "gateway budget", "limit": 100, "period": 3600}
    settings = {"rate_limits": [whole, team_rule]}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    own = {"name": "pocket money", "limit": 4 * one, "period": 86400, "unit": "cost"}
    alice_id, alice = mint(gateway, "alice", metadata={"team": "red"}, rules=[own])
    ask(gateway, alice, 3)
    gateway.wait_for_logs(3)
    by_token = spend(gateway, by="token")
    [row] = by_token["result"]
    [budget] = row["budgets"]
    assert (row["key"], budget["gateway"], budget["label"], budget["unit"]) == (
        alice_id,
        None,
        "pocket money",
        "cost",
    )
    assert budget["used"] == pytest.approx(3 * one)
    assert budget["remaining"] == pytest.approx(one)
    assert 0 < budget["reset_after"] <= 86400
    [gateway_wide] = by_token["budgets"]
    assert (gateway_wide["label"], gateway_wide["used"], gateway_wide["remaining"]) == (
        "gateway budget",
        3,
        97,
    )
    [red] = spend(gateway, by="team")["result"]
    [team] = red["budgets"]
    assert (team["gateway"], team["label"], team["rule"]["scope"]) == (
        "default",
        "team budget",
        "metadata.team",
    )
    assert team["remaining"] == pytest.approx(7 * one)


def test_requests_without_a_user_or_token_show_the_bucket_they_share(gateway: RunningGateway) -> None:
    per_user = {"name": "per user", "limit": 2, "period": 3600, "scope": "metadata.user"}
    per_token = {"name": "per token", "limit": 10, "period": 3600, "scope": "token"}
    settings = {"rate_limits": [per_user, per_token]}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    _, alice = mint(gateway, "alice", metadata={"user": "alice"})
    ask(gateway, alice)
    ask(gateway, None, 2)
    with pytest.raises(openai.RateLimitError):  # omitting the user does not escape the per-user limit
        ask(gateway, None)
    gateway.wait_for_logs(4)

    by_user = {row["key"]: row for row in spend(gateway, by="user")["result"]}
    [shared] = by_user[None]["budgets"]  # was [] ("no budget")
    assert (shared["label"], shared["used"], shared["remaining"]) == ("per user", 2, 0)
    assert [(b["label"], b["used"]) for b in by_user["alice"]["budgets"]] == [("per user", 1)]
    by_token = {row["key"]: row for row in spend(gateway, by="token")["result"]}
    assert [(b["label"], b["used"]) for b in by_token[None]["budgets"]] == [("per token", 2)]


def test_error_answers_cost_nothing_and_are_not_unpriced(gateway: RunningGateway) -> None:
    """A model no price covers: its answer is unpriced, its refusals and failures (no usage) are not."""
    url = gateway.provider_url("openai") + "/chat/completions"
    messages = [{"role": "user", "content": "hi"}]
    for behavior, status in (("error-400", 400), ("rate-limited", 429), ("error-500", 500), ("", 200)):
        answer = httpx.post(
            url,
            json={"model": "house-model-7", "messages": messages},
            headers={"authorization": "Bearer sk-test", "x-fake-behavior": behavior},
        )
        assert answer.status_code == status, answer.text
    records = gateway.wait_for_logs(4)
    assert sorted((r["status"], r["unpriced"]) for r in records) == [
        (200, True),
        (400, False),  # were True: counted "+3 unpriced" beside a cost of nothing
        (429, False),
        (500, False),
    ]
    totals = spend(gateway, by="model")["totals"]
    assert (totals["requests"], totals["unpriced"]) == (4, 1)


def test_a_token_limited_to_some_gateways_sees_only_their_spend(
    gateway: RunningGateway, spent: dict[str, str]
) -> None:
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "other"}).status_code == 201
    _, dave = mint(gateway, "dave", metadata={"user": "dave"})
    ask(gateway, dave, 2, slug="other")
    gateway.wait_for_logs(2, gateway="other")
    reader = gateway.http.post(TOKENS, json={"name": "r", "scopes": ["read"], "gateways": ["other"]}).json()[
        "token"
    ]
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {reader}"}) as limited:
        seen = spend(gateway, limited, by="user")
        assert [(row["key"], row["requests"], row["name"]) for row in seen["result"]] == [("dave", 2, None)]
        assert seen["gateways"] == ["other"]
        by_token = spend(gateway, limited, by="token")
        assert [row["name"] for row in by_token["result"]] == [None]  # token names are account data
        refused = limited.get(SPEND, params={"gateway": "default"})
        assert refused.status_code == 403
        assert (
            refused.json()["error"]["message"] == "this token is limited to gateways 'other', not 'default'"
        )
    assert spend(gateway, by="user", gateway="other")["totals"]["requests"] == 2
    assert spend(gateway, by="user")["totals"]["requests"] == 9


@pytest.mark.parametrize(
    ("params", "param", "hint"),
    [
        ({"by": "users"}, "by", "did you mean 'user'?"),
        ({"since": "last week"}, "since", "such as 7d"),
        ({"since": "1d", "until": "yesterday"}, "until", "ISO 8601"),
        ({"limit": "0"}, "limit", "from 1 to 1000"),
        ({"interval": "minute"}, "interval", "hour, day"),
        ({"since": "100d", "interval": "hour"}, "interval", "at most 720 hours (30 days); ask interval=day"),
        ({"since": "1000d", "interval": "hour"}, "since", "ask a since at most 720 days before until"),
        ({"gateway": "defualt"}, "gateway", "did you mean 'default'?"),
    ],
)
def test_bad_parameters_are_400s_saying_what_was_meant(
    gateway: RunningGateway, params: dict[str, str], param: str, hint: str
) -> None:
    response = gateway.http.get(SPEND, params=params)
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert hint in error["message"]
    if response.status_code == 400:
        assert error["param"] == param


def test_the_cli_prints_the_top_spenders(
    gateway: RunningGateway, spent: dict[str, str], tmp_path: Path
) -> None:
    printed = run_cli(
        tmp_path,
        "spend",
        "--by",
        "team",
        "--since",
        "1d",
        "--url",
        gateway.url,
        "--token",
        gateway.settings.admin_token,
    )
    assert printed.returncode == 0, printed.stdout + printed.stderr
    rows = table_rows(printed.stdout)
    assert [row[0] for row in rows[:3]] == ["red", "blue", "(none)"]
    assert rows[0][1] == "5"  # requests
    by_user = run_cli(
        tmp_path,
        "spend",
        "--by",
        "user",
        "--json",
        env={"SLUICEGATE_URL": gateway.url, "SLUICEGATE_TOKEN": gateway.settings.admin_token},
    )
    assert by_user.returncode == 0, by_user.stderr
    assert {row["key"]: row["requests"] for row in json.loads(by_user.stdout)["result"]} == {
        "alice": 3,
        "bob": 2,
        "carol": 1,
        None: 1,
    }
    bad = run_cli(
        tmp_path, "spend", "--by", "teams", "--url", gateway.url, "--token", gateway.settings.admin_token
    )
    assert bad.returncode == 1
    assert "did you mean 'team'?" in bad.stderr


def test_the_cli_prints_users_that_clients_chose_escaped_and_without_markup(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    user = "[bold]ana[/bold]\x1b]0;pwned\x07\x9b2J\u202eeve"
    ask(gateway, None, **{"cf-aig-metadata": json.dumps({"user": user})})  # JSON: ASCII in the header
    gateway.wait_for_logs(1)
    cli = ("--url", gateway.url, "--token", gateway.settings.admin_token)

    table = run_cli(tmp_path, "spend", "--by", "user", *cli, env={"COLUMNS": "200"})  # one line a row
    as_json = run_cli(tmp_path, "spend", "--by", "user", "--json", *cli)

    assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
    assert table_rows(table.stdout)[0][0] == "[bold]ana[/bold]\\x1b]0;pwned\\x07\\x9b2J\\u202eeve"
    assert as_json.stdout.isascii()
    assert json.loads(as_json.stdout)["result"][0]["key"] == user

"""A route's targets must name providers the account's requests can use: the built-in ones and
the account's own `custom-{slug}` ones. A target naming any other (a typo) is refused when the route
is saved, by every way of saving it, naming the path and the near match (tester-d F1: it was saved,
and then every request to the route was a 400 blamed on the client). A route that names a custom
provider deleted since it was saved is the operator's problem: a 500 `route_misconfigured`, listed
in the gateway's `route_errors`. Weights are JSON numbers (F5: "50" and true were taken)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cli import run_cli

SETTINGS = "/api/v1/accounts/local/gateways/default"
ROUTES = SETTINGS + "/routes"
CF_ROUTES = "/client/v4/accounts/local/ai-gateway/gateways/default/routes"
CUSTOM = "/api/v1/accounts/local/custom-providers"
MESSAGES: Any = [{"role": "user", "content": "hello"}]
TYPO = {"fallback": [{"model": "openai/gpt-4o-mini"}, {"model": "opneai/gpt-4o"}]}
TYPO_MESSAGE = "unknown provider 'opneai'; did you mean \"openai/gpt-4o\"?"


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    loopback = fake.url.removeprefix("http://")  # a custom provider may reach it once listed
    return make_gateway(
        upstreams={"openai": fake.base_url}, allowed_hosts=[loopback], secret_key="master-key-for-tests"
    )


@pytest.fixture
def client(gw: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.provider_url("compat"), api_key="sk-provider", max_retries=0) as made:
        yield made


def invalid_route(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "invalid_route"
    return error


def test_a_target_naming_an_unknown_provider_is_refused_by_every_save(gw: RunningGateway) -> None:
    put = invalid_route(gw.http.put(f"{ROUTES}/typo", json=TYPO))
    assert put["field"] == "routes.typo.fallback[1].model"
    assert put["message"] == f"routes.typo.fallback[1].model: {TYPO_MESSAGE}"
    # The editor's check says what saving would.
    assert invalid_route(gw.http.post(f"{ROUTES}/typo/validate", json=TYPO)) == put
    patched = invalid_route(gw.http.patch(SETTINGS, json={"settings": {"routes": {"typo": TYPO}}}))
    assert patched == put
    created = gw.http.post(
        "/api/v1/accounts/local/gateways", json={"name": "other", "settings": {"routes": {"typo": TYPO}}}
    )
    assert invalid_route(created)["field"] == "routes.typo.fallback[1].model"

    model = {"provider": "opneai", "model": "gpt-4o", "timeout": 30000, "retries": 0}
    elements = [
        {"id": "start", "type": "start", "outputs": {"next": {"elementId": "m"}}},
        {"id": "m", "type": "model", "properties": model,
         "outputs": {"success": {"elementId": "end"}, "fallback": {"elementId": "end"}}},
        {"id": "end", "type": "end", "outputs": {}},
    ]  # fmt: skip
    cloudflare = gw.http.post(CF_ROUTES, json={"name": "typo", "elements": elements})
    assert cloudflare.status_code == 400, cloudflare.text
    assert cloudflare.json()["errors"][0]["message"] == f"elements[1] ('m', model) (model): {TYPO_MESSAGE}"

    shown = gw.http.get(SETTINGS).json()
    assert (shown["settings"]["routes"], shown["route_errors"]) == ({}, {})
    assert gw.http.get("/api/v1/accounts/local/gateways/other").status_code == 404


def test_a_target_naming_another_route_is_refused_as_routes_do_not_nest(gw: RunningGateway) -> None:
    assert gw.http.put(f"{ROUTES}/inner", json={"model": "openai/gpt-4o-mini"}).status_code == 200
    error = invalid_route(gw.http.put(f"{ROUTES}/outer", json={"fallback": [{"model": "dynamic/inner"}]}))
    assert error["field"] == "routes.outer.fallback[0].model"
    assert "'dynamic/inner' names a route, and routes do not nest" in error["message"]


def test_a_custom_provider_of_the_account_is_a_target_until_it_is_deleted(
    gw: RunningGateway, fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    made = gw.http.post(CUSTOM, json={"name": "vLLM", "slug": "vllm", "base_url": fake.base_url})
    assert made.status_code == 201, made.text
    route = {"fallback": [{"model": "custom-vllm/served-model"}, {"model": "openai/gpt-4o-mini"}]}
    assert gw.http.put(f"{ROUTES}/own", json=route).status_code == 200
    assert gw.http.put(f"{ROUTES}/fast", json={"model": "openai/gpt-4o-mini"}).status_code == 200
    assert client.chat.completions.create(model="dynamic/own", messages=MESSAGES).model == "served-model"
    # A name a letter off is not the account's (nor is another account's: the test below).
    error = invalid_route(gw.http.put(f"{ROUTES}/own", json={"model": "custom-vlm/served-model"}))
    assert error["message"].endswith(
        "unknown provider 'custom-vlm'; did you mean \"custom-vllm/served-model\"?"
    )

    assert gw.http.delete(f"{CUSTOM}/vllm").status_code == 204
    with pytest.raises(openai.InternalServerError) as refused:
        client.chat.completions.create(model="dynamic/own", messages=MESSAGES)
    body = refused.value.response.json()["error"]
    assert (body["code"], body["route"]) == ("route_misconfigured", "own")
    assert "custom-vllm" not in refused.value.response.text  # the configuration is the operator's
    assert gw.http.get(SETTINGS).json()["route_errors"] == {
        "own": "routes.own.fallback[0].model: unknown provider 'custom-vllm'"
    }
    assert client.chat.completions.create(model="dynamic/fast", messages=MESSAGES).model == "gpt-4o-mini"


def test_another_account_s_custom_provider_is_not_a_target_of_this_account_s_routes(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    created = run_cli(
        gw.settings.data_dir, "token", "create", "--account", "other", "--new-account", "--scope", "admin"
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().rpartition(": ")[2]
    theirs = gw.http.post(
        "/api/v1/accounts/other/custom-providers",
        json={"name": "Theirs", "slug": "theirs", "base_url": fake.base_url},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert theirs.status_code == 201, theirs.text
    error = invalid_route(gw.http.put(f"{ROUTES}/borrowed", json={"model": "custom-theirs/served-model"}))
    assert (error["field"], error["message"]) == (
        "routes.borrowed.model",
        "routes.borrowed.model: unknown provider 'custom-theirs'",
    )
    assert gw.http.get(SETTINGS).json()["settings"]["routes"] == {}


@pytest.mark.parametrize(("weight", "written"), [("50", '"50"'), (True, "true")])
def test_a_weight_that_is_not_a_number_is_refused(gw: RunningGateway, weight: Any, written: str) -> None:
    split = {
        "split": [
            {"weight": weight, "then": {"model": "openai/a"}},
            {"weight": 1, "then": {"model": "openai/b"}},
        ]
    }
    error = invalid_route(gw.http.put(f"{ROUTES}/ab", json=split))
    assert error["problems"] == [
        {"path": "routes.ab.split[0].weight", "message": f"expected a number (e.g. 90 or 0.9), got {written}"}
    ]
    for number in (50, 0.5):
        split["split"][0]["weight"] = number
        assert gw.http.put(f"{ROUTES}/ab", json=split).status_code == 200

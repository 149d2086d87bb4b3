"""Mistakes people make, answered with a 4xx that says what was probably meant (issue 25).

A real gateway on loopback, the official OpenAI SDK where a client would use it, raw HTTP for the
admin API, the fake OpenAI as the upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

API = "/api/v1/accounts/local"
USER: list[Any] = [{"role": "user", "content": "hello there world"}]
RULE = {"limit": 10, "period": 60}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_base_url_ending_in_v1_is_a_404_naming_the_url_meant(gw: RunningGateway, fake: FakeOpenAI) -> None:
    doubled = OpenAI(base_url=gw.provider_url("openai") + "/v1", api_key="sk-test", max_retries=0)

    with pytest.raises(openai.NotFoundError) as caught:
        doubled.chat.completions.create(model="gpt-4o", messages=USER)

    message = caught.value.message
    assert "would reach https://api.openai.com/v1/v1/chat/completions" in message
    assert "Did you mean /v1/local/default/openai/chat/completions?" in message
    assert fake.requests == []  # refused before going upstream, where it could only be a bare 404
    # The path it suggests works.
    fixed = OpenAI(base_url=gw.provider_url("openai"), api_key="sk-test", max_retries=0)
    assert fixed.chat.completions.create(model="gpt-4o", messages=USER).choices[0].message.content


def test_a_universal_step_whose_endpoint_repeats_v1_says_which_step(gw: RunningGateway) -> None:
    steps = [{"provider": "openai", "endpoint": "v1/chat/completions", "headers": {}, "query": {}}]

    error = error_of(gw.http.post("/v1/local/default", json=steps), 404)

    assert error["message"].startswith("step 0: v1/chat/completions would reach")
    assert (error["step"], error["did_you_mean"]) == (0, "chat/completions")


def test_the_front_page_points_at_the_dashboard(gw: RunningGateway) -> None:
    browser = gw.http.get("/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert (browser.status_code, browser.headers["Location"]) == (302, "dashboard/")
    page = gw.http.get("/", headers={"Accept": "text/html"}, follow_redirects=True)
    assert (page.status_code, page.headers["Content-Type"]) == (200, "text/html; charset=utf-8")

    error = error_of(gw.http.get("/"), 404)
    assert "/dashboard/" in error["message"]
    assert error["dashboard"] == "/dashboard/"
    assert "/dashboard/" in error_of(gw.http.get("/nothing-here"), 404)["hint"]


def test_a_misspelt_settings_override_is_a_400_naming_the_closest(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    client = OpenAI(base_url=gw.provider_url("openai"), api_key="sk-test", max_retries=0)

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            extra_headers={"x-settings-overrides": '{"semantic_cache_enable": true}'},
        )

    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"] == (
        "x-settings-overrides: unknown setting 'semantic_cache_enable';"
        " did you mean 'semantic_cache_enabled'?"
    )
    assert (body["header"], body["setting"]) == ("x-settings-overrides", "semantic_cache_enable")
    assert fake.requests == []


def test_a_token_for_a_gateway_that_does_not_exist_is_refused(gw: RunningGateway) -> None:
    asked = {"name": "typo", "scopes": ["run"], "gateways": ["defualt"]}

    error = error_of(gw.http.post(f"{API}/tokens", json=asked), 400)

    assert error["message"] == "gateways: no gateway 'defualt' in account 'local'; did you mean 'default'?"
    assert (error["field"], error["gateways"]) == ("gateways", ["default"])
    assert [t["name"] for t in gw.http.get(f"{API}/tokens").json()["result"]] == [
        "bootstrap admin (SLUICEGATE_ADMIN_TOKEN)"
    ]


def test_analytics_for_an_unknown_gateway_is_a_404_not_zeros(gw: RunningGateway) -> None:
    assert gw.http.post(f"{API}/gateways", json={"name": "gone"}).status_code == 201
    client = OpenAI(base_url=gw.provider_url("openai", "gone"), api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=USER)
    gw.wait_for_logs(1, "gone")
    assert gw.http.delete(f"{API}/gateways/gone").status_code == 204

    error = error_of(gw.http.get(f"{API}/analytics", params={"gateway": "defautl"}), 404)
    assert error["message"] == "no gateway 'defautl' in account 'local'; did you mean 'default'?"
    assert (error["code"], error["gateways"]) == ("unknown_gateway", ["default"])
    # A deleted gateway's records stay, and so do its figures.
    kept = gw.http.get(f"{API}/analytics", params={"gateway": "gone"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["totals"]["requests"] == 1


def test_a_setting_sent_beside_settings_says_where_it_belongs(gw: RunningGateway) -> None:
    url = f"{API}/gateways/default"

    misplaced = error_of(gw.http.patch(url, json={"rate_limits": [RULE]}), 400)
    assert misplaced["message"] == (
        'rate_limits: Extra inputs are not permitted; it belongs under "settings":'
        ' send {"settings": {"rate_limits": …}}'
    )
    misspelt = error_of(gw.http.patch(url, json={"settings": {"rate_limit": [RULE]}}), 400)
    assert (
        misspelt["message"]
        == "settings.rate_limit: Extra inputs are not permitted; did you mean 'rate_limits'?"
    )
    created = error_of(
        gw.http.post(f"{API}/gateways", json={"name": "x", "settings": {"cache_tll": 60}}), 400
    )
    assert created["message"].endswith("did you mean 'cache_ttl'?")

    placed = gw.http.patch(url, json={"settings": {"rate_limits": [RULE]}})
    assert placed.status_code == 200, placed.text
    assert placed.json()["settings"]["rate_limits"][0]["limit"] == 10


def test_a_rule_scope_that_is_a_metadata_field_says_metadata_field(gw: RunningGateway) -> None:
    url = f"{API}/gateways/default"

    def refusal(scope: str) -> str:
        error = error_of(
            gw.http.patch(url, json={"settings": {"rate_limits": [RULE | {"scope": scope}]}}), 400
        )
        message: str = error["message"]
        return message

    assert refusal("user") == (
        "settings.rate_limits.0.scope: 'user' is no scope: gateway, token, provider, model or"
        " metadata.<field>; did you mean 'metadata.user' (a counter per value of that cf-aig-metadata"
        " field)?"
    )
    assert refusal("modle").endswith("; did you mean 'model'?")
    assert refusal("metadata.user name").endswith(
        "; a metadata field's name is 1 to 64 letters, digits, '_', '.' or '-'"
    )
    assert gw.http.get(url).json()["settings"]["rate_limits"] == []

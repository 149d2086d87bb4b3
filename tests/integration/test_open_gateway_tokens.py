"""A credential in a gateway-token header that cannot be a Sluicegate token, on an open gateway.

Cloudflare's "Expected behavior" table (https://developers.cloudflare.com/ai-gateway/configuration/authentication/):
authentication off and `cf-aig-authorization` present, the request succeeds. Apps that move from an
authenticated Cloudflare gateway keep sending their Cloudflare API token there; an open gateway
passes it over, and never sends, stores or logs it. A value of Sluicegate's own format (`sg_…`)
that names no active token is still refused, and an authenticated gateway refuses both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx2 as httpx
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

CHAT = "/v1/local/default/openai/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "open gateway"}]}
# What a Cloudflare API token looks like: 40 letters, digits, `-` and `_`.
CLOUDFLARE_TOKEN = "Cf7-Qm2v_Lk9Rt4Wp8Nc3Hb6Jd1Fg5Ys0Ua7Ie2O"
OWN_KEY = {"Authorization": "Bearer sk-own-openai-key-0123456789"}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url}, host_overrides={"api.openai.com": fake.url})


def everywhere(gateway: RunningGateway, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> str:
    """What the upstream got, what the gateway stored and what it logged, as one text."""
    records = gateway.wait_for_logs(1)
    stored = [
        gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{r['id']}").json() for r in records
    ]
    upstream = [(r.path, r.query_string, dict(r.headers), r.body.decode()) for r in fake.requests]
    # Not the test's own HTTP client (httpx, httpcore), which logs what it sends.
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith("http")]
    return json.dumps([stored, upstream, logged], default=str)


def test_an_open_gateway_answers_a_request_that_brings_a_cloudflare_api_token(
    gateway: RunningGateway, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"cf-aig-authorization": f"Bearer {CLOUDFLARE_TOKEN}", **OWN_KEY}
    answer = httpx.post(gateway.url + CHAT, json=BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: open gateway"
    # Cloudflare's own example sends the token without `Bearer` (its realtime page does).
    raw = httpx.post(
        gateway.url + CHAT, json=BODY, headers={"cf-aig-authorization": CLOUDFLARE_TOKEN, **OWN_KEY}
    )
    assert raw.status_code == 200, raw.text
    records = gateway.wait_for_logs(2)
    assert [(r["status"], r["token_id"]) for r in records] == [(200, None), (200, None)]
    assert [r.header("authorization") for r in fake.requests] == [OWN_KEY["Authorization"]] * 2
    assert CLOUDFLARE_TOKEN not in everywhere(gateway, fake, caplog)


def test_a_sluicegate_format_value_is_still_refused_and_an_authenticated_gateway_refuses_both(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    made_up = {"cf-aig-authorization": "Bearer sg_" + "x" * 32, **OWN_KEY}
    foreign = {"cf-aig-authorization": f"Bearer {CLOUDFLARE_TOKEN}", **OWN_KEY}
    refused = httpx.post(gateway.url + CHAT, json=BODY, headers=made_up)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"] == "the gateway token is invalid, expired or revoked"
    assert httpx.post(gateway.url + CHAT, json=BODY, headers=foreign).status_code == 200
    gateway.configure(authentication=True)
    for headers in (made_up, foreign):
        assert httpx.post(gateway.url + CHAT, json=BODY, headers=headers).status_code == 401
    assert len(fake.requests) == 1


def test_host_in_path_with_a_fastly_api_token_goes_to_the_open_host_gateway(
    gateway: RunningGateway, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Fastly AI Accelerator's clients send their Fastly API token in `Fastly-Key`: it names no
    gateway here, so the request goes where a tokenless one goes, if that gateway is open."""
    caplog.set_level(logging.DEBUG)
    url = gateway.url + "/api.openai.com/v1/chat/completions"
    headers = {"Fastly-Key": CLOUDFLARE_TOKEN, **OWN_KEY}
    answer = httpx.post(url, json=BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    assert CLOUDFLARE_TOKEN not in everywhere(gateway, fake, caplog)
    gateway.configure(authentication=True)
    assert httpx.post(url, json=BODY, headers=headers).status_code == 401
    assert len(fake.requests) == 1

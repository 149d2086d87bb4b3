"""A gateway token limited to some models, on a dynamic route: the route's first target, the model
it chose for the request, must be one of them (else a 403 naming it: never another model chosen
in its place); fallback targets after it that the token may not use are skipped.

The official openai SDK on the compat endpoint, sending the token in `cf-aig-authorization`; Claude
Sonnet 4.6 at the fake Anthropic, GPT-4o mini at the fake OpenAI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_spend import mint

ROUTES = "/api/v1/accounts/local/gateways/default/routes"
CLAUDE, MINI = "anthropic/claude-sonnet-4-6", "openai/gpt-4o-mini"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url, "anthropic": claude.base_url})
    for name, targets in (("claude_first", [CLAUDE, MINI]), ("mini_first", [MINI, CLAUDE])):
        node = {"fallback": [{"model": model, "max_attempts": 1} for model in targets]}
        assert gateway.http.put(f"{ROUTES}/{name}", json=node).status_code == 200
    return gateway


def ask(gateway: RunningGateway, secret: str, route: str, **headers: str) -> Any:
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"),
        api_key="sk-test",
        max_retries=0,
        default_headers={"cf-aig-authorization": f"Bearer {secret}", **headers},
    ) as client:
        return client.chat.completions.with_raw_response.create(
            model=f"dynamic/{route}", messages=[{"role": "user", "content": "hello"}], max_tokens=8
        )


def test_a_fallback_the_token_may_not_use_is_skipped_and_a_first_target_refused_not_replaced(
    gateway: RunningGateway, fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    _, secret = mint(gateway, "claude only", models=["claude-sonnet-4-6"])
    answered = ask(gateway, secret, "claude_first")  # was a 403 for gpt-4o-mini, never tried
    assert (answered.status_code, answered.headers["cf-aig-provider"]) == (200, "anthropic")
    # Claude fails: the route has no fallback left that the token may use.
    with pytest.raises(openai.InternalServerError):
        ask(gateway, secret, "claude_first", **{"x-fake-behavior": "error-500"})
    assert len(claude.requests) == 2
    # The model the route chose first is refused, not replaced by the next one the token may use.
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(gateway, secret, "mini_first")
    assert "not 'gpt-4o-mini'" in refused.value.message
    assert refused.value.body["allowed_models"] == ["claude-sonnet-4-6"]  # type: ignore[index]
    assert (fake.requests, len(claude.requests)) == ([], 2)

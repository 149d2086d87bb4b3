"""Workers AI in the path form of Cloudflare's API, against the fake upstream on loopback.

The official `cloudflare` SDK, given `base_url=…/workers-ai`, adds what it adds to the API root:
`accounts/{account_id}/ai/run/{model}` (the model percent-encoded); a client given Cloudflare's
OpenAI-compatible base URL with the gateway in place of the host sends `accounts/{id}/ai/v1/…`.
The gateway sends both where Cloudflare AI Gateway's forms (`{model}`, `v1/…`) go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cloudflare
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.workers_ai_server import FakeWorkersAI

MODEL = "@cf/meta/llama-3.1-8b-instruct"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]
TOKEN = "cf-api-token-0123456789abcdef"
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"  # the form of Cloudflare's account ids
OTHER_ACCOUNT = "9a7806061c88ada191ed06f989cc3dac"


@pytest.fixture
def fake() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI().serve() as server:
        yield server


def sdk(gateway: RunningGateway) -> cloudflare.Cloudflare:
    return cloudflare.Cloudflare(api_token=TOKEN, base_url=gateway.provider_url("workers-ai"), max_retries=0)


def test_the_cloudflare_sdk_runs_a_model_in_the_account_it_names(
    make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI
) -> None:
    """The URL's account is `local` (no Cloudflare account) and nothing is configured: the account
    the SDK names runs the model. The old code sent `…/ai/run/accounts/{id}/ai/run/@cf…`."""
    gateway = make_gateway(upstreams={"workers-ai": fake.base_url})
    with sdk(gateway) as client:
        result = client.ai.run(MODEL, account_id=ACCOUNT, messages=MESSAGES)
    assert isinstance(result, dict)
    assert result["response"] == "echo: what is the capital of France"
    forwarded = fake.requests[-1]
    assert forwarded.path == f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}"
    assert forwarded.header("authorization") == f"Bearer {TOKEN}"
    record = gateway.wait_for_logs(1)[0]
    assert (record["model"], record["status"]) == (MODEL, 200)
    assert (record["tokens_in"], record["tokens_out"]) == (
        result["usage"]["prompt_tokens"],
        result["usage"]["completion_tokens"],
    )
    assert record["cost_usd"] > 0  # priced: the model is the one the table knows


def test_the_openai_compatible_api_under_the_accounts_path(
    make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI
) -> None:
    gateway = make_gateway(upstreams={"workers-ai": fake.base_url})
    base_url = f"{gateway.provider_url('workers-ai')}/accounts/{ACCOUNT}/ai/v1"
    with openai.OpenAI(base_url=base_url, api_key=TOKEN, max_retries=0) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: what is the capital of France"
    assert fake.requests[-1].path == f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    record = gateway.wait_for_logs(1)[0]
    assert (record["endpoint"], record["model"]) == ("v1/chat/completions", MODEL)
    assert answer.usage is not None
    assert record["tokens_out"] == answer.usage.completion_tokens


def test_with_the_setting_the_path_must_name_its_account(
    make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI
) -> None:
    """`SLUICEGATE_WORKERS_AI_ACCOUNT_ID` is where every Workers AI request runs: the path may name
    that account (in any case), and another is the client's 400 naming both, sent nowhere."""
    gateway = make_gateway(upstreams={"workers-ai": fake.base_url}, workers_ai_account_id=ACCOUNT)
    with sdk(gateway) as client:
        client.ai.run(MODEL, account_id=ACCOUNT.upper(), messages=MESSAGES)
        assert fake.requests[-1].path == f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}"
        fake.clear()
        with pytest.raises(cloudflare.BadRequestError) as refused:
            client.ai.run(MODEL, account_id=OTHER_ACCOUNT, messages=MESSAGES)
    assert fake.requests == []
    error = refused.value.response.json()["error"]
    assert f"runs the model in the Cloudflare account {OTHER_ACCOUNT}," in error["message"]
    assert f"runs Workers AI in {ACCOUNT}, which" in error["message"]
    assert "SLUICEGATE_WORKERS_AI_ACCOUNT_ID" in error["message"]
    assert error["setting"] == "workers_ai_account_id"
    assert TOKEN not in refused.value.response.text


def test_another_workers_ai_api_under_the_accounts_path_is_a_404_saying_what_is_served(
    make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI
) -> None:
    """`ai.models.list` reads `accounts/{id}/ai/models/search`, which is no model run: the old code
    sent it as one (`…/ai/run/accounts/{id}/ai/models/search`)."""
    gateway = make_gateway(upstreams={"workers-ai": fake.base_url})
    with sdk(gateway) as client, pytest.raises(cloudflare.NotFoundError) as refused:
        client.ai.models.list(account_id=ACCOUNT)
    assert fake.requests == []
    message = refused.value.response.json()["error"]["message"]
    assert f"accounts/{ACCOUNT}/ai/models/search" in message
    assert "accounts/{account_id}/ai/run/{model}" in message
    assert "accounts/{account_id}/ai/v1/" in message

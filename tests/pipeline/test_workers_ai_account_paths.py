"""Which account a Workers AI path in the form of Cloudflare's API runs in (`WorkersAIAccount.place`).

The `cloudflare` SDK sends `accounts/{id}/ai/run/{model}`; the integration tests drive it against
the fake upstream. These cover the choices between the URL's account, the setting and the path's.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from sluicegate.errors import BadRequest
from sluicegate.exchange import Step
from sluicegate.pipeline.workers_ai_account import WorkersAIAccount
from sluicegate.providers.base import Route
from sluicegate.providers.workers_ai import WORKERS_AI

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
OTHER = "9a7806061c88ada191ed06f989cc3dac"
BODY = b'{"messages": [{"role": "user", "content": "hi"}]}'
SDK_PATH = f"accounts/{ACCOUNT}/ai/run/@cf%2Fmeta%2Fllama-3.1-8b-instruct"


def step(url_account: str, path: str) -> Step:
    route = Route(url_account, path)
    return Step(WORKERS_AI, route, CIMultiDict(), BODY, WORKERS_AI.read_request(route, BODY))


@pytest.mark.parametrize(
    ("url_account", "setting"),
    [("local", ""), (ACCOUNT, ""), ("local", ACCOUNT), (ACCOUNT.upper(), ""), ("local", ACCOUNT.upper())],
)
def test_a_path_naming_the_account_the_gateway_would_use_runs_there(url_account: str, setting: str) -> None:
    planned = step(url_account, SDK_PATH)
    WorkersAIAccount(setting).place(planned)
    assert planned.route.account.lower() == ACCOUNT
    assert planned.route.path == "@cf%2Fmeta%2Fllama-3.1-8b-instruct"
    assert planned.facts.model == "@cf/meta/llama-3.1-8b-instruct"
    assert WORKERS_AI.upstream_url("https://api.cloudflare.com", planned.route).endswith(
        "/ai/run/@cf%2Fmeta%2Fllama-3.1-8b-instruct"
    )


def test_a_url_named_after_another_account_is_a_400_naming_both() -> None:
    """A Sluicegate account named after a Cloudflare account id is that account (as on Cloudflare):
    a path naming another is refused, not run in either."""
    with pytest.raises(BadRequest) as refused:
        WorkersAIAccount().place(step(OTHER, SDK_PATH))
    message = str(refused.value)
    assert f"Cloudflare account {ACCOUNT}" in message
    assert f"runs Workers AI in {OTHER}" in message
    assert "the account segment of this URL" in message


def test_a_universal_steps_refusal_names_the_step() -> None:
    with pytest.raises(BadRequest) as refused:
        WorkersAIAccount(OTHER).place(step("local", SDK_PATH), 2)
    assert str(refused.value).startswith("step 2: ")
    assert refused.value.details == {"step": 2, "setting": "workers_ai_account_id"}


def test_a_path_account_that_is_no_cloudflare_account_id_is_a_400() -> None:
    """Even to another upstream (it would go into the upstream URL as the client wrote it)."""
    with pytest.raises(BadRequest, match="names the account 'local', which is not a Cloudflare"):
        WorkersAIAccount(base_url="http://127.0.0.1:9").place(step("local", "accounts/local/ai/run/@cf%2Fx"))


def test_the_openai_compatible_path_keeps_its_v1() -> None:
    planned = step("local", f"accounts/{ACCOUNT}/ai/v1/chat/completions")
    WorkersAIAccount().place(planned)
    assert (planned.route.account, planned.route.path) == (ACCOUNT, "v1/chat/completions")

"""Azure OpenAI's v1 API and its paths below `/openai/` that name no deployment, through the gateway.

Microsoft's recommended form since August 2025 (https://learn.microsoft.com/azure/ai-foundry/openai/
api-version-lifecycle) is `OpenAI(base_url="https://{resource}.openai.azure.com/openai/v1/")`: no
deployment in the path, no `api-version`, the deployment in the body's `model`. Through the gateway
that is `…/azure-openai/{resource}/openai/v1/` (or host-in-path `/{resource}.openai.azure.com/openai/v1/`);
`AzureOpenAI`'s own non-deployment paths (`/openai/responses?api-version=…`) go as they are, and
Cloudflare's `{resource}/{deployment}/…` form is unchanged (tests/integration/test_azure_openai.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.azure_server import FakeAzureOpenAI

API_VERSION = "2025-04-01-preview"
AZURE_KEY = "azure-key-0123456789abcdef"
RESOURCE = "my-resource"
HOST = f"{RESOURCE}.openai.azure.com"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]


@pytest.fixture
def fake() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI(api_key=AZURE_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAzureOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"azure-openai": fake.base_url}, host_overrides={HOST: fake.url})


@pytest.fixture
def clients() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as opened:
        yield opened


def v1_client(clients: contextlib.ExitStack, base_url: str, **options: Any) -> openai.OpenAI:
    """The v1 API's client as Microsoft's docs make it, the key also in `api-key`."""
    client = openai.OpenAI(
        base_url=base_url, api_key=AZURE_KEY, default_headers={"api-key": AZURE_KEY}, max_retries=0, **options
    )
    return clients.enter_context(client)


@pytest.mark.parametrize("host_in_path", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_v1_chat_reaches_the_v1_path_and_is_logged_under_the_bodys_deployment(
    gateway: RunningGateway,
    fake: FakeAzureOpenAI,
    clients: contextlib.ExitStack,
    host_in_path: bool,
    stream: bool,
) -> None:
    base = f"{gateway.url}/{HOST}" if host_in_path else f"{gateway.provider_url('azure-openai')}/{RESOURCE}"
    client = v1_client(clients, f"{base}/openai/v1/")
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        usage, model = chunks[-1].usage, chunks[1].model
    else:
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        usage, model = answer.usage, answer.model
    assert model == "gpt-4o-mini-2024-07-18"  # the deployment's model, as Azure answers
    forwarded = fake.requests[-1]
    assert (forwarded.path, forwarded.query_string) == ("/openai/v1/chat/completions", "")
    assert forwarded.header("api-key") == AZURE_KEY
    assert forwarded.json["model"] == "gpt-4o-mini"
    record = gateway.wait_for_logs(1)[0]
    assert usage is not None
    assert (record["provider"], record["model"], record["status"]) == ("azure-openai", "gpt-4o-mini", 200)
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert record["usage_estimated"] is False
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output.
    want = (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.6) / 1e6
    assert record["cost_usd"] == pytest.approx(want)


def test_v1_keeps_the_query_and_serves_responses_embeddings_and_models(
    gateway: RunningGateway, fake: FakeAzureOpenAI, clients: contextlib.ExitStack
) -> None:
    """A preview feature's `api-version=preview` goes on as sent; the v1 paths besides chat too."""
    base = f"{gateway.provider_url('azure-openai')}/{RESOURCE}/openai/v1/"
    client = v1_client(clients, base, default_query={"api-version": "preview"})
    response = client.responses.create(model="gpt-4o-mini", input="what is the capital of France")
    assert response.output_text == "echo: what is the capital of France"
    embedded = client.embeddings.create(model="text-embedding-3-small", input="what is a gateway")
    listed = [model.id for model in client.models.list()]
    assert "gpt-4o-mini-2024-07-18" in listed
    assert [(r.method, r.path, r.query_string) for r in fake.requests] == [
        ("POST", "/openai/v1/responses", "api-version=preview"),
        ("POST", "/openai/v1/embeddings", "api-version=preview"),
        ("GET", "/openai/v1/models", "api-version=preview"),
    ]
    records = {record["endpoint"]: record for record in gateway.wait_for_logs(3)}
    responses = next(r for endpoint, r in records.items() if endpoint.endswith("responses"))
    assert response.usage is not None
    assert (responses["model"], responses["tokens_in"], responses["tokens_out"]) == (
        "gpt-4o-mini",
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    embeddings = next(r for endpoint, r in records.items() if endpoint.endswith("embeddings"))
    assert (embeddings["model"], embeddings["tokens_in"]) == (
        "text-embedding-3-small",
        embedded.usage.prompt_tokens,
    )
    models = next(r for endpoint, r in records.items() if endpoint.endswith("models"))
    assert (models["model"], models["status"]) == (None, 200)


def test_azure_openai_clients_non_deployment_path_goes_as_it_is(
    gateway: RunningGateway, fake: FakeAzureOpenAI, clients: contextlib.ExitStack
) -> None:
    """`AzureOpenAI.responses` posts `/openai/responses?api-version=…` (no deployment); its chat still
    posts the deployment's path."""
    client = clients.enter_context(
        openai.AzureOpenAI(
            azure_endpoint=f"{gateway.url}/{HOST}", api_key=AZURE_KEY, api_version=API_VERSION, max_retries=0
        )
    )
    response = client.responses.create(model="gpt-4o-mini", input="what is the capital of France")
    assert response.model == "gpt-4o-mini-2024-07-18"
    client.chat.completions.create(model="prod-chat", messages=MESSAGES)
    assert [(r.path, r.query_string) for r in fake.requests] == [
        ("/openai/responses", f"api-version={API_VERSION}"),
        ("/openai/deployments/prod-chat/chat/completions", f"api-version={API_VERSION}"),
    ]
    models = {record["endpoint"].rpartition("/")[2]: record for record in gateway.wait_for_logs(2)}
    assert (models["completions"]["model"], models["responses"]["model"]) == ("prod-chat", "gpt-4o-mini")
    assert response.usage is not None
    assert models["responses"]["tokens_in"] == response.usage.input_tokens


def test_a_doubled_deployment_path_is_a_400_that_says_what_was_meant(
    gateway: RunningGateway, fake: FakeAzureOpenAI, clients: contextlib.ExitStack
) -> None:
    """`AzureOpenAI(azure_endpoint=…/azure-openai/{resource})` adds `/openai/deployments/{deployment}`
    to a base that already stands for it: Azure would get `/openai/deployments/openai/deployments/…`."""
    client = clients.enter_context(
        openai.AzureOpenAI(
            azure_endpoint=f"{gateway.provider_url('azure-openai')}/{RESOURCE}",
            api_key=AZURE_KEY,
            api_version=API_VERSION,
            max_retries=0,
        )
    )
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="prod-chat", messages=MESSAGES)
    message = refused.value.response.json()["error"]["message"]
    assert "Did you mean azure-openai/my-resource/prod-chat/chat/completions?" in message
    assert f"{HOST}" in message
    assert fake.requests == []


def test_compat_sends_resource_and_deployment_models_to_the_v1_api(
    gateway: RunningGateway, fake: FakeAzureOpenAI, clients: contextlib.ExitStack
) -> None:
    client = v1_client(clients, gateway.provider_url("compat"))
    answer = client.chat.completions.create(model=f"azure-openai/{RESOURCE}/gpt-4o-mini", messages=MESSAGES)
    assert answer.model == "gpt-4o-mini-2024-07-18"
    forwarded = fake.requests[-1]
    assert (forwarded.path, forwarded.query_string) == ("/openai/v1/chat/completions", "")
    assert forwarded.json["model"] == "gpt-4o-mini"
    assert forwarded.header("api-key") == AZURE_KEY
    record = gateway.wait_for_logs(1)[0]
    assert answer.usage is not None
    assert (record["provider"], record["model"], record["tokens_in"]) == (
        "azure-openai",
        "gpt-4o-mini",
        answer.usage.prompt_tokens,
    )


def test_compat_refuses_an_azure_model_without_its_resource(
    gateway: RunningGateway, fake: FakeAzureOpenAI, clients: contextlib.ExitStack
) -> None:
    client = v1_client(clients, gateway.provider_url("compat"))
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="azure-openai/gpt-4o", messages=MESSAGES)
    error = refused.value.response.json()["error"]
    assert "azure-openai/{resource}/{deployment}" in error["message"]
    assert "azure-openai/my-resource/gpt-4o" in error["message"]
    assert error["param"] == "model"
    assert fake.requests == []

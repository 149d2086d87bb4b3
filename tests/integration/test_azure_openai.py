"""Azure OpenAI through the gateway, against the fake Azure resource on loopback.

The direct calls use the official `AzureOpenAI` client the usual way (`azure_endpoint` +
`azure_deployment`). Through the gateway, clients use Cloudflare's documented form: an `OpenAI`
client whose base URL is `…/azure-openai/{resource}/{deployment}`, with `api-version` as a default
query and the key in an `api-key` header. (`AzureOpenAI` itself cannot produce that URL: for
deployment endpoints it inserts `/deployments/{model}` unless its base URL already contains
`/deployments`, see `openai/lib/azure.py` `_build_request`.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.azure_server import FakeAzureOpenAI

API_VERSION = "2024-10-21"
AZURE_KEY = "azure-key-0123456789abcdef"
ENTRA_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjb2duaXRpdmVzZXJ2aWNlcyJ9.c2lnbmF0dXJl"
RESOURCE = "my-resource"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]


@pytest.fixture
def fake() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI(api_key=AZURE_KEY, entra_token=ENTRA_TOKEN).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAzureOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"azure-openai": fake.base_url})


@pytest.fixture
def direct(fake: FakeAzureOpenAI) -> Iterator[Callable[..., openai.AzureOpenAI]]:
    """`AzureOpenAI` clients on the fake, the usual way; closed after the test."""
    with contextlib.ExitStack() as opened:

        def make(deployment: str, key: str = AZURE_KEY) -> openai.AzureOpenAI:
            client = openai.AzureOpenAI(
                azure_endpoint=fake.url,
                azure_deployment=deployment,
                api_version=API_VERSION,
                api_key=key,
                max_retries=0,
            )
            return opened.enter_context(client)

        yield make


@pytest.fixture
def proxied(gateway: RunningGateway) -> Iterator[Callable[..., openai.OpenAI]]:
    """`OpenAI` clients on the gateway as Cloudflare's docs configure them; closed after the test."""
    with contextlib.ExitStack() as opened:

        def make(deployment: str, key: str = AZURE_KEY) -> openai.OpenAI:
            client = openai.OpenAI(
                base_url=base_url(gateway, deployment),
                api_key=key,
                default_query={"api-version": API_VERSION},
                default_headers={"api-key": key},
                max_retries=0,
            )
            return opened.enter_context(client)

        yield make


def base_url(gateway: RunningGateway, deployment: str) -> str:
    return f"{gateway.provider_url('azure-openai')}/{RESOURCE}/{deployment}"


def test_chat_is_byte_identical_to_the_direct_answer(
    gateway: RunningGateway,
    fake: FakeAzureOpenAI,
    direct: Callable[..., openai.AzureOpenAI],
    proxied: Callable[..., openai.OpenAI],
) -> None:
    want = direct("prod-chat").chat.completions.with_raw_response.create(model="prod-chat", messages=MESSAGES)
    fake.clear()
    got = proxied("prod-chat").chat.completions.with_raw_response.create(model="prod-chat", messages=MESSAGES)
    assert got.http_response.content == want.http_response.content
    assert got.headers["apim-request-id"] == want.headers["apim-request-id"]
    assert got.parse().model == "gpt-4o-2024-08-06"  # the deployment's model, as Azure answers
    forwarded = fake.requests[-1]
    assert (forwarded.path, forwarded.query_string) == (
        "/openai/deployments/prod-chat/chat/completions",
        f"api-version={API_VERSION}",
    )
    assert forwarded.header("api-key") == AZURE_KEY
    record = gateway.wait_for_logs(1)[0]
    assert (record["model"], record["usage_estimated"]) == ("prod-chat", False)
    usage = got.parse().usage
    assert usage is not None
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)


def test_a_body_without_model_is_logged_under_its_deployment(gateway: RunningGateway) -> None:
    # Cloudflare's own example: no model in the body, the deployment chooses it.
    response = gateway.http.post(
        f"/v1/local/default/azure-openai/{RESOURCE}/gpt-4o-mini/chat/completions",
        params={"api-version": API_VERSION},
        headers={"api-key": AZURE_KEY},
        json={"messages": MESSAGES},
    )
    assert response.status_code == 200
    assert response.json()["model"] == "gpt-4o-mini-2024-07-18"
    record = gateway.wait_for_logs(1)[0]
    assert record["model"] == "gpt-4o-mini"
    assert record["cost_usd"] > 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_deployment_named_for_no_model_is_priced_by_the_model_its_answer_names(
    gateway: RunningGateway, proxied: Callable[..., openai.OpenAI], stream: bool
) -> None:
    """`prod-chat` prices nothing; Azure's answers say it runs gpt-4o-2024-08-06 (a stream in its
    chunks, after the prompt filter's chunk, which names "")."""
    client = proxied("prod-chat")
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="prod-chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        usage = chunks[-1].usage
    else:
        usage = client.chat.completions.create(model="prod-chat", messages=MESSAGES).usage
    assert usage is not None
    record = gateway.wait_for_logs(1)[0]
    assert record["model"] == "prod-chat"
    # gpt-4o-2024-08-06: $2.50 per million input tokens, $10 per million output tokens.
    want = (usage.prompt_tokens * 2.5 + usage.completion_tokens * 10) / 1e6
    assert record["cost_usd"] == pytest.approx(want)


def test_the_body_model_azure_ignores_does_not_price_the_answer(
    gateway: RunningGateway, proxied: Callable[..., openai.OpenAI]
) -> None:
    """Azure routes by deployment and ignores the body's `model` (LangChain's `AzureChatOpenAI`
    sends its `model` setting, `AzureOpenAIEmbeddings` always `text-embedding-ada-002`): the model
    the answer names is priced."""
    chat = proxied("gpt-4o-mini").chat.completions.create(model="gpt-4", messages=MESSAGES)
    assert chat.model == "gpt-4o-mini-2024-07-18"
    embedded = proxied("text-embedding-3-small").embeddings.create(
        model="text-embedding-ada-002", input="what is a gateway"
    )
    assert chat.usage is not None
    chat_record, embedding_record = sorted(gateway.wait_for_logs(2), key=lambda record: record["endpoint"])
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output (gpt-4: $30 and $60).
    want = (chat.usage.prompt_tokens * 0.15 + chat.usage.completion_tokens * 0.6) / 1e6
    assert chat_record["cost_usd"] == pytest.approx(want)
    # text-embedding-3-small: $0.02 per million tokens (ada-002: $0.10).
    assert embedding_record["cost_usd"] == pytest.approx(embedded.usage.prompt_tokens * 0.02 / 1e6)


def test_stream_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeAzureOpenAI, proxied: Callable[..., openai.OpenAI]
) -> None:
    def raw_stream(url: str) -> bytes:
        body = {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
        with httpx.stream(
            "POST", url, params={"api-version": API_VERSION}, headers={"api-key": AZURE_KEY}, json=body
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            return b"".join(response.iter_bytes())

    want = raw_stream(f"{fake.url}/openai/deployments/gpt-4o-mini/chat/completions")
    fake.clear()
    got = raw_stream(f"{base_url(gateway, 'gpt-4o-mini')}/chat/completions")
    assert got == want
    assert got.startswith(b'data: {"choices":[],')
    assert b"prompt_filter_results" in got.split(b"\n\n")[0]

    stream = proxied("gpt-4o-mini").chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None
    record = gateway.wait_for_logs(2)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert record["usage_estimated"] is False
    assert record["cost_usd"] > 0


def test_the_official_clients_agree_plain_and_streamed(
    direct: Callable[..., openai.AzureOpenAI],
    proxied: Callable[..., openai.OpenAI],
) -> None:
    azure, through = direct("prod-chat"), proxied("prod-chat")
    want = azure.chat.completions.create(model="prod-chat", messages=MESSAGES).choices[0].message.content
    got = through.chat.completions.create(model="prod-chat", messages=MESSAGES).choices[0].message.content
    assert got == want == "echo: what is the capital of France"
    streamed = through.chat.completions.create(
        model="prod-chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == want


def test_embeddings_follow_the_same_path(
    gateway: RunningGateway, fake: FakeAzureOpenAI, proxied: Callable[..., openai.OpenAI]
) -> None:
    embedding = proxied("text-embedding-3-small").embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"]
    )
    assert [len(item.embedding) for item in embedding.data] == [1536, 1536]
    assert fake.requests[-1].path == "/openai/deployments/text-embedding-3-small/embeddings"
    record = gateway.wait_for_logs(1)[0]
    assert record["tokens_in"] == embedding.usage.prompt_tokens == 3


@pytest.mark.parametrize(
    ("deployment", "key", "error", "code"),
    [
        ("rate-limited", AZURE_KEY, openai.RateLimitError, "429"),
        ("missing-deployment", AZURE_KEY, openai.NotFoundError, "DeploymentNotFound"),
        ("prod-chat", "wrong-key", openai.AuthenticationError, "401"),
        ("error-500", AZURE_KEY, openai.InternalServerError, None),
    ],
)
def test_upstream_errors_pass_through_in_azures_shape(
    gateway: RunningGateway,
    fake: FakeAzureOpenAI,
    deployment: str,
    key: str,
    error: type[openai.APIStatusError],
    code: str | None,
    direct: Callable[..., openai.AzureOpenAI],
    proxied: Callable[..., openai.OpenAI],
) -> None:
    with pytest.raises(error) as want:
        direct(deployment, key).chat.completions.create(model=deployment, messages=MESSAGES)
    fake.clear()
    with pytest.raises(error) as got:
        proxied(deployment, key).chat.completions.create(model=deployment, messages=MESSAGES)
    assert got.value.response.content == want.value.response.content
    assert got.value.status_code == want.value.status_code
    if code is not None:
        assert got.value.response.json()["error"]["code"] == code
    if deployment == "rate-limited":
        assert got.value.response.headers["retry-after"] == "1"
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["error"]) == (want.value.status_code, want.value.response.text)


def test_missing_api_version_is_azures_404(gateway: RunningGateway) -> None:
    response = gateway.http.post(
        f"/v1/local/default/azure-openai/{RESOURCE}/prod-chat/chat/completions",
        headers={"api-key": AZURE_KEY},
        json={"messages": MESSAGES},
    )
    assert (response.status_code, response.json()) == (
        404,
        {"error": {"code": "404", "message": "Resource not found"}},
    )


def test_stream_without_usage_is_counted_with_the_tokenizer(
    gateway: RunningGateway, proxied: Callable[..., openai.OpenAI]
) -> None:
    stream = proxied("gpt-4o-mini").chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-behavior": "no-usage"},
    )
    assert all(chunk.usage is None for chunk in stream)
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    assert record["tokens_out"] == 8  # "echo: what is the capital of France" in o200k_base
    assert record["tokens_in"] > 7


def test_a_path_cloudflare_would_not_map_is_404_and_never_sent(
    gateway: RunningGateway, fake: FakeAzureOpenAI
) -> None:
    response = gateway.http.post(
        "/v1/local/default/azure-openai/evil.example.com/prod-chat/chat/completions",
        params={"api-version": API_VERSION},
        json={"messages": MESSAGES},
    )
    assert response.status_code == 404
    assert "resource_name" in response.json()["error"]["message"]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("authorization", "sent"),
    [
        (f"Bearer {ENTRA_TOKEN}", ("authorization", f"Bearer {ENTRA_TOKEN}")),
        (AZURE_KEY, ("api-key", AZURE_KEY)),
        (f"Token {AZURE_KEY}", ("api-key", AZURE_KEY)),
    ],
)
def test_a_universal_steps_bearer_token_goes_as_authorization_and_a_key_as_api_key(
    gateway: RunningGateway, fake: FakeAzureOpenAI, authorization: str, sent: tuple[str, str]
) -> None:
    """Azure takes an API key in `api-key` and a Microsoft Entra ID token as `Authorization: Bearer`:
    a step's `authorization: "Bearer eyJ…"` is a token, not a key."""
    step = {
        "provider": "azure-openai",
        "endpoint": f"{RESOURCE}/prod-chat/chat/completions?api-version={API_VERSION}",
        "authorization": authorization,
        "query": {"messages": MESSAGES},
    }
    response = gateway.http.post("/v1/local/default", json=[step])
    assert response.status_code == 200, response.text
    name, value = sent
    forwarded = fake.requests[-1]
    assert forwarded.header(name) == value
    other = "api-key" if name == "authorization" else "authorization"
    assert forwarded.header(other) is None

"""One request shape per registered provider, for the suite that runs over the whole registry
(test_registry.py): its fake upstream, a generation request in its wire format, how to ask for the
same answer streamed, where its answer reports usage, and a host that reaches it host-in-path.

A provider added to the registry needs a case here (the suite checks that every one has one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.azure_server import FakeAzureOpenAI
from tests.fakes.cohere_server import FakeCohere
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.huggingface_server import FakeHuggingFace
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest
from tests.fakes.replicate_server import FakeReplicate
from tests.fakes.workers_ai_server import FakeWorkersAI


class Fake(Protocol):
    """What the suite needs of a fake upstream (every fake in tests/fakes has it)."""

    @property
    def url(self) -> str: ...

    @property
    def requests(self) -> list[RecordedRequest]: ...

    def serve(self) -> Any: ...

    def stop(self) -> None: ...


Tokens = tuple[int, int]  # (input, output) as the answer reports them


@dataclass(frozen=True)
class Host:
    """`/{host}/{path}` (or, `compat`, `/compat/openai/{host}/{path}`), the host mapped to the fake."""

    host: str
    path: str
    compat: bool = False


@dataclass(frozen=True)
class Case:
    make_fake: Callable[[], Fake]
    base_url: Callable[[Fake], str]  # the provider's configured upstream, pointing at the fake
    path: str  # after `/v1/{account}/{gateway}/{provider}/`, query included
    body: Callable[[str], dict[str, Any]]  # the request asking about `text`
    tokens: Callable[[Any], Tokens]  # from the JSON answer
    # The same request streamed: (path, body), or None where the provider streams no other way
    # through the gateway (Replicate: the output stream is fetched from Replicate directly).
    streamed: Callable[[str], tuple[str, dict[str, Any]]] | None
    host: Host | None = None  # None: the provider is not reachable host-in-path
    headers: tuple[tuple[str, str], ...] = ()  # headers every request of this format carries
    # Where the provider's API takes its key, as its reference says: (header, value around `{key}`).
    key: tuple[str, str] = ("Authorization", "Bearer {key}")


def _messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _chat(model: str) -> Callable[[str], dict[str, Any]]:
    return lambda text: {"model": model, "messages": _messages(text)}


def _chat_streamed(path: str, model: str) -> Callable[[str], tuple[str, dict[str, Any]]]:
    def streamed(text: str) -> tuple[str, dict[str, Any]]:
        body = {**_chat(model)(text), "stream": True, "stream_options": {"include_usage": True}}
        return path, body

    return streamed


def _chat_tokens(answer: Any) -> Tokens:
    return answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]


def _openai_like(path: str, base: Callable[[Fake], str], host: Host | None = None) -> Case:
    return Case(
        make_fake=FakeOpenAI,
        base_url=base,
        path=path,
        body=_chat("fake-chat-model"),
        tokens=_chat_tokens,
        streamed=_chat_streamed(path, "fake-chat-model"),
        host=host,
    )


def _v1(fake: Fake) -> str:
    return fake.url + "/v1"


def _root(fake: Fake) -> str:
    return fake.url


GEMINI = "v1beta/models/gemini-2.0-flash"
VERTEX = "v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash"
AZURE_QUERY = "?api-version=2024-10-21"


def _gemini_body(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def _gemini_tokens(answer: Any) -> Tokens:
    usage = answer["usageMetadata"]
    return usage["promptTokenCount"], usage["candidatesTokenCount"]


def _gemini(model_path: str, host: Host, key: tuple[str, str] = ("Authorization", "Bearer {key}")) -> Case:
    return Case(
        make_fake=FakeGemini,
        base_url=_root,
        path=f"{model_path}:generateContent",
        body=_gemini_body,
        tokens=_gemini_tokens,
        streamed=lambda text: (f"{model_path}:streamGenerateContent?alt=sse", _gemini_body(text)),
        host=host,
        key=key,
    )


def _anthropic_body(text: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": _messages(text)}


def _cohere_tokens(answer: Any) -> Tokens:
    billed = answer["usage"]["billed_units"]
    return billed["input_tokens"], billed["output_tokens"]


def _workers_tokens(answer: Any) -> Tokens:
    usage = answer["result"]["usage"]
    return usage["prompt_tokens"], usage["completion_tokens"]


def _replicate_tokens(answer: Any) -> Tokens:
    metrics = answer["metrics"]
    return metrics["input_token_count"], metrics["output_token_count"]


CASES: dict[str, Case] = {
    "openai": _openai_like("chat/completions", _v1, Host("api.openai.com", "v1/chat/completions")),
    "anthropic": Case(
        make_fake=FakeAnthropic,
        base_url=_root,
        path="v1/messages",
        body=_anthropic_body,
        tokens=lambda answer: (answer["usage"]["input_tokens"], answer["usage"]["output_tokens"]),
        streamed=lambda text: ("v1/messages", {**_anthropic_body(text), "stream": True}),
        host=Host("api.anthropic.com", "v1/messages"),
        headers=(("anthropic-version", "2023-06-01"),),
        key=("x-api-key", "{key}"),  # https://docs.anthropic.com/en/api/overview
    ),
    "google-ai-studio": _gemini(
        GEMINI,
        Host("generativelanguage.googleapis.com", f"{GEMINI}:generateContent"),
        key=("x-goog-api-key", "{key}"),  # https://ai.google.dev/gemini-api/docs/api-key
    ),
    "google-vertex-ai": _gemini(
        VERTEX, Host("us-central1-aiplatform.googleapis.com", f"{VERTEX}:generateContent")
    ),
    "azure-openai": Case(
        make_fake=FakeAzureOpenAI,
        base_url=_root,
        path=f"myresource/prod-chat/chat/completions{AZURE_QUERY}",
        body=lambda text: {"messages": _messages(text)},  # the deployment chooses the model
        tokens=_chat_tokens,
        streamed=lambda text: (
            f"myresource/prod-chat/chat/completions{AZURE_QUERY}",
            {"messages": _messages(text), "stream": True, "stream_options": {"include_usage": True}},
        ),
        host=Host(
            "myresource.openai.azure.com", f"openai/deployments/prod-chat/chat/completions{AZURE_QUERY}"
        ),
        key=("api-key", "{key}"),  # https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference
    ),
    "cohere": Case(
        make_fake=FakeCohere,
        base_url=_root,
        path="v2/chat",
        body=_chat("command-r-plus"),
        tokens=_cohere_tokens,
        streamed=lambda text: ("v2/chat", {**_chat("command-r-plus")(text), "stream": True}),
    ),
    "groq": _openai_like("chat/completions", _v1, Host("api.groq.com", "v1/chat/completions", compat=True)),
    "mistral": _openai_like(
        "v1/chat/completions", _root, Host("api.mistral.ai", "v1/chat/completions", compat=True)
    ),
    "deepseek": _openai_like(
        "chat/completions", _v1, Host("api.deepseek.com", "v1/chat/completions", compat=True)
    ),
    "openrouter": _openai_like(
        "chat/completions", _v1, Host("openrouter.ai", "v1/chat/completions", compat=True)
    ),
    "perplexity-ai": _openai_like(
        "chat/completions", _v1, Host("api.perplexity.ai", "v1/chat/completions", compat=True)
    ),
    "workers-ai": Case(
        make_fake=FakeWorkersAI,
        base_url=_root,
        path="@cf/meta/llama-3.1-8b-instruct",
        body=lambda text: {"messages": _messages(text)},
        tokens=_workers_tokens,
        streamed=lambda text: (
            "@cf/meta/llama-3.1-8b-instruct",
            {"messages": _messages(text), "stream": True},
        ),
    ),
    "huggingface": Case(
        make_fake=FakeHuggingFace,
        base_url=_root,
        path="v1/chat/completions",
        body=_chat("meta-llama/Llama-3.1-8B-Instruct"),
        tokens=_chat_tokens,
        streamed=_chat_streamed("v1/chat/completions", "meta-llama/Llama-3.1-8B-Instruct"),
    ),
    "replicate": Case(
        make_fake=FakeReplicate,
        base_url=_v1,
        path="models/meta/meta-llama-3-8b-instruct/predictions",
        body=lambda text: {"input": {"prompt": text}},
        tokens=_replicate_tokens,
        streamed=None,
        headers=(("Prefer", "wait"),),
    ),
}

"""How long each provider's requests let their answers grow (`Provider.output_cap`): the cap a
`tokens` or `cost` rule reserves for the answer, as each API spells it; 0 where nothing is
generated (embeddings, token counting); None where the body sets no cap."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.providers import REGISTRY, registry
from sluicegate.providers.base import Route
from sluicegate.providers.output_caps import capped, first, times

VERTEX = "v1/projects/p/locations/us-central1/publishers"
STUDIO = "v1beta/models/gemini-2.0-flash"
PROVIDERS = registry({"my-vllm": "http://localhost:8000/v1"})

# (provider, path, body, cap)
CASES: list[tuple[str, str, Any, int | None]] = [
    # OpenAI chat, completions and Responses: https://platform.openai.com/docs/api-reference
    ("openai", "chat/completions", {"max_tokens": 50}, 50),
    ("openai", "chat/completions", {"max_completion_tokens": 40, "max_tokens": 50}, 40),  # the newer name
    ("openai", "responses", {"max_output_tokens": 30}, 30),
    ("openai", "completions", {"max_tokens": 16}, 16),
    ("openai", "chat/completions", {"max_tokens": 20, "n": 3}, 60),  # three choices, each up to the cap
    ("openai", "chat/completions", {"max_tokens": 20, "n": True}, 20),
    ("openai", "chat/completions", {"max_tokens": True}, None),
    ("openai", "chat/completions", {"max_tokens": "50"}, None),
    ("openai", "chat/completions", {"max_tokens": 2.5}, None),
    ("openai", "chat/completions", {"max_tokens": -1}, None),
    ("openai", "chat/completions", {"messages": []}, None),
    ("openai", "chat/completions", [1, 2], None),
    ("openai", "chat/completions", None, None),
    ("openai", "embeddings", {"input": "hi", "max_tokens": 5}, 0),
    ("openai", "embeddings/", {"input": "hi"}, 0),
    ("groq", "openai/v1/embeddings", {"input": "hi"}, 0),
    ("mistral", "v1/embeddings", {"input": ["hi"]}, 0),
    ("my-vllm", "api/embed", {"input": "hi"}, 0),  # Ollama's
    ("my-vllm", "v1/chat/completions", {"max_tokens": 8}, 8),
    ("azure-openai", "res/prod-embed/embeddings", {"input": "hi"}, 0),
    ("azure-openai", "res/prod-embed/chat/completions", {"max_tokens": 7}, 7),  # a name is not the API
    # Gemini: https://ai.google.dev/api/generate-content#generationconfig
    ("google-ai-studio", f"{STUDIO}:generateContent", {"generationConfig": {"maxOutputTokens": 5}}, 5),
    (
        "google-ai-studio",
        f"{STUDIO}:generateContent",
        {"generationConfig": {"maxOutputTokens": 5, "candidateCount": 3}},
        15,
    ),
    (
        "google-ai-studio",
        f"{STUDIO}:streamGenerateContent",
        {"generation_config": {"max_output_tokens": 5, "candidate_count": 2}},  # the proto names
        10,
    ),
    ("google-ai-studio", f"{STUDIO}%3AgenerateContent", {"generationConfig": {"maxOutputTokens": 9}}, 9),
    ("google-ai-studio", f"{STUDIO}:generateContent", {"contents": [], "max_tokens": 5}, None),
    ("google-ai-studio", f"{STUDIO}:generateContent", {"generationConfig": {"temperature": 0}}, None),
    ("google-ai-studio", f"{STUDIO}:generateContent", {"generationConfig": None}, None),
    ("google-ai-studio", "v1beta/models/gemini-embedding-001:embedContent", {"content": {}}, 0),
    ("google-ai-studio", "v1beta/models/gemini-embedding-001:batchEmbedContents", {"requests": []}, 0),
    ("google-ai-studio", f"{STUDIO}:countTokens", {"contents": []}, 0),
    ("google-ai-studio", "v1beta/openai/chat/completions", {"max_tokens": 12, "n": 2}, 24),
    ("google-ai-studio", "v1beta/openai/embeddings", {"input": "hi"}, 0),
    (
        "google-vertex-ai",
        f"{VERTEX}/google/models/gemini-2.0-flash:generateContent",
        {"generationConfig": {"maxOutputTokens": 64}},
        64,
    ),
    ("google-vertex-ai", f"{VERTEX}/anthropic/models/claude-sonnet-4-5:rawPredict", {"max_tokens": 100}, 100),
    ("google-vertex-ai", f"{VERTEX}/anthropic/models/count-tokens:rawPredict", {"messages": []}, 0),
    (
        "google-vertex-ai",
        "v1/projects/p/locations/l/endpoints/openapi/chat/completions",
        {"max_tokens": 3},
        3,
    ),
    # Anthropic: https://docs.anthropic.com/en/api/messages
    ("anthropic", "v1/messages", {"max_tokens": 1024}, 1024),
    ("anthropic", "v1/messages/count_tokens", {"messages": []}, 0),
    ("anthropic", "v1/complete", {"max_tokens_to_sample": 300}, 300),
    ("anthropic", "v1/chat/completions", {"max_completion_tokens": 80}, 80),
    # Cohere: https://docs.cohere.com/reference/chat
    ("cohere", "v2/chat", {"max_tokens": 100}, 100),
    ("cohere", "v1/chat", {"max_tokens": 100}, 100),
    ("cohere", "v1/generate", {"max_tokens": 20, "num_generations": 3}, 60),
    ("cohere", "v2/embed", {"texts": ["hi"]}, 0),
    ("cohere", "v1/embed", {"texts": ["hi"]}, 0),
    ("cohere", "compatibility/v1/embeddings", {"input": "hi"}, 0),
    ("cohere", "compatibility/v1/chat/completions", {"max_completion_tokens": 50}, 50),
    # Hugging Face text generation: https://huggingface.co/docs/inference-providers/tasks/text-generation
    ("huggingface", "gpt2", {"inputs": "hi", "parameters": {"max_new_tokens": 50}}, 50),
    ("huggingface", "gpt2", {"inputs": "hi", "max_new_tokens": 50}, None),  # not where TGI reads it
    ("huggingface", "gpt2", {"inputs": "hi"}, None),
    ("huggingface", "sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction", {"inputs": "a"}, 0),
    ("huggingface", "sentence-transformers/all-MiniLM-L6-v2/pipeline/sentence-similarity", {"inputs": {}}, 0),
    ("huggingface", "v1/chat/completions", {"max_tokens": 10}, 10),
    ("huggingface", "meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions", {"max_completion_tokens": 9}, 9),
    # Replicate: a model's own `input` (https://replicate.com/meta/meta-llama-3.1-405b-instruct)
    ("replicate", "models/meta/meta-llama-3-8b-instruct/predictions", {"input": {"max_tokens": 512}}, 512),
    ("replicate", "v1/models/meta/llama-2-70b-chat/predictions", {"input": {"max_new_tokens": 128}}, 128),
    ("replicate", "predictions", {"version": "openai/o1-mini:1", "input": {"max_completion_tokens": 64}}, 64),
    ("replicate", "models/meta/meta-llama-3-8b-instruct/predictions", {"input": {"prompt": "hi"}}, None),
    ("replicate", "models/meta/meta-llama-3-8b-instruct/predictions", {"max_tokens": 512}, None),
    ("replicate", "deployments/acme/my-embedder/predictions", {"input": {"text": "hi"}}, 0),
    ("replicate", "predictions/abc123", None, None),  # a prediction read back
    # Workers AI: https://developers.cloudflare.com/workers-ai/models/
    ("workers-ai", "@cf/meta/llama-3.1-8b-instruct", {"prompt": "hi", "max_tokens": 256}, 256),
    ("workers-ai", "@cf%2Fmeta%2Fllama-3.1-8b-instruct", {"messages": [], "max_tokens": 64}, 64),
    ("workers-ai", "@cf/meta/llama-3.1-8b-instruct", {"prompt": "hi"}, None),
    ("workers-ai", "@cf/baai/bge-base-en-v1.5", {"text": ["hi"]}, 0),
    ("workers-ai", "@cf%2Fbaai%2Fbge-m3", {"text": "hi"}, 0),
    ("workers-ai", "@cf/google/embeddinggemma-300m", {"text": "hi"}, 0),
    ("workers-ai", "@cf/qwen/qwen3-embedding-0.6b", {"text": "hi"}, 0),
    ("workers-ai", "@cf/meta/m2m100-1.2b", {"text": "hi", "target_lang": "french"}, None),  # translates
    ("workers-ai", "v1/chat/completions", {"max_tokens": 30}, 30),
    ("workers-ai", "v1/embeddings", {"input": "hi"}, 0),
]


@pytest.mark.parametrize(("provider", "path", "body", "cap"), CASES)
def test_each_provider_reads_the_cap_its_api_sets(
    provider: str, path: str, body: Any, cap: int | None
) -> None:
    assert PROVIDERS[provider].output_cap(Route("acct", path), body) == cap


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_provider_answers_for_any_body(name: str) -> None:
    for body in (None, [], "text", {}, {"max_tokens": {"nested": 1}}, {"input": 3, "parameters": 4}):
        assert REGISTRY[name].output_cap(Route("acct", "anything"), body) is None
        assert REGISTRY[name].cap_field(Route("acct", "anything"), body) is None


@pytest.mark.parametrize(("provider", "path", "body", "cap"), CASES)
def test_the_field_a_refusal_names_is_where_the_cap_is_read(
    provider: str, path: str, body: Any, cap: int | None
) -> None:
    """`cap_field` reads the keys `output_cap` reads (the adapter's own), on every route."""
    found = PROVIDERS[provider].cap_field(Route("acct", path), body)
    assert (found.total if found is not None else None) == cap


def test_the_helpers_take_only_counts() -> None:
    assert capped({"a": 1, "b": 2}, ("b", "a")) == 2  # the first key the body holds
    assert capped({"a": None, "b": 2}, ("a", "b")) is None  # even when it holds no count
    assert capped({"a": 4, "n": 5}, ("a",), choices=None) == 4
    assert times(0, 3) == 0
    assert times(7, 0) == times(7, -2) == times(7, 1.5) == 7
    assert first({"x": 1}, ("y", "x")) == 1
    assert first("x", ("x",)) is None


# (provider, path, body, the field's name, its value for each answer, answers, thinking budget)
FIELDS: list[tuple[str, str, Any, str, int, int, int]] = [
    (
        "openai",
        "chat/completions",
        {"max_completion_tokens": 40, "max_tokens": 50, "n": 2},
        "max_completion_tokens",
        40,
        2,
        0,
    ),
    ("openai", "responses", {"max_output_tokens": 30}, "max_output_tokens", 30, 1, 0),
    ("cohere", "v1/generate", {"max_tokens": 20, "num_generations": 3}, "max_tokens", 20, 3, 0),
    (
        "google-ai-studio",
        f"{STUDIO}:generateContent",
        {"generationConfig": {"max_output_tokens": 5, "candidateCount": 3}},  # Google takes either spelling
        "generationConfig.max_output_tokens",
        5,
        3,
        0,
    ),
    (
        "google-ai-studio",
        "v1beta/openai/chat/completions",
        {"max_tokens": 12, "n": 2},
        "max_tokens",
        12,
        2,
        0,
    ),
    ("huggingface", "gpt2", {"parameters": {"max_new_tokens": 50}}, "parameters.max_new_tokens", 50, 1, 0),
    (
        "replicate",
        "predictions",
        {"input": {"max_completion_tokens": 64}},
        "input.max_completion_tokens",
        64,
        1,
        0,
    ),
    ("workers-ai", "@cf/meta/llama-3.1-8b-instruct", {"max_tokens": 256}, "max_tokens", 256, 1, 0),
    (
        "anthropic",
        "v1/messages",
        {"max_tokens": 8192, "thinking": {"type": "enabled", "budget_tokens": 4096}},
        "max_tokens",
        8192,
        1,
        4096,
    ),
    (
        "anthropic",
        "v1/messages",
        {"max_tokens": 8192, "thinking": {"type": "adaptive"}},
        "max_tokens",
        8192,
        1,
        0,
    ),
]


@pytest.mark.parametrize(("provider", "path", "body", "name", "value", "answers", "thinking"), FIELDS)
def test_each_provider_names_the_field_that_sets_its_cap(
    provider: str, path: str, body: Any, name: str, value: int, answers: int, thinking: int
) -> None:
    """What a refusal of the cap's reservation tells the client to lower (`Provider.cap_field`): the
    field as its API spells it, for each of the answers it asks for; `output_cap` is their total."""
    route = Route("acct", path)
    found = PROVIDERS[provider].cap_field(route, body)
    assert found is not None
    assert (found.name, found.value, found.answers, found.thinking) == (name, value, answers, thinking)
    assert PROVIDERS[provider].output_cap(route, body) == value * answers

"""Each adapter names the text format guardrails read its requests and answers in
(`Provider.text_format`): every registered provider for its plain request (registry_cases.py),
and the other endpoints each one's API has."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.guardrails.bodies import rewrite
from sluicegate.providers import REGISTRY, Provider
from sluicegate.providers.anthropic.adapter import ANTHROPIC
from sluicegate.providers.anthropic.texts import MESSAGE_BATCH_TEXTS, MESSAGES_TEXTS
from sluicegate.providers.azure_openai import AZURE_OPENAI
from sluicegate.providers.base import Route
from sluicegate.providers.cohere import COHERE
from sluicegate.providers.cohere_texts import COHERE_TEXTS
from sluicegate.providers.gemini.texts import GEMINI_EMBED_TEXTS, GEMINI_TEXTS
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.google_vertex_ai import GOOGLE_VERTEX_AI
from sluicegate.providers.huggingface import HUGGINGFACE
from sluicegate.providers.openai import OPENAI, OpenAICompatible
from sluicegate.providers.openai_compatible import DEEPSEEK, GROQ
from sluicegate.providers.openai_texts import CHAT_TEXTS, RESPONSES_TEXTS
from sluicegate.providers.prompt_texts import (
    COHERE_EMBED_TEXTS,
    COMPLETE_TEXTS,
    COMPLETIONS_TEXTS,
    EMBEDDINGS_TEXTS,
    IMAGES_TEXTS,
    MODERATIONS_TEXTS,
    SPEECH_TEXTS,
)
from sluicegate.providers.replicate import REPLICATE
from sluicegate.providers.texts import TextFormat
from sluicegate.providers.workers_ai.adapter import WORKERS_AI
from sluicegate.providers.workers_ai.texts import WORKERS_AI_TEXTS
from tests.integration.registry_cases import CASES

# The format of each registered provider's plain request; a provider added to the registry says
# here what guardrails read of it (None: nothing).
PLAIN: dict[str, TextFormat | None] = {
    "openai": CHAT_TEXTS,
    "anthropic": MESSAGES_TEXTS,
    "google-ai-studio": GEMINI_TEXTS,
    "google-vertex-ai": GEMINI_TEXTS,
    "azure-openai": CHAT_TEXTS,
    "cohere": COHERE_TEXTS,
    "groq": CHAT_TEXTS,
    "mistral": CHAT_TEXTS,
    "deepseek": CHAT_TEXTS,
    "openrouter": CHAT_TEXTS,
    "perplexity-ai": CHAT_TEXTS,
    "workers-ai": WORKERS_AI_TEXTS,  # native runs: `prompt`, `messages`, Cloudflare's envelope
    "huggingface": CHAT_TEXTS,
    "replicate": None,  # a model's own `input`
}
MESSAGES = [{"role": "user", "content": "hello"}]
VERTEX = "v1/projects/p/locations/l/"


def route(path: str) -> Route:
    path, _, query = path.partition("?")
    return Route("local", path, query)


def upper(text: str, role: str) -> str:
    return text.upper()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_provider_names_the_format_of_its_plain_request_and_guardrails_read_it(name: str) -> None:
    assert name in PLAIN, f"say in PLAIN which text format guardrails read {name}'s requests in"
    provider, case = REGISTRY[name], CASES[name]
    body = case.body("hello")
    found = provider.text_format(route(case.path), body)
    assert found is PLAIN[name]
    if case.streamed is not None:
        path, streamed = case.streamed("hello")
        assert provider.text_format(route(path), streamed) is found
    if found is not None:
        assert rewrite(found, body, upper)
        assert "HELLO" in str(body)
        assert "hello" not in str(body)


@pytest.mark.parametrize(
    ("provider", "path", "payload", "expected"),
    [
        (OPENAI, "chat/completions", {}, CHAT_TEXTS),  # by the path, whatever the body
        (OPENAI, "v1/chat/completions/", None, CHAT_TEXTS),
        (OPENAI, "responses", {"input": "hi"}, RESPONSES_TEXTS),
        (OPENAI, "embeddings", {"input": "hi"}, EMBEDDINGS_TEXTS),
        (OPENAI, "images/generations", {"prompt": "a cat"}, IMAGES_TEXTS),
        (OPENAI, "completions", {"prompt": "hi"}, COMPLETIONS_TEXTS),
        (OPENAI, "moderations", {"input": "hi"}, MODERATIONS_TEXTS),
        (OPENAI, "audio/speech", {"input": "hi"}, SPEECH_TEXTS),
        (OPENAI, "audio/transcriptions", None, None),  # a form: no JSON to read
        (OPENAI, "completions", {"messages": MESSAGES}, CHAT_TEXTS),  # by the body
        (DEEPSEEK, "anthropic/v1/messages", {"messages": MESSAGES}, MESSAGES_TEXTS),
        (GROQ, "openai/v1/chat/completions", {"messages": MESSAGES}, CHAT_TEXTS),
        (OpenAICompatible("local-vllm", "http://vllm"), "v1/responses", {}, RESPONSES_TEXTS),
        (AZURE_OPENAI, "res/dep/chat/completions", {"messages": MESSAGES}, CHAT_TEXTS),
        (AZURE_OPENAI, "res/dep/embeddings", {"input": "hi"}, EMBEDDINGS_TEXTS),
        (ANTHROPIC, "v1/messages", {}, MESSAGES_TEXTS),
        (ANTHROPIC, "v1/messages/count_tokens", {"messages": MESSAGES}, MESSAGES_TEXTS),  # `system` too
        (ANTHROPIC, "v1/chat/completions", {"messages": MESSAGES}, CHAT_TEXTS),  # its OpenAI SDK layer
        (ANTHROPIC, "v1/complete", {"prompt": "\n\nHuman: hi\n\nAssistant:"}, COMPLETE_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/models/g:streamGenerateContent", None, GEMINI_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/models%2Fg%3AgenerateContent", {}, GEMINI_TEXTS),  # percent-encoded
        (GOOGLE_AI_STUDIO, "v1beta/models/g:countTokens", {"contents": []}, GEMINI_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/models/g:embedContent", {"content": {"parts": []}}, GEMINI_EMBED_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/models/g:batchEmbedContents", {"requests": []}, GEMINI_EMBED_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/models/g:countTokens", {"generateContentRequest": {}}, GEMINI_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/openai/embeddings", {"input": "hi"}, EMBEDDINGS_TEXTS),
        (GOOGLE_AI_STUDIO, "v1beta/openai/chat/completions", {"messages": MESSAGES}, CHAT_TEXTS),
        (
            GOOGLE_VERTEX_AI,
            VERTEX + "publishers/google/models/g:generateContent",
            {},
            GEMINI_TEXTS,
        ),
        (GOOGLE_VERTEX_AI, VERTEX + "endpoints/openapi/chat/completions", {}, CHAT_TEXTS),
        # Partner models' rawPredict bodies carry `messages`: Claude's are Anthropic's, others chat's.
        (
            GOOGLE_VERTEX_AI,
            VERTEX + "publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict",
            {"messages": MESSAGES},
            MESSAGES_TEXTS,
        ),
        (
            GOOGLE_VERTEX_AI,
            VERTEX + "publishers/mistralai/models/m:rawPredict",
            {"messages": MESSAGES},
            CHAT_TEXTS,
        ),
        (WORKERS_AI, "@cf/meta/llama-3.1-8b-instruct", {"prompt": "hi"}, WORKERS_AI_TEXTS),
        (WORKERS_AI, "@cf/openai/gpt-oss-120b", {"input": "hi"}, WORKERS_AI_TEXTS),
        (WORKERS_AI, "@cf/baai/bge-base-en-v1.5", {"text": ["hi"]}, WORKERS_AI_TEXTS),
        (WORKERS_AI, "@cf/openai/whisper", None, None),  # audio bytes: no JSON to read
        (WORKERS_AI, "v1/chat/completions", {}, CHAT_TEXTS),
        (WORKERS_AI, "v1/responses", {"input": "hi"}, RESPONSES_TEXTS),
        (WORKERS_AI, "v1/embeddings", {"input": "hi"}, EMBEDDINGS_TEXTS),
        (COHERE, "v2/embed", {"texts": ["hi"]}, COHERE_EMBED_TEXTS),
        (COHERE, "compatibility/v1/embeddings", {"input": "hi"}, EMBEDDINGS_TEXTS),
        (ANTHROPIC, "v1/messages/batches", {"requests": []}, MESSAGE_BATCH_TEXTS),
        (COHERE, "v1/chat", {"message": "hi"}, COHERE_TEXTS),  # v1's `message`, `chat_history`
        (COHERE, "v2/chat", {}, COHERE_TEXTS),  # by the path, whatever the body
        (COHERE, "v1/generate", {"prompt": "hi"}, None),  # the legacy generate: not read
        (COHERE, "compatibility/v1/chat/completions", {}, CHAT_TEXTS),
        (HUGGINGFACE, "meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions", {}, CHAT_TEXTS),
        (HUGGINGFACE, "gpt2", {"inputs": "hi"}, None),
        (REPLICATE, "predictions", {"version": "v", "input": {"prompt": "hi"}}, None),
    ],
)
def test_the_format_of_each_endpoint(
    provider: Provider, path: str, payload: Any, expected: TextFormat | None
) -> None:
    assert provider.text_format(route(path), payload) is expected

"""The OpenAI-compatible providers as data: Cloudflare's paths, their usage quirks, custom providers."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.providers import REGISTRY, registry
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OpenAICompatible
from sluicegate.providers.openai_compatible import DEEPSEEK, GROQ, PERPLEXITY
from sluicegate.types import Usage

CHAT = Route("local", "chat/completions")


@pytest.mark.parametrize(
    ("provider", "path", "url"),
    [
        # Each row: the path Cloudflare's docs put after the provider segment, and where it goes.
        ("groq", "chat/completions", "https://api.groq.com/openai/v1/chat/completions"),
        ("groq", "openai/v1/chat/completions", "https://api.groq.com/openai/v1/chat/completions"),
        ("groq", "openai/v1/models", "https://api.groq.com/openai/v1/models"),
        ("mistral", "v1/chat/completions", "https://api.mistral.ai/v1/chat/completions"),
        ("deepseek", "chat/completions", "https://api.deepseek.com/chat/completions"),
        ("openrouter", "chat/completions", "https://openrouter.ai/api/v1/chat/completions"),
        ("openrouter", "v1/chat/completions", "https://openrouter.ai/api/v1/chat/completions"),
        ("perplexity-ai", "chat/completions", "https://api.perplexity.ai/chat/completions"),
    ],
)
def test_cloudflare_paths_reach_the_providers_urls(provider: str, path: str, url: str) -> None:
    adapter = REGISTRY[provider]
    assert adapter.name == provider
    assert adapter.upstream_url(adapter.default_base_url, Route("local", path)) == url


def test_a_configured_upstream_and_the_query_are_kept() -> None:
    route = Route("local", "openai/v1/chat/completions", "x=1")
    assert GROQ.upstream_url("http://127.0.0.1:9/v1", route) == "http://127.0.0.1:9/v1/chat/completions?x=1"


def test_custom_providers_join_the_registry_without_shadowing_it() -> None:
    providers = registry({"local-vllm": "http://127.0.0.1:8000/v1"})
    custom = providers["local-vllm"]
    assert isinstance(custom, OpenAICompatible)
    assert custom.upstream_url(custom.default_base_url, CHAT) == "http://127.0.0.1:8000/v1/chat/completions"
    assert providers["openai"] is REGISTRY["openai"]
    assert registry({}) == REGISTRY
    with pytest.raises(ValueError, match="groq"):
        registry({"groq": "http://127.0.0.1:8000/v1"})


def test_deepseek_cache_hits_are_cached_tokens() -> None:
    # https://api-docs.deepseek.com/api/create-chat-completion
    body = orjson.dumps(
        {
            "model": "deepseek-reasoner",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2"}}
            ],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 30,
                "total_tokens": 150,
                "prompt_cache_hit_tokens": 64,
                "prompt_cache_miss_tokens": 56,
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        }
    )
    usage = Usage(input_tokens=120, output_tokens=30, cached_tokens=64, reasoning_tokens=20)
    assert DEEPSEEK.read_usage(CHAT, body) == usage
    assert DEEPSEEK.output_text(CHAT, body, streamed=False) == "4"


def test_groq_streams_report_usage_in_x_groq() -> None:
    # https://console.groq.com/docs/api-reference — the last chunk carries x_groq.usage.
    stream = (
        b'data: {"id":"chatcmpl-g","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
        b'{"role":"assistant","content":"Hi"},"finish_reason":null}],"x_groq":{"id":"req_01"}}\n\n'
        b'data: {"id":"chatcmpl-g","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},'
        b'"finish_reason":"stop"}],"x_groq":{"id":"req_01","usage":{"queue_time":0.02,"prompt_tokens":12,'
        b'"prompt_time":0.001,"completion_tokens":1,"completion_time":0.002,"total_tokens":13}}}\n\n'
        b"data: [DONE]\n\n"
    )
    assert GROQ.read_stream_usage(CHAT, stream) == Usage(input_tokens=12, output_tokens=1)
    assert GROQ.output_text(CHAT, stream, streamed=True) == "Hi"


def test_perplexity_usage_ignores_its_search_fields() -> None:
    body = orjson.dumps(
        {
            "model": "sonar",
            "citations": ["https://example.com"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Cloudflare is ..."}}],
            "usage": {
                "prompt_tokens": 8,
                "completion_tokens": 40,
                "total_tokens": 48,
                "search_context_size": "low",
            },
        }
    )
    assert PERPLEXITY.read_usage(CHAT, body) == Usage(input_tokens=8, output_tokens=40)

"""The Azure OpenAI adapter: Cloudflare's `{resource}/{deployment}/{endpoint}` paths, OpenAI usage."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.errors import NotFound
from sluicegate.providers import REGISTRY
from sluicegate.providers.azure_openai import AZURE_OPENAI
from sluicegate.providers.base import Route
from sluicegate.types import Usage

CHAT = Route("local", "my-resource/prod-chat/chat/completions", "api-version=2024-10-21")
SAFE = {"filtered": False, "severity": "safe"}
FILTERS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
# Shapes as Azure sends them: OpenAI's, plus content filter results.
CHAT_BODY = orjson.dumps(
    {
        "id": "chatcmpl-AZ1",
        "object": "chat.completion",
        "created": 1727000000,
        "model": "gpt-4o-2024-08-06",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Paris."},
                "content_filter_results": FILTERS,
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 2,
            "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
)
CHAT_STREAM = (
    b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
    b'[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],'
    b'"created":1727000000,"id":"chatcmpl-AZ2","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk",'
    b'"usage":null}\n\n'
    b'data: {"choices":[{"content_filter_results":{},"delta":{"content":"Par"},"finish_reason":null,'
    b'"index":0}],"usage":null}\n\n'
    b'data: {"choices":[{"content_filter_results":{},"delta":{"content":"is."},"finish_reason":"stop",'
    b'"index":0}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":2,"total_tokens":21}}\n\n'
    b"data: [DONE]\n\n"
)


def test_registered_under_cloudflares_slug() -> None:
    assert REGISTRY["azure-openai"] is AZURE_OPENAI


def test_upstream_url_is_the_resources_deployment_path() -> None:
    url = AZURE_OPENAI.upstream_url(AZURE_OPENAI.default_base_url, CHAT)
    assert (
        url
        == "https://my-resource.openai.azure.com/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21"
    )
    embeddings = Route("local", "my-resource/embed-small/embeddings", "api-version=2024-10-21")
    assert AZURE_OPENAI.upstream_url("https://{resource}.openai.azure.com/", embeddings) == (
        "https://my-resource.openai.azure.com/openai/deployments/embed-small/embeddings?api-version=2024-10-21"
    )


def test_a_configured_upstream_replaces_the_host_with_or_without_the_resource() -> None:
    assert AZURE_OPENAI.upstream_url("http://127.0.0.1:9000", CHAT) == (
        "http://127.0.0.1:9000/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21"
    )
    assert AZURE_OPENAI.upstream_url("https://{resource}.privatelink.example", CHAT).startswith(
        "https://my-resource.privatelink.example/openai/deployments/prod-chat/"
    )


@pytest.mark.parametrize(
    "path",
    [
        "my-resource/prod-chat",  # no endpoint
        "my-resource//chat/completions",  # empty deployment
        "evil.example.com/prod-chat/chat/completions",  # not a resource name: would change the host
        "attacker@x/prod-chat/chat/completions",
        "",
    ],
)
def test_paths_cloudflare_would_not_map_are_not_found(path: str) -> None:
    with pytest.raises(NotFound, match="resource_name"):
        AZURE_OPENAI.upstream_url(AZURE_OPENAI.default_base_url, Route("local", path))


def test_model_is_the_bodys_else_the_deployment() -> None:
    facts = AZURE_OPENAI.read_request(CHAT, b'{"messages": [], "stream": true}')
    assert (facts.model, facts.stream) == ("prod-chat", True)
    assert AZURE_OPENAI.read_request(CHAT, b'{"model": "gpt-4o", "messages": []}').model == "gpt-4o"
    # A multipart body (audio transcription) still has a model: its deployment.
    audio = Route("local", "my-resource/whisper/audio/transcriptions", "api-version=2024-10-21")
    assert AZURE_OPENAI.read_request(audio, b"--boundary\r\n").model == "whisper"
    assert AZURE_OPENAI.read_request(Route("local", "bad"), b"{}").model is None


def test_usage_and_text_of_an_azure_answer() -> None:
    assert AZURE_OPENAI.read_usage(CHAT, CHAT_BODY) == Usage(input_tokens=19, output_tokens=2)
    assert AZURE_OPENAI.output_text(CHAT, CHAT_BODY, streamed=False) == "Paris."


def test_usage_and_text_of_an_azure_stream_with_its_prompt_filter_chunk() -> None:
    assert AZURE_OPENAI.read_stream_usage(CHAT, CHAT_STREAM) == Usage(input_tokens=19, output_tokens=2)
    assert AZURE_OPENAI.output_text(CHAT, CHAT_STREAM, streamed=True) == "Paris."
    without_usage = CHAT_STREAM.replace(
        b'"usage":{"prompt_tokens":19,"completion_tokens":2,"total_tokens":21}', b'"usage":null'
    )
    assert AZURE_OPENAI.read_stream_usage(CHAT, without_usage) is None

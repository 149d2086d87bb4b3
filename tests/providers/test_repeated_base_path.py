"""`repeated_base_path`: a path that repeats the end of its provider's base URL (`…/openai/v1/…`),
over every provider of the registry, so none of their documented paths is mistaken for one."""

from __future__ import annotations

import pytest

from sluicegate.providers import registry
from sluicegate.providers.base import Route, repeated_base_path

PROVIDERS = registry({"local-vllm": "http://127.0.0.1:8000/v1"})


@pytest.mark.parametrize(
    ("provider", "path", "found"),
    [
        ("openai", "v1/chat/completions", ("v1/", "chat/completions")),
        ("local-vllm", "v1/embeddings", ("v1/", "embeddings")),
        ("groq", "v1/chat/completions", ("v1/", "chat/completions")),
        ("groq", "openai/v1/v1/chat/completions", ("v1/", "chat/completions")),
        ("openrouter", "api/v1/chat/completions", ("api/v1/", "chat/completions")),
    ],
)
def test_a_repeated_end_of_the_base_is_found_with_the_path_meant(
    provider: str, path: str, found: tuple[str, str]
) -> None:
    assert repeated_base_path(PROVIDERS[provider], Route("local", path)) == found


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        ("openai", "chat/completions"),
        ("openai", "models/v1"),
        ("groq", "openai/v1/chat/completions"),  # the groq SDK's own form, which the adapter strips
        ("groq", "chat/completions"),
        ("openrouter", "v1/chat/completions"),
        ("mistral", "v1/chat/completions"),  # Mistral's base has no path: its paths carry the version
        ("anthropic", "v1/messages"),
        ("replicate", "predictions"),
        ("azure-openai", "my-resource/my-deployment/chat/completions"),
        ("workers-ai", "v1/chat/completions"),
        ("google-ai-studio", "v1beta/models/gemini-2.0-flash:generateContent"),
        (
            "google-vertex-ai",
            "v1/projects/p/locations/us-central1/publishers/google/models/m:generateContent",
        ),
    ],
)
def test_documented_paths_repeat_nothing(provider: str, path: str) -> None:
    assert repeated_base_path(PROVIDERS[provider], Route("local", path)) is None


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_no_provider_sees_a_repeat_in_a_path_without_its_base(provider: str) -> None:
    assert repeated_base_path(PROVIDERS[provider], Route("local", "chat/completions")) is None

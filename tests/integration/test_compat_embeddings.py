"""The unified endpoint's embeddings (`…/compat/embeddings`): the OpenAI SDK's `embeddings` reach
OpenAI-compatible providers as they are; the translations speak chat only, so a provider reached
through one is refused, naming the providers that do serve embeddings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI


@pytest.mark.parametrize("model", ["google-ai-studio/gemini-embedding-001", "anthropic/claude-sonnet-4-5"])
def test_a_refusal_lists_only_the_providers_that_serve_embeddings(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, model: str
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    messages: Any = [{"role": "user", "content": "hello"}]
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        assert client.embeddings.create(model="openai/text-embedding-3-small", input="hello").data
        with pytest.raises(openai.BadRequestError) as refused:
            client.embeddings.create(model=model, input="hello")
        with pytest.raises(openai.BadRequestError) as chat_refused:
            client.chat.completions.create(model="cohere/command-r", messages=messages)
    error: Any = refused.value.body
    assert f"{model.partition('/')[0]!r} is not available for compat/embeddings" in error["message"]
    assert {"openai", "mistral", "groq"} <= set(error["providers"])
    assert not {"anthropic", "google-ai-studio", "workers-ai"} & set(error["providers"])
    # Chat is served by the translations too.
    chat_error: Any = chat_refused.value.body
    assert {"anthropic", "google-ai-studio", "workers-ai", "openai"} <= set(chat_error["providers"])

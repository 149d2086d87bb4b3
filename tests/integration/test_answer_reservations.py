"""What a `tokens` rule reserves for an answer before it comes: the cap the request sets on it, as
its provider's API spells it (Gemini's `generationConfig.maxOutputTokens`), and nothing for an
embedding, which has no answer. Were the rule's `reserve` (1024) reserved instead, the whole limit
would be taken by each request under these limits, and the second one refused with most of the
budget left.

Clients are the official SDKs (google-genai, openai, cohere), without retries, against the fakes
on loopback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cohere
import httpx
import openai
import pytest
from cohere.errors import TooManyRequestsError
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.conftest import RunningGateway
from tests.fakes.cohere_server import FakeCohere
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

GEMINI = "gemini-2.0-flash"  # no thinking tokens: its answer is its words
PROMPT = "what is the capital of France"
TEXT = "the capital of France is Paris"
KEY = "key-for-the-provider"


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeGemini().serve() as ge, FakeCohere().serve() as co:
        yield {"openai": oa, "google-ai-studio": ge, "google-vertex-ai": ge, "cohere": co}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


def google(gateway: RunningGateway, vertex: bool) -> genai.Client:
    if vertex:
        # A token that never expires, so the SDK never tries to refresh it over the network.
        credentials = Credentials(token=KEY)  # type: ignore[no-untyped-call]
        return genai.Client(
            vertexai=True,
            project="acme",
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=gateway.provider_url("google-vertex-ai")),
        )
    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(
            base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta"
        ),
    )


def compat(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key=KEY, max_retries=0)


def admitted(send: Callable[[], object]) -> bool:
    """True if `send` was answered, False if the gateway refused it with a 429 (each SDK's error)."""
    try:
        send()
    except (openai.RateLimitError, TooManyRequestsError):
        return False
    except errors.ClientError as exc:
        if exc.code != 429:
            raise
        return False
    return True


def generate(gateway: RunningGateway, way: str, cap: int | None) -> bool:
    """One question to Gemini, its answer capped at `cap` tokens (None: not capped), sent `way`;
    True if answered, False if refused with a 429."""

    def send() -> None:
        if way == "compat":  # translated to `generationConfig.maxOutputTokens`
            capped = {} if cap is None else {"max_tokens": cap}
            messages: Any = [{"role": "user", "content": PROMPT}]
            with compat(gateway) as client:
                client.chat.completions.create(
                    model=f"google-ai-studio/{GEMINI}", messages=messages, **capped
                )
            return
        config = types.GenerateContentConfig(max_output_tokens=cap)
        with google(gateway, vertex=way == "vertex") as client:
            if way == "stream":
                list(client.models.generate_content_stream(model=GEMINI, contents=PROMPT, config=config))
            else:
                client.models.generate_content(model=GEMINI, contents=PROMPT, config=config)

    return admitted(send)


@pytest.mark.parametrize("way", ["generate", "stream", "vertex", "compat"])
def test_a_gemini_request_reserves_the_max_output_tokens_it_sets(
    gateway: RunningGateway, fakes: dict[str, Any], way: str
) -> None:
    gateway.configure(rate_limits=[{"limit": 300, "period": 3600, "unit": "tokens"}])
    # About 11 tokens reserved each (the prompt counted, and the 5 of the cap), 11 used (6 prompt
    # words, the answer cut at 5 words): room for many more.
    assert [generate(gateway, way, cap=5) for _ in range(4)] == [True] * 4
    # Without a cap, the rule's 1024 stand in: more than the 300 there were, let alone what is left.
    assert generate(gateway, way, cap=None) is False
    assert len(fakes["google-ai-studio"].requests) == 4
    sent = fakes["google-ai-studio"].requests[-1].json
    assert sent["generationConfig"]["maxOutputTokens"] == 5


def embed(gateway: RunningGateway, way: str) -> bool:
    """One text embedded, sent `way`; True if answered, False if refused with a 429."""

    def send() -> None:
        if way in ("openai", "compat"):
            url = gateway.provider_url("openai") if way == "openai" else gateway.provider_url("compat")
            model = "text-embedding-3-small" if way == "openai" else "openai/text-embedding-3-small"
            with openai.OpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
                assert client.embeddings.create(model=model, input=TEXT).data
        elif way == "gemini":  # sent as `:batchEmbedContents`
            with google(gateway, vertex=False) as client:
                assert client.models.embed_content(model="gemini-embedding-001", contents=TEXT).embeddings
        else:
            with httpx.Client(timeout=10) as http:
                client = cohere.ClientV2(
                    api_key=KEY, base_url=gateway.provider_url("cohere"), httpx_client=http, max_retries=0
                )
                assert client.embed(
                    model="embed-v4.0", texts=[TEXT], input_type="search_document", embedding_types=["float"]
                ).embeddings

    return admitted(send)


@pytest.mark.parametrize("way", ["openai", "compat", "gemini", "cohere"])
def test_an_embedding_reserves_no_output(gateway: RunningGateway, way: str) -> None:
    gateway.configure(rate_limits=[{"limit": 500, "period": 3600, "unit": "tokens"}])
    # Six words each: about 6 tokens reserved and used, where 1024 would reserve all 500.
    assert [embed(gateway, way) for _ in range(5)] == [True] * 5
    records = gateway.wait_for_logs(5)
    assert all(record["tokens_out"] == 0 for record in records)
    assert 0 < sum(record["tokens_in"] for record in records) < 100

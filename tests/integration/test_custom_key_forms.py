"""`cf-aig-cache-key` names one entry, streamed or not, served in the form each request asks for, also
where the route names the stream choice (Gemini's `:streamGenerateContent?alt=sse`, native or behind
the compat endpoint). Clients are the official SDKs; upstreams the loopback fakes."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from google import genai
from google.genai import types
from openai.types.chat import ChatCompletionMessageParam

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

PROMPT = "what is a cache"
TTL = {"cf-aig-cache-ttl": "600"}


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, gemini: FakeGemini
) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url, "google-ai-studio": gemini.base_url})


def studio(gateway: RunningGateway, name: str) -> genai.Client:
    options = types.HttpOptions(
        base_url=gateway.provider_url("google-ai-studio"),
        api_version="v1beta",
        headers={**TTL, "cf-aig-cache-key": name},
    )
    return genai.Client(api_key="AIza-fake-key", http_options=options)


@pytest.mark.parametrize("first", ["whole", "streamed"])
def test_native_gemini_streamed_and_whole_calls_share_a_named_entry(
    gateway: RunningGateway, gemini: FakeGemini, first: str
) -> None:
    client = studio(gateway, f"gemini-{first}")

    def whole() -> str | None:
        return client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT).text

    def streamed() -> str:
        chunks = client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT)
        return "".join(chunk.text or "" for chunk in chunks)

    calls = (whole, streamed) if first == "whole" else (streamed, whole)
    stored, served = calls[0](), calls[1]()
    assert served == stored
    assert stored is not None
    assert PROMPT in stored
    assert len(gemini.requests) == 1  # the second call, in the other form, was a hit
    assert [record["cache_status"] for record in gateway.wait_for_logs(2)] == ["HIT", "MISS"]


@pytest.mark.parametrize("first", ["whole", "streamed"])
def test_compat_gemini_streamed_and_whole_requests_share_a_named_entry(
    gateway: RunningGateway, gemini: FakeGemini, first: str
) -> None:
    with openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="AIza-fake-key", max_retries=0
    ) as client:
        headers = {**TTL, "cf-aig-cache-key": f"compat-{first}"}
        model = "google-ai-studio/gemini-2.0-flash"
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]

        def whole() -> tuple[str, str | None]:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=messages, extra_headers=headers
            )
            return raw.headers["cf-aig-cache-status"], raw.parse().choices[0].message.content

        def streamed() -> tuple[str, str | None]:
            with client.chat.completions.with_streaming_response.create(
                model=model, messages=messages, stream=True, extra_headers=headers
            ) as response:
                chunks = list(response.parse())
                status = response.headers["cf-aig-cache-status"]
            return status, "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)

        calls = (whole, streamed) if first == "whole" else (streamed, whole)
        (miss, stored), (hit, served) = calls[0](), calls[1]()
        assert (miss, hit) == ("MISS", "HIT")
        assert served == stored == f"echo: {PROMPT}"
        assert len(gemini.requests) == 1


@pytest.mark.parametrize("first", ["whole", "streamed"])
def test_openai_responses_streamed_and_whole_share_a_named_entry(
    gateway: RunningGateway, fake: FakeOpenAI, first: str
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        headers = {**TTL, "cf-aig-cache-key": f"responses-{first}"}

        def whole() -> tuple[str, str]:
            raw = client.responses.with_raw_response.create(
                model="gpt-4o-mini", input=PROMPT, extra_headers=headers
            )
            response = raw.parse()
            assert response.status == "completed"
            return raw.headers["cf-aig-cache-status"], response.output_text

        def streamed() -> tuple[str, str]:
            with client.responses.with_streaming_response.create(
                model="gpt-4o-mini", input=PROMPT, stream=True, extra_headers=headers
            ) as response:
                events = list(response.parse())
                status = response.headers["cf-aig-cache-status"]
            assert events[-1].type == "response.completed"
            deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
            assert deltas == events[-1].response.output_text
            return status, deltas

        calls = (whole, streamed) if first == "whole" else (streamed, whole)
        (miss, stored), (hit, served) = calls[0](), calls[1]()
        assert (miss, hit) == ("MISS", "HIT")
        assert served == stored == f"echo: {PROMPT}"
        assert len(fake.requests) == 1


@pytest.mark.parametrize("first", ["float", "base64"])
def test_embeddings_under_a_name_are_served_in_the_encoding_asked_for(
    gateway: RunningGateway, fake: FakeOpenAI, first: str
) -> None:
    """The SDKs ask for base64 by default and decode it; curl and most other clients ask for floats.
    One name's entry serves both, each in its own encoding, with the same float32 values."""
    headers = {**TTL, "cf-aig-cache-key": f"embeddings-{first}"}
    body = {"model": "text-embedding-3-small", "input": ["a cache", "a gateway"]}

    def raw(encoding: str) -> tuple[str, list[object]]:
        answer = gateway.http.post(
            gateway.provider_url("openai") + "/embeddings",
            json={**body, "encoding_format": encoding},
            headers={**headers, "Authorization": "Bearer sk-test"},
        )
        assert answer.status_code == 200, answer.text
        return answer.headers["cf-aig-cache-status"], [item["embedding"] for item in answer.json()["data"]]

    second = "base64" if first == "float" else "float"
    (miss, stored), (hit, served) = raw(first), raw(second)
    assert (miss, hit) == ("MISS", "HIT")
    assert len(fake.requests) == 1
    kinds = {"float": list, "base64": str}
    assert all(isinstance(vector, kinds[first]) for vector in stored)
    assert all(isinstance(vector, kinds[second]) for vector in served)

    # What the SDK decodes from a hit is what a float request gets, in either order.
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
        decoded = client.embeddings.create(**body, extra_headers=headers)  # type: ignore[arg-type]
    floats = stored if first == "float" else served
    assert [value for item in decoded.data for value in item.embedding] == pytest.approx(
        [value for vector in floats for value in vector]  # type: ignore[attr-defined]
    )
    assert len(fake.requests) == 1


@pytest.mark.parametrize("cache_enabled", [False, True])
def test_a_blank_key_names_no_entry(gateway: RunningGateway, fake: FakeOpenAI, cache_enabled: bool) -> None:
    """A template with an unset variable sends the header blank: each question is still its own
    entry (or none, where the gateway does not cache), never one shared by every request."""
    gateway.configure(cache_enabled=cache_enabled)
    questions = ["What is the capital of France?", "What is the capital of Peru?", "Name a prime."]
    with openai.OpenAI(
        base_url=gateway.provider_url("openai"), api_key="sk-test", default_headers={"cf-aig-cache-key": ""}
    ) as client:
        answers = [
            client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": question}]
            )
            for question in questions
        ]
    for question, answer in zip(questions, answers, strict=True):
        assert question in (answer.parse().choices[0].message.content or "")
        assert answer.headers.get("cf-aig-cache-status") == ("MISS" if cache_enabled else None)
    assert len(fake.requests) == 3

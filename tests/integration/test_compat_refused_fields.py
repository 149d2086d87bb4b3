"""A chat client's fields a provider refuses and that change no answer, on the compat endpoint:
the official `openai` SDK pointed at `…/compat`, against a fake that refuses what Mistral's chat
API lacks (a 422 `extra_forbidden`) and streams its usage on its last chunk, as Mistral does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.mistral_server import FakeMistral

MODEL = "mistral-small-latest"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]
ANSWER = "echo: what is the capital of France"


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeMistral) -> RunningGateway:
    return make_gateway(upstreams={"mistral": fake.url})  # Mistral's base URL is its host


def compat(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0)


def test_a_stream_asking_for_usage_gets_it_from_mistral(gateway: RunningGateway, fake: FakeMistral) -> None:
    """Mistral refuses `stream_options` and `user` (the old code sent them: a 422); its last chunk
    reports the usage the client asked for, and the log has Mistral's figures, not an estimate."""
    with compat(gateway) as client:
        chunks = list(
            client.chat.completions.create(
                model=f"mistral/{MODEL}",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                user="user-1",
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    usages = [chunk.usage for chunk in chunks if chunk.usage is not None]
    assert len(usages) == 1
    assert usages[0].completion_tokens == len(ANSWER.split())
    sent = fake.requests[-1].json
    assert not {"stream_options", "user"} & set(sent)
    assert (sent["model"], sent["stream"]) == (MODEL, True)
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["usage_estimated"]) == (200, False)
    assert (record["tokens_in"], record["tokens_out"]) == (
        usages[0].prompt_tokens,
        usages[0].completion_tokens,
    )
    # The provider endpoint (`…/mistral/v1`) passes the request through: Mistral's 422 is the client's.
    native = openai.OpenAI(base_url=f"{gateway.provider_url('mistral')}/v1", api_key="k", max_retries=0)
    with native, pytest.raises(openai.UnprocessableEntityError) as refused:
        native.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    assert refused.value.response.json()["message"]["detail"][0]["loc"] == ["body", "stream_options"]
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}


def test_a_cached_answer_served_as_a_stream_keeps_the_usage_asked(
    gateway: RunningGateway, fake: FakeMistral
) -> None:
    """The caches see the client's body: a whole answer stored under a name, served to a stream that
    asks for usage, ends in the usage chunk (the step's own body said nothing of it)."""
    gateway.configure(cache_enabled=True)
    named = {"cf-aig-cache-key": "capital"}
    with compat(gateway) as client:
        whole = client.chat.completions.create(
            model=f"mistral/{MODEL}", messages=MESSAGES, user="user-1", extra_headers=named
        )
        assert whole.choices[0].message.content == ANSWER
        assert "user" not in fake.requests[-1].json
        streamed = client.chat.completions.with_raw_response.create(
            model=f"mistral/{MODEL}",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=named,
        )
        assert streamed.headers["cf-aig-cache-status"] == "HIT"
        chunks = list(streamed.parse())
    assert len(fake.requests) == 1
    assert whole.usage is not None
    assert chunks[-1].choices == []
    assert chunks[-1].usage == whole.usage

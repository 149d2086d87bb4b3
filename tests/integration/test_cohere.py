"""Cohere through the gateway with the official `cohere` SDK, against the fake Cohere on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cohere
import httpx
import pytest
from cohere.errors import TooManyRequestsError

from tests.conftest import RunningGateway
from tests.fakes.cohere_server import PROMPT_TEMPLATE_TOKENS, FakeCohere

KEY = "co-0123456789abcdef"
MODEL = "command-a-03-2025"
MESSAGES: list[Any] = [{"role": "user", "content": "who discovered gravity"}]


@pytest.fixture
def fake() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeCohere) -> RunningGateway:
    return make_gateway(upstreams={"cohere": fake.base_url})


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def v2(base_url: str, http: httpx.Client) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=KEY, base_url=base_url, httpx_client=http, max_retries=0)


def test_chat_is_byte_identical_and_billed_units_are_logged(
    gateway: RunningGateway, fake: FakeCohere, http: httpx.Client
) -> None:
    body = {"model": MODEL, "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {KEY}"}
    want = http.post(f"{fake.base_url}/v2/chat", json=body, headers=headers)
    fake.clear()
    got = http.post(f"{gateway.provider_url('cohere')}/v2/chat", json=body, headers=headers)
    assert (got.status_code, got.content) == (200, want.content)
    assert fake.requests[-1].path == "/v2/chat"
    assert fake.requests[-1].header("authorization") == f"Bearer {KEY}"

    answer = v2(gateway.provider_url("cohere"), http).chat(model=MODEL, messages=MESSAGES)
    assert answer.message.content is not None
    assert answer.message.content[0].text == "echo: who discovered gravity"
    assert answer.usage is not None
    assert answer.usage.billed_units is not None
    record = gateway.wait_for_logs(2)[0]
    assert (record["model"], record["usage_estimated"]) == (MODEL, False)
    billed = answer.usage.billed_units
    assert (record["tokens_in"], record["tokens_out"]) == (billed.input_tokens, billed.output_tokens)
    assert record["cost_usd"] > 0


def test_stream_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeCohere, http: httpx.Client
) -> None:
    def raw_stream(url: str) -> bytes:
        body = {"model": MODEL, "messages": MESSAGES, "stream": True}
        with http.stream("POST", url, json=body, headers={"Authorization": f"Bearer {KEY}"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            return b"".join(response.iter_bytes())

    want = raw_stream(f"{fake.base_url}/v2/chat")
    fake.clear()
    assert raw_stream(f"{gateway.provider_url('cohere')}/v2/chat") == want

    events = list(v2(gateway.provider_url("cohere"), http).chat_stream(model=MODEL, messages=MESSAGES))
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    assert text == "echo: who discovered gravity"
    end = events[-1]
    assert end.type == "message-end"
    billed = end.delta.usage.billed_units
    record = gateway.wait_for_logs(2)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"], record["usage_estimated"]) == (
        billed.input_tokens,
        billed.output_tokens,
        False,
    )


def test_v1_chat_as_in_cloudflares_example_plain_and_streamed(
    gateway: RunningGateway, http: httpx.Client
) -> None:
    client = cohere.Client(
        api_key=KEY, base_url=gateway.provider_url("cohere"), httpx_client=http, max_retries=0
    )
    answer = client.chat(model="command-r-plus", message="what year was he born")
    assert answer.text == "echo: what year was he born"
    streamed = list(client.chat_stream(model="command-r-plus", message="what year was he born"))
    assert [e.event_type for e in streamed][-1] == "stream-end"
    stream_record, plain_record = gateway.wait_for_logs(2)
    assert answer.meta is not None
    assert answer.meta.billed_units is not None
    for record in (plain_record, stream_record):
        assert (record["tokens_in"], record["tokens_out"]) == (
            answer.meta.billed_units.input_tokens,
            answer.meta.billed_units.output_tokens,
        )
        assert record["usage_estimated"] is False
    assert (plain_record["stream"], stream_record["stream"]) == (False, True)


def test_embed_usage_is_logged(gateway: RunningGateway, http: httpx.Client) -> None:
    result = v2(gateway.provider_url("cohere"), http).embed(
        model="embed-v4.0",
        texts=["one two", "three"],
        input_type="search_document",
        embedding_types=["float"],
    )
    assert result.meta is not None
    assert result.meta.billed_units is not None
    assert gateway.wait_for_logs(1)[0]["tokens_in"] == result.meta.billed_units.input_tokens == 3


def test_upstream_errors_pass_through_in_cohere_shape(
    gateway: RunningGateway, fake: FakeCohere, http: httpx.Client
) -> None:
    with pytest.raises(TooManyRequestsError) as want:
        v2(fake.base_url, http).chat(model="rate-limited", messages=MESSAGES)
    fake.clear()
    with pytest.raises(TooManyRequestsError) as got:
        v2(gateway.provider_url("cohere"), http).chat(model="rate-limited", messages=MESSAGES)
    assert got.value.body == want.value.body
    assert set(got.value.body) == {"id", "message"}
    assert got.value.headers is not None
    assert got.value.headers["retry-after"] == "1"
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == 429
    assert "per minute request limit" in record["error"]


def test_stream_without_usage_is_counted_with_the_tokenizer(
    gateway: RunningGateway, http: httpx.Client
) -> None:
    events = list(v2(gateway.provider_url("cohere"), http).chat_stream(model="no-usage", messages=MESSAGES))
    assert events[-1].delta.usage is None
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    assert record["tokens_out"] > 0
    # Counted from the request, so without the template Cohere's own `tokens` would include.
    assert 0 < record["tokens_in"] < PROMPT_TEMPLATE_TOKENS

"""The Anthropic provider endpoint, driven by the official SDK, against the fake upstream on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import orjson
import pytest
from anthropic.types import MessageParam, TextBlockParam

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.integration.test_semantic import stored

MODEL = "claude-sonnet-4-6"
MESSAGES: list[MessageParam] = [{"role": "user", "content": "what is the capital of France"}]
PROVIDER_KEY = "sk-ant-api03-secret-0123456789abcdef"
SYSTEM: list[TextBlockParam] = [
    {
        "type": "text",
        "text": "You answer questions about European geography.",
        "cache_control": {"type": "ephemeral"},
    }
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeAnthropic) -> RunningGateway:
    return make_gateway(upstreams={"anthropic": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with sdk(gateway.provider_url("anthropic")) as proxied:
        yield proxied


def sdk(base_url: str) -> anthropic.Anthropic:
    # Plain HTTP on loopback: skip loading the CA bundle.
    http = anthropic.DefaultHttpxClient(verify=False)
    return anthropic.Anthropic(base_url=base_url, api_key=PROVIDER_KEY, max_retries=0, http_client=http)


def test_message_is_byte_identical_to_the_direct_answer(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    with sdk(fake.base_url) as direct_client:
        direct = direct_client.messages.with_raw_response.create(
            model=MODEL, max_tokens=256, messages=MESSAGES
        )
    fake.clear()  # ids count calls: start again so both answers are the same call number
    proxied = client.messages.with_raw_response.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    assert proxied.http_response.content == direct.http_response.content
    assert proxied.status_code == direct.status_code == 200
    assert proxied.request_id == direct.request_id == "req_fake_000001"
    assert proxied.parse().content[0].type == "text"
    # The request reached the upstream as the client sent it: path, key and API version.
    forwarded = fake.requests[-1]
    assert forwarded.path == "/v1/messages"
    assert forwarded.header("authorization") == f"Bearer {PROVIDER_KEY}"
    assert forwarded.header("anthropic-version") == direct.http_request.headers["anthropic-version"]
    assert forwarded.json == {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}
    record = gateway.wait_for_logs(1)[0]
    usage = proxied.parse().usage
    assert (record["tokens_in"], record["tokens_out"]) == (usage.input_tokens, usage.output_tokens)
    assert (record["model"], record["endpoint"], record["usage_estimated"]) == (MODEL, "v1/messages", False)
    assert record["cost_usd"] > 0


def test_raw_stream_is_byte_identical_with_curl_style_headers(
    gateway: RunningGateway, fake: FakeAnthropic
) -> None:
    # As Cloudflare's curl example sends it: x-api-key and a pinned anthropic-version.
    headers = {"x-api-key": PROVIDER_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES, "stream": True}

    def raw_stream(base_url: str) -> bytes:
        with httpx.stream("POST", f"{base_url}/v1/messages", json=body, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["request-id"] == "req_fake_000001"
            return b"".join(response.iter_bytes())

    direct = raw_stream(fake.base_url)
    fake.clear()
    proxied = raw_stream(gateway.provider_url("anthropic"))
    assert proxied == direct
    assert proxied.startswith(b"event: message_start\n")
    assert proxied.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    forwarded = fake.requests[-1]
    assert (forwarded.header("x-api-key"), forwarded.header("anthropic-version")) == (
        PROVIDER_KEY,
        "2023-06-01",
    )


def test_sdk_stream_helper_and_its_usage_with_thinking_are_logged(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=1024, messages=MESSAGES, thinking={"type": "adaptive"}
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: what is the capital of France"
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.usage.output_tokens_details is not None
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (
        final.usage.input_tokens,
        final.usage.output_tokens,
    )
    assert record["reasoning_tokens"] == final.usage.output_tokens_details.thinking_tokens > 0
    assert record["usage_estimated"] is False
    assert record["cost_usd"] > 0


def test_cache_reads_and_writes_count_as_input_and_reads_as_cached(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    first = client.messages.create(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES)
    second = client.messages.create(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES)
    written, read = first.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens
    assert written
    assert read
    assert written == read
    newest, oldest = gateway.wait_for_logs(2)[:2]
    assert (oldest["tokens_in"], oldest["cached_tokens"]) == (first.usage.input_tokens + written, 0)
    assert (newest["tokens_in"], newest["cached_tokens"]) == (second.usage.input_tokens + read, read)
    assert newest["cost_usd"] < oldest["cost_usd"]  # cache reads are cheaper than fresh input


def test_tool_use_stream_from_create_passes_through(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    tool: Any = {
        "name": "lookup",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
    events = list(
        client.messages.create(
            model=MODEL,
            max_tokens=256,
            messages=MESSAGES,
            tools=[tool],
            tool_choice={"type": "any"},
            stream=True,
        )
    )
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert orjson.loads(partial) == {"query": "what is the capital of France"}
    assert events[-2].type == "message_delta"
    assert events[-2].delta.stop_reason == "tool_use"
    record = gateway.wait_for_logs(1)[0]
    assert (record["tokens_out"], record["usage_estimated"]) == (events[-2].usage.output_tokens, False)


async def test_async_client_plain_stream_helper_and_raw_stream(gateway: RunningGateway) -> None:
    http = anthropic.DefaultAsyncHttpxClient(verify=False)
    url = gateway.provider_url("anthropic")
    async with anthropic.AsyncAnthropic(
        base_url=url, api_key=PROVIDER_KEY, max_retries=0, http_client=http
    ) as client:
        answer = await client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
        assert answer.content[0].type == "text"
        assert answer.content[0].text == "echo: what is the capital of France"
        async with client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
            streamed = "".join([text async for text in stream.text_stream])
        raw = await client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)
        pieces = [
            e.delta.text
            async for e in raw
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        ]
    assert streamed == "".join(pieces) == answer.content[0].text
    records = gateway.wait_for_logs(3)
    assert [r["stream"] for r in records] == [True, True, False]
    assert {r["tokens_out"] for r in records} == {answer.usage.output_tokens}


def test_stream_without_usage_is_counted_with_the_tokenizer(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    events = list(client.messages.create(model="no-usage", max_tokens=256, messages=MESSAGES, stream=True))
    assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    # "echo: what is the capital of France" is 8 tokens in o200k_base; the prompt a few more.
    assert record["tokens_out"] == 8
    assert record["tokens_in"] > 6


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("error-400", anthropic.BadRequestError),
        ("error-401", anthropic.AuthenticationError),
        ("rate-limited", anthropic.RateLimitError),
        ("error-529", anthropic.OverloadedError),
    ],
)
def test_upstream_errors_pass_through_in_anthropics_shape(
    gateway: RunningGateway,
    fake: FakeAnthropic,
    client: anthropic.Anthropic,
    model: str,
    error: type[anthropic.APIStatusError],
) -> None:
    with sdk(fake.base_url) as direct_client, pytest.raises(error) as direct:
        direct_client.messages.create(model=model, max_tokens=16, messages=MESSAGES)
    fake.clear()
    with pytest.raises(error) as proxied:
        client.messages.create(model=model, max_tokens=16, messages=MESSAGES)
    assert proxied.value.status_code == direct.value.status_code
    assert proxied.value.response.content == direct.value.response.content
    body = proxied.value.response.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    if model == "rate-limited":
        for header in ("retry-after", "anthropic-ratelimit-requests-remaining"):
            assert proxied.value.response.headers[header] == direct.value.response.headers[header]
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == direct.value.status_code
    assert record["error"] == direct.value.response.text


def test_error_event_mid_stream_reaches_the_client(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    # Anthropic may fail a stream after its 200: https://docs.anthropic.com/en/api/errors
    stream = client.messages.create(model="error-mid-stream", max_tokens=256, messages=MESSAGES, stream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(stream)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["stream"]) == (200, True)
    # message_start reported the input side; what was written before the failure is counted.
    whole = client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    assert record["tokens_in"] == whole.usage.input_tokens
    assert record["tokens_out"] > 1
    assert record["usage_estimated"] is True
    # The status went out before the failure; the record still says what failed.
    assert orjson.loads(record["error"]) == caught.value.body


def test_upstream_dropping_mid_stream_breaks_the_client_stream(
    gateway: RunningGateway, client: anthropic.Anthropic
) -> None:
    stream = client.messages.create(model="drop-mid-stream", max_tokens=256, messages=MESSAGES, stream=True)
    with pytest.raises((httpx.HTTPError, anthropic.APIError)):
        list(stream)
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == 200
    assert "broke off" in record["error"]
    # Billed for what it wrote before the break, not the 1 output token message_start announces.
    assert record["tokens_out"] > 1
    assert record["usage_estimated"] is True
    whole = client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    assert record["tokens_in"] == whole.usage.input_tokens


def test_count_tokens_and_models_pass_through(gateway: RunningGateway, client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES, system=SYSTEM)
    answer = client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, system=SYSTEM)
    usage = answer.usage
    assert counted.input_tokens == usage.input_tokens + (usage.cache_creation_input_tokens or 0)
    assert "claude-sonnet-4-6" in {model.id for model in client.models.list()}
    records = {r["endpoint"]: r for r in gateway.wait_for_logs(3)}
    counting = records["v1/messages/count_tokens"]
    # Counting tokens is free: zero usage, not a tokenizer estimate of the prompt.
    assert (counting["tokens_in"], counting["tokens_out"], counting["usage_estimated"]) == (0, 0, False)
    assert counting["cost_usd"] == 0
    assert records["v1/models"]["method"] == "GET"


def test_a_cached_answer_is_kept_apart_by_the_betas_asked_for(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    # A beta (a longer context, interleaved thinking, ...) changes the answer: a request that asks
    # for one must not be served what was stored for a request without it, nor the other way round.
    gateway.configure(cache_enabled=True)

    def status(beta: str | None) -> str:
        headers = {} if beta is None else {"anthropic-beta": beta}
        answer = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=256, messages=MESSAGES, extra_headers=headers
        )
        return answer.headers["cf-aig-cache-status"]

    assert status(None) == "MISS"
    assert status("context-1m-2025-08-07") == "MISS"
    assert status("interleaved-thinking-2025-05-14") == "MISS"
    assert [status(None), status("context-1m-2025-08-07")] == ["HIT", "HIT"]
    assert len(fake.requests) == 3


def test_a_cached_answer_is_kept_apart_by_the_api_version(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    # The API version decides the answer's shape and defaults: an answer stored under one version is
    # not served to a request under another, by the exact cache nor by the semantic one.
    def status(version: str, question: str = "what is the capital of France") -> str:
        answer = client.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": question}],
            extra_headers={"anthropic-version": version},
        )
        return answer.headers["cf-aig-cache-status"]

    gateway.configure(cache_enabled=True)
    assert [status("2023-06-01"), status("2023-01-01")] == ["MISS", "MISS"]
    assert [status("2023-06-01"), status("2023-01-01")] == ["HIT", "HIT"]
    gateway.configure(cache_enabled=False, semantic_cache_enabled=True)
    question = "which city is the capital of Spain"
    assert status("2023-06-01", question) == "MISS"
    stored(gateway, 1)  # (entries are stored after the answer)
    assert status("2023-01-01", question) == "MISS"
    stored(gateway, 2)
    assert status("2023-01-01", question) == "HIT"
    assert [r.header("anthropic-version") for r in fake.requests] == ["2023-06-01", "2023-01-01"] * 2


def test_a_stream_that_ends_in_an_error_event_is_not_cached(
    gateway: RunningGateway, fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    # Anthropic answers 200, then `event: error` (overloaded) mid-way: serving that again from the
    # cache would repeat a passing overload for the whole TTL.
    gateway.configure(cache_enabled=True)
    for _ in range(2):
        with (
            pytest.raises(anthropic.APIStatusError, match="overloaded"),
            client.messages.stream(model="error-mid-stream", max_tokens=256, messages=MESSAGES) as stream,
        ):
            stream.until_done()
    assert len(fake.requests) == 2
    assert [record["cache_status"] for record in gateway.wait_for_logs(2)] == ["MISS", "MISS"]

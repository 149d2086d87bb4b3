"""The OpenAI provider endpoint, driven by the official SDK, against the fake upstream on loopback."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]
PROVIDER_KEY = "sk-proj-secret-0123456789abcdef"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


SDK = Callable[[str], openai.OpenAI]


@pytest.fixture
def sdk() -> Iterator[SDK]:
    """The official client for a base URL, closed after the test: one left to the garbage collector
    warns about its open socket in whichever test happens to be running then."""
    with contextlib.ExitStack() as clients:
        yield lambda base_url: clients.enter_context(
            openai.OpenAI(base_url=base_url, api_key=PROVIDER_KEY, max_retries=0)
        )


def test_chat_completion_is_byte_identical_to_the_direct_answer(
    gateway: RunningGateway, fake: FakeOpenAI, sdk: SDK
) -> None:
    direct = sdk(fake.base_url).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    fake.clear()  # ids count calls: start again so both answers are the same call number
    proxied = sdk(gateway.provider_url("openai")).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert proxied.http_response.content == direct.http_response.content
    assert proxied.status_code == direct.status_code == 200
    assert proxied.headers["x-request-id"] == direct.headers["x-request-id"]
    assert proxied.headers["cf-aig-log-id"]
    # The request reached the upstream as the client sent it, provider key included.
    forwarded = fake.requests[-1]
    assert forwarded.path == "/v1/chat/completions"
    assert forwarded.header("authorization") == f"Bearer {PROVIDER_KEY}"
    assert forwarded.json == {"model": "gpt-4o-mini", "messages": MESSAGES}


def test_stream_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeOpenAI, sdk: SDK
) -> None:
    def raw_stream(base_url: str) -> bytes:
        with httpx.stream(
            "POST",
            f"{base_url}/chat/completions",
            json={
                "model": "gpt-4o",
                "messages": MESSAGES,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            headers={"Authorization": f"Bearer {PROVIDER_KEY}"},
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            return b"".join(response.iter_bytes())

    direct = raw_stream(fake.base_url)
    fake.clear()
    proxied = raw_stream(gateway.provider_url("openai"))
    assert proxied == direct
    assert proxied.endswith(b"data: [DONE]\n\n")

    chunks = list(
        sdk(gateway.provider_url("openai")).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    usage = chunks[-1].usage
    assert usage is not None
    record = gateway.wait_for_logs(2)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert record["usage_estimated"] is False
    assert record["cost_usd"] > 0


async def test_async_client_plain_and_streaming(gateway: RunningGateway) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.provider_url("openai"), api_key=PROVIDER_KEY, max_retries=0)
    async with client:
        answer = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert answer.choices[0].message.content == "echo: what is the capital of France"
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert text == answer.choices[0].message.content


def test_embeddings_responses_and_models(gateway: RunningGateway, sdk: SDK) -> None:
    client = sdk(gateway.provider_url("openai"))
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])
    assert [len(item.embedding) for item in embedding.data] == [1536, 1536]

    response = client.responses.create(model="gpt-4o", input="name a colour")
    assert response.output_text == "echo: name a colour"
    events = list(client.responses.create(model="gpt-4o", input="name a colour", stream=True))
    assert events[-1].type == "response.completed"
    assert {model.id for model in client.models.list()} >= {"gpt-4o", "gpt-4o-mini"}

    records = gateway.wait_for_logs(4)
    by_endpoint = {(r["endpoint"], r["stream"]): r for r in records}
    assert by_endpoint[("embeddings", False)]["tokens_in"] == embedding.usage.prompt_tokens
    assert response.usage is not None
    assert by_endpoint[("responses", False)]["tokens_out"] == response.usage.output_tokens
    assert by_endpoint[("responses", True)]["tokens_out"] == response.usage.output_tokens
    assert by_endpoint[("models", False)]["method"] == "GET"


def test_first_event_reaches_the_client_before_the_upstream_sends_the_second(
    gateway: RunningGateway, fake: FakeOpenAI, sdk: SDK
) -> None:
    stream = sdk(gateway.provider_url("openai")).chat.completions.create(
        model="pause-stream", messages=MESSAGES, stream=True, timeout=10
    )
    first = next(iter(stream))  # would block until the gate opens if the gateway buffered
    assert first.choices[0].delta.content == "echo:"
    assert not fake.pause().gate.is_set()
    fake.release()
    rest = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert rest.strip() == "what is the capital of France"


def test_stream_without_usage_is_counted_with_the_tokenizer(gateway: RunningGateway, sdk: SDK) -> None:
    chunks = list(
        sdk(gateway.provider_url("openai")).chat.completions.create(
            model="no-usage", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(chunk.usage is None for chunk in chunks)
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    # "echo: what is the capital of France" is 8 tokens in o200k_base; the prompt a few more.
    assert record["tokens_out"] == 8
    assert record["tokens_in"] > 7


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("error-400", openai.BadRequestError),
        ("rate-limited", openai.RateLimitError),
        ("error-503", openai.InternalServerError),
    ],
)
def test_upstream_errors_pass_through_unchanged(
    gateway: RunningGateway, fake: FakeOpenAI, model: str, error: type[openai.APIStatusError], sdk: SDK
) -> None:
    with pytest.raises(error) as direct:
        sdk(fake.base_url).chat.completions.create(model=model, messages=MESSAGES)
    fake.clear()
    with pytest.raises(error) as proxied:
        sdk(gateway.provider_url("openai")).chat.completions.create(model=model, messages=MESSAGES)
    assert proxied.value.status_code == direct.value.status_code
    assert proxied.value.response.content == direct.value.response.content
    if model == "rate-limited":
        assert proxied.value.response.headers["retry-after"] == direct.value.response.headers["retry-after"]
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == direct.value.status_code
    assert record["error"] == direct.value.response.text


def test_metadata_and_custom_cost_are_recorded(gateway: RunningGateway, sdk: SDK) -> None:
    client = sdk(gateway.provider_url("openai"))
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={
            "cf-aig-metadata": '{"user": "ada", "team": 7, "beta": true}',
            "cf-aig-custom-cost": '{"per_token_in": 0.001, "per_token_out": 0.002}',
        },
    )
    assert answer.usage is not None
    record = gateway.wait_for_logs(1)[0]
    # The gateway's own entry says the cost shown is the request's (Cloudflare's log `custom_cost`).
    assert record["metadata"] == {"user": "ada", "team": 7, "beta": True, "cost_source": "custom"}
    expected = answer.usage.prompt_tokens * 0.001 + answer.usage.completion_tokens * 0.002
    assert record["cost_usd"] == pytest.approx(expected)


def test_metadata_past_five_entries_keeps_the_first_five_and_says_which_were_dropped(
    gateway: RunningGateway, fake: FakeOpenAI, sdk: SDK
) -> None:
    """Cloudflare: "If more than five entries are provided, only the first five will be saved"
    (https://developers.cloudflare.com/ai-gateway/observability/custom-metadata/)."""
    sent = (
        '{"team": "search", "user": "ada", "env": "prod", "tier": 2, "beta": true,'
        ' "trace": "t-1", "\\u00e9,x": 1}'
    )
    raw = sdk(gateway.provider_url("openai")).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"cf-aig-metadata": sent}
    )
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content
    assert len(fake.requests) == 1
    assert fake.requests[0].header("cf-aig-metadata") is None
    assert raw.headers["x-sluicegate-metadata-dropped"] == '["trace", "\\u00e9,x"]'
    record = gateway.wait_for_logs(1)[0]
    assert list(record["metadata"].items()) == [
        ("team", "search"), ("user", "ada"), ("env", "prod"), ("tier", 2), ("beta", True)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "metadata",
    [
        '{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": {"x": 1}}',  # malformed past the fifth too
        '["not", "an", "object"]',
        '{"nested": {"x": 1}}',
        "{oops",
    ],
)
def test_bad_metadata_is_refused_and_logged(gateway: RunningGateway, fake: FakeOpenAI, metadata: str) -> None:
    response = gateway.http.post(
        "/v1/local/default/openai/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"cf-aig-metadata": metadata},
    )
    assert response.status_code == 400
    assert "cf-aig-metadata" in response.json()["error"]["message"]
    assert fake.requests == []
    assert gateway.wait_for_logs(1)[0]["status"] == 400


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        (
            '{"per_token_out": 2e-6, "total_cost": 1}',
            "cf-aig-custom-cost: total_cost prices the whole request: send it without per_token_out",
        ),
        (
            '{"per_token_input": 1e-6, "per_token_out": 2e-6}',
            "cf-aig-custom-cost: unknown key 'per_token_input'; did you mean 'per_token_in'?",
        ),
    ],
)
def test_a_bad_custom_cost_is_a_400_naming_the_header_once_and_what_was_meant(
    gateway: RunningGateway, fake: FakeOpenAI, cost: str, message: str
) -> None:
    response = gateway.http.post(
        "/v1/local/default/openai/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"cf-aig-custom-cost": cost},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert fake.requests == []


def test_unknown_gateway_and_provider_get_404s_naming_what_exists(gateway: RunningGateway) -> None:
    response = gateway.http.post("/v1/local/nope/openai/chat/completions", json={})
    assert response.status_code == 404
    assert response.json()["error"]["gateways"] == ["default"]
    response = gateway.http.post("/v1/local/default/not-a-provider/chat/completions", json={})
    assert response.status_code == 404
    assert "openai" in response.json()["error"]["providers"]
    assert [r["status"] for r in gateway.wait_for_logs(1)] == [404]
    assert [r["status"] for r in gateway.wait_for_logs(1, gateway="nope")] == [404]


def test_oversize_body_gets_413_and_is_logged(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, max_body_bytes=1000)
    response = gateway.http.post(
        "/v1/local/default/openai/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 2000}]},
    )
    assert response.status_code == 413
    assert response.json()["error"]["limit"] == 1000
    assert fake.requests == []
    assert gateway.wait_for_logs(1)[0]["status"] == 413


def test_refused_connection_is_502(
    make_gateway: Callable[..., RunningGateway], refused_port: int, sdk: SDK
) -> None:
    gateway = make_gateway(upstreams={"openai": f"http://127.0.0.1:{refused_port}/v1"})
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(gateway.provider_url("openai")).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_unreachable"  # type: ignore[index]
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == 502
    assert "connect" in record["error"]


def test_slow_upstream_is_504(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, sdk: SDK
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, upstream_timeout=0.2)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway.provider_url("openai")).chat.completions.create(model="slow-3000", messages=MESSAGES)
    assert caught.value.status_code == 504
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == 504
    assert record["latency_ms"] >= 200


def test_upstream_dropping_mid_stream_breaks_the_client_stream(gateway: RunningGateway, sdk: SDK) -> None:
    stream = sdk(gateway.provider_url("openai")).chat.completions.create(
        model="drop-mid-stream", messages=MESSAGES, stream=True
    )
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        list(stream)
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == 200
    assert "broke off" in record["error"]


def test_client_disconnect_mid_stream_is_logged(gateway: RunningGateway, fake: FakeOpenAI, sdk: SDK) -> None:
    stream = sdk(gateway.provider_url("openai")).chat.completions.create(
        model="pause-stream", messages=MESSAGES, stream=True, timeout=10
    )
    next(iter(stream))
    stream.close()  # hang up while the upstream is still generating
    record = gateway.wait_for_logs(1)[0]
    fake.release()
    assert record["error"] == "client disconnected before the response ended"
    assert record["stream"] is True


def test_an_error_event_the_client_hung_up_on_is_logged_as_the_providers_error(
    gateway: RunningGateway, fake: FakeOpenAI, sdk: SDK
) -> None:
    # OpenAI's in-stream error, `data: {"error": ...}`: the SDK raises at it and hangs up while the
    # upstream (paused) has not closed yet. The record names that error, not the hang-up.
    stream = sdk(gateway.provider_url("openai")).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        timeout=10,
        extra_headers={"x-fake-behavior": "error-mid-stream,pause-stream"},
    )
    with pytest.raises(openai.APIError, match="The server had an error") as caught:
        list(stream)
    stream.close()
    record = gateway.wait_for_logs(1)[0]
    fake.release()
    assert (record["status"], record["stream"]) == (200, True)
    assert record["error"] != "client disconnected before the response ended"
    assert orjson.loads(record["error"]) == {"error": caught.value.body}


def test_provider_keys_are_never_stored(gateway: RunningGateway, sdk: SDK) -> None:
    client = sdk(gateway.provider_url("openai"))
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-api-key": PROVIDER_KEY}
    )
    record = gateway.wait_for_logs(1)[0]
    detail = gateway.http.get(f"/api/v1/accounts/local/gateways/default/logs/{record['id']}").json()
    assert detail["request_headers"]["authorization"] == "[redacted]"
    assert detail["request_headers"]["x-api-key"] == "[redacted]"
    assert PROVIDER_KEY not in gateway.http.get("/api/v1/accounts/local/gateways/default/logs").text
    database = gateway.settings.data_dir / "sluicegate.db"
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(FULL)")
    for path in database.parent.rglob("*"):  # the log spool's files too
        if path.is_file():
            assert PROVIDER_KEY.encode() not in path.read_bytes(), path

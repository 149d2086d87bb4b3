"""The fake OpenAI upstream, driven by the official SDK: proof that it speaks the real wire format."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there world"}]


def sync_client(fake: FakeOpenAI, api_key: str = "sk-test") -> OpenAI:
    # Plain HTTP on loopback: skip loading the CA bundle, ~50-100 ms per client.
    http = openai.DefaultHttpxClient(verify=False)
    return OpenAI(base_url=fake.base_url, api_key=api_key, max_retries=0, http_client=http)


def async_client(fake: FakeOpenAI) -> AsyncOpenAI:
    http = openai.DefaultAsyncHttpxClient(verify=False)
    return AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, http_client=http)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[OpenAI]:
    with sync_client(fake) as sdk:
        yield sdk


@pytest.fixture
async def aclient(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with async_client(fake) as sdk:
        yield sdk


def test_chat_answers_with_echo_and_word_count_usage(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=USER)

    assert completion.id == "chatcmpl-fake-000001"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "echo: hello there world"
    assert completion.choices[0].finish_reason == "stop"
    # 3 words + 3 per message + 3 priming; the reply is 4 words.
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (9, 4)
    assert completion.usage.total_tokens == 13


def test_chat_max_tokens_cuts_the_reply(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=USER, max_tokens=2)

    assert completion.choices[0].message.content == "echo: hello"
    assert completion.choices[0].finish_reason == "length"


def test_chat_stream_without_include_usage_has_no_usage_chunk(client: OpenAI) -> None:
    with client.chat.completions.create(model="gpt-4o", messages=USER, stream=True) as stream:
        chunks = list(stream)

    assert len(chunks) == 5  # four one-word deltas and the finish chunk
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hello there world"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None and c.choices for c in chunks)


async def test_chat_stream_with_include_usage_ends_with_usage_chunk(aclient: AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 4)
    assert all(c.usage is None for c in chunks[:-1])


def test_no_usage_streams_without_usage_chunk_but_keeps_plain_usage(client: OpenAI) -> None:
    with client.chat.completions.create(
        model="no-usage", messages=USER, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    plain = client.chat.completions.create(model="no-usage", messages=USER)

    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert plain.usage is not None


def test_legacy_completions_plain_and_stream(client: OpenAI) -> None:
    completion = client.completions.create(model="gpt-4o", prompt="say hi")
    with client.completions.create(model="gpt-4o", prompt="say hi", stream=True) as stream:
        text = "".join(c.choices[0].text for c in stream)

    assert completion.object == "text_completion"
    assert completion.choices[0].text == text == "echo: say hi"


def test_embeddings_default_base64_matches_float(client: OpenAI, fake: FakeOpenAI) -> None:
    texts = ["the capital of France", "The capital of France?", "bananas are yellow"]
    decoded = client.embeddings.create(model="text-embedding-3-small", input=texts)
    floats = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")

    assert [r.json["encoding_format"] for r in fake.requests] == ["base64", "float"]
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    same, close, far = (d.embedding for d in decoded.data)
    assert len(same) == 1536
    assert math.isclose(sum(v * v for v in same), 1.0, rel_tol=1e-5)
    assert same == close  # case and punctuation do not change the words
    assert sum(a * b for a, b in zip(same, far, strict=True)) < 0.5
    assert decoded.usage.prompt_tokens == 11


def test_embeddings_honour_dimensions(client: OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=8)

    assert len(result.data[0].embedding) == 8


def test_responses_plain(client: OpenAI) -> None:
    response = client.responses.create(model="gpt-4o", input="hello there world")

    assert response.id == "resp_fake_000001"
    assert response.status == "completed"
    assert response.output_text == "echo: hello there world"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        9,
        4,
        13,
    )
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0


async def test_responses_stream_ends_with_completed_usage(aclient: AsyncOpenAI) -> None:
    stream = await aclient.responses.create(
        model="gpt-4o", input=[{"role": "user", "content": "hello there world"}], stream=True
    )
    events = [event async for event in stream]

    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[4:8] == ["response.output_text.delta"] * 4
    assert kinds[8:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "echo: hello there world"
    assert completed.response.usage is not None
    assert completed.response.usage.total_tokens == 13


def test_models_list_and_retrieve(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert client.models.retrieve("gpt-4o-mini").owned_by == "system"


@pytest.mark.parametrize(
    ("behavior", "error", "status", "type_", "code"),
    [
        ("error-400", openai.BadRequestError, 400, "invalid_request_error", None),
        ("error-401", openai.AuthenticationError, 401, "invalid_request_error", "invalid_api_key"),
        ("error-404", openai.NotFoundError, 404, "invalid_request_error", "model_not_found"),
        ("rate-limited", openai.RateLimitError, 429, "requests", "rate_limit_exceeded"),
        ("error-500", openai.InternalServerError, 500, "server_error", None),
        ("error-503", openai.InternalServerError, 503, "server_error", None),
    ],
)
def test_error_behaviours_raise_the_matching_sdk_error(
    client: OpenAI,
    behavior: str,
    error: type[openai.APIStatusError],
    status: int,
    type_: str,
    code: str | None,
) -> None:
    with pytest.raises(error) as raised:
        client.chat.completions.create(model=behavior, messages=USER)

    assert raised.value.status_code == status
    assert (raised.value.type, raised.value.code) == (type_, code)
    assert raised.value.response.headers["x-request-id"] == "req_fake_000001"


def test_rate_limited_sends_retry_headers(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"x-fake-behavior": "rate-limited,retry-after-ms-20"}
        )

    headers = raised.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "20")
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_behavior_header_wins_over_model(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="error-404", messages=USER, extra_headers={"x-fake-behavior": "error-500"}
        )


def test_fail_then_ok_counts_per_key(client: OpenAI) -> None:
    def attempt(key: str) -> str:
        try:
            client.chat.completions.create(
                model="fail-2-then-ok", messages=USER, extra_headers={"x-fake-key": key}
            )
        except openai.InternalServerError:
            return "fail"
        return "ok"

    assert [attempt("a"), attempt("a"), attempt("b"), attempt("a"), attempt("b")] == [
        "fail",
        "fail",
        "fail",
        "ok",
        "fail",
    ]


def test_slow_delays_the_answer(client: OpenAI) -> None:
    started = time.monotonic()
    client.chat.completions.create(model="slow-300", messages=USER)

    assert time.monotonic() - started >= 0.3


def test_client_timeout_on_slow_does_not_hold_up_stop(client: OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(model="slow-5000", messages=USER)
    client.close()  # hang up, so the fake's handler is cancelled

    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.5


def test_drop_mid_stream_breaks_the_client_stream(client: OpenAI) -> None:
    received: list[str] = []
    with (
        pytest.raises(openai.APIConnectionError),
        client.chat.completions.create(model="drop-mid-stream", messages=USER, stream=True) as stream,
    ):
        received.extend(c.choices[0].delta.content or "" for c in stream)

    assert received == ["echo:", " hello"]


async def test_pause_stream_delivers_chunk_one_before_release(aclient: AsyncOpenAI, fake: FakeOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="pause-stream", messages=USER, stream=True)
    first = await anext(stream)
    async with asyncio.timeout(5):
        await fake.first_chunk_sent.wait_async()

    assert first.choices[0].delta.content == "echo:"
    assert not fake.gates["default"].is_set()
    pending = asyncio.ensure_future(anext(stream))
    done, _ = await asyncio.wait({pending}, timeout=0.2)
    assert not done  # the rest really is held back

    fake.release()
    rest = [await pending] + [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in rest) == " hello there world"


async def test_named_gates_pause_streams_independently(fake: FakeOpenAI) -> None:
    async with (
        async_client(fake) as sdk,
        asyncio.timeout(5),
    ):
        a = await sdk.chat.completions.create(
            model="pause-stream", messages=USER, stream=True, extra_headers={"x-fake-gate": "a"}
        )
        b = await sdk.chat.completions.create(
            model="pause-stream", messages=USER, stream=True, extra_headers={"x-fake-gate": "b"}
        )
        await anext(a)
        await anext(b)
        fake.release("b")
        assert len([chunk async for chunk in b]) == 4
        assert not fake.gates["a"].is_set()
        fake.release("a")
        assert len([chunk async for chunk in a]) == 4


def test_stop_does_not_wait_for_an_unreleased_gate(client: OpenAI, fake: FakeOpenAI) -> None:
    with client.chat.completions.create(model="pause-stream", messages=USER, stream=True) as stream:
        next(stream)
        started = time.monotonic()
        fake.stop()

    assert time.monotonic() - started < 1.5


def test_responses_stream_honours_pause_and_drop(client: OpenAI, fake: FakeOpenAI) -> None:
    with client.responses.create(model="pause-stream", input="hi there", stream=True) as stream:
        kinds = [next(stream).type for _ in range(5)]
        assert kinds[-1] == "response.output_text.delta"
        assert fake.first_chunk_sent.wait(5)
        fake.release()
        assert [event.type for event in stream][-1] == "response.completed"

    with (
        pytest.raises(openai.APIConnectionError),
        client.responses.create(model="drop-mid-stream", input="hi there", stream=True) as stream,
    ):
        for _ in stream:
            pass


def test_requests_are_recorded_with_headers_and_body(client: OpenAI, fake: FakeOpenAI) -> None:
    before = time.monotonic()
    client.chat.completions.create(
        model="gpt-4o", messages=USER, extra_headers={"X-Trace": "t-1"}, extra_query={"api-version": "1"}
    )
    client.models.list()

    chat, models = fake.requests
    assert (chat.method, chat.path, chat.query_string) == ("POST", "/v1/chat/completions", "api-version=1")
    assert chat.header("authorization") == "Bearer sk-test"
    assert chat.header("X-TRACE") == "t-1"
    assert chat.json == {"model": "gpt-4o", "messages": USER}
    assert chat.body.startswith(b"{")
    assert before <= chat.received_at <= models.received_at
    assert (models.method, models.json) == ("GET", None)

    fake.clear()
    assert fake.requests == []
    assert client.chat.completions.create(model="gpt-4o", messages=USER).id == "chatcmpl-fake-000001"


def test_api_key_is_checked_when_configured() -> None:
    with FakeOpenAI(api_key="sk-right").serve() as fake:
        with (
            sync_client(fake, api_key="sk-wrong") as wrong,
            pytest.raises(openai.AuthenticationError),
        ):
            wrong.models.list()
        with sync_client(fake, api_key="sk-right") as right:
            assert right.models.list().data


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/chat/completions", b"{not json", 400, "We could not parse the JSON body of your request."),
        ("/v1/chat/completions", b'{"messages": []}', 400, "you must provide a model parameter"),
        ("/v1/nowhere", b"{}", 404, "Invalid URL (POST /v1/nowhere)"),
    ],
)
async def test_bad_requests_get_openai_error_json(
    fake: FakeOpenAI, path: str, body: bytes, status: int, message: str
) -> None:
    async with aiohttp.ClientSession() as session, session.post(fake.url + path, data=body) as response:
        payload = await response.json()

    assert response.status == status
    assert payload == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": payload["error"]["param"],
            "code": None,
        }
    }


def test_server_thread_runs_coroutines_on_its_loop(fake: FakeOpenAI) -> None:
    async def loop_of_caller() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert fake.server.call(loop_of_caller) is fake.server.loop
    assert fake.url == f"http://127.0.0.1:{fake.server.port}"
    with ServerThread(fake.build_app()) as other:
        assert other.port != fake.server.port
    with pytest.raises(RuntimeError):
        _ = other.url

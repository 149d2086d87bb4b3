"""The openai SDK's `responses` through `…/compat` to a server whose chat answers carry no
`created` (as some OpenAI-compatible servers answer): the Response says when it was created, not
1970 (`created_at: 0`, which the Vercel AI SDK shows as its `response.timestamp`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.server_thread import ServerThread

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    head = {"id": "chatcmpl-untimed", "model": body["model"]}  # no `created`
    if not body.get("stream"):
        message = {"role": "assistant", "content": "hello there"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return web.json_response({**head, "object": "chat.completion", "choices": [choice], "usage": USAGE})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    chunks: list[Any] = [
        {
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": "hello"}, "finish_reason": None}
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": USAGE},
    ]
    for chunk in chunks:
        event = {**head, "object": "chat.completion.chunk", **chunk}
        await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


@pytest.fixture
def untimed() -> Iterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    with ServerThread(app) as server:
        yield server.url + "/v1"


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway], untimed: str) -> Iterator[openai.OpenAI]:
    gateway = make_gateway(custom_providers={"untimed": untimed})
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_a_whole_response_says_when_it_was_created(client: openai.OpenAI) -> None:
    before = int(time.time())
    response = client.responses.create(model="untimed/some-model", input="hi")
    assert response.output_text == "hello there"
    assert before <= response.created_at <= time.time()


def test_every_event_of_a_stream_says_the_same_time(client: openai.OpenAI) -> None:
    before = int(time.time())
    events = list(client.responses.create(model="untimed/some-model", input="hi", stream=True))
    times = {event.response.created_at for event in events if hasattr(event, "response")}
    assert len(times) == 1
    assert before <= times.pop() <= time.time()
    assert events[-1].response.output_text == "hello there"  # type: ignore[union-attr]

"""A stored answer read again by id is not billed again: `GET responses/{id}` and `GET
chat/completions/{id}` report the usage the answer was made with, which was counted when it was
made. A background response (`background: true`: created queued, then polled until it is done) is
counted by the first read that finds it finished, once. The official openai SDK is the client, a
small OpenAI-shaped server on loopback keeps the answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import RunningGateway
from tests.fakes.server_thread import ServerThread

USAGE = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}


def response(answer_id: str, background: bool, done: bool) -> dict[str, Any]:
    return {
        "id": answer_id, "object": "response", "created_at": 1, "model": "gpt-4o-mini-2024-07-18",
        "status": "completed" if done else "queued", "background": background,
        "output": [{
            "type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "hi there", "annotations": []}],
        }] if done else [],
        "usage": USAGE if done else None,
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    }  # fmt: skip


def responses_app() -> web.Application:
    """Responses made at once, or in the background (done at the first read); read back by id."""
    made: dict[str, bool] = {}
    numbers = itertools.count(1)

    async def create(request: web.Request) -> web.Response:
        background = bool((await request.json()).get("background"))
        answer_id = f"resp_{next(numbers)}"
        made[answer_id] = background
        return web.json_response(response(answer_id, background, done=not background))

    async def read(request: web.Request) -> web.Response:
        answer_id = request.match_info["id"]
        return web.json_response(response(answer_id, made[answer_id], done=True))

    app = web.Application()
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{id}", read)
    return app


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ServerThread(responses_app()).start()
    yield server.url + "/v1"
    server.stop()


@pytest.fixture
def client(
    make_gateway: Callable[..., RunningGateway], upstream: str
) -> Iterator[tuple[openai.OpenAI, RunningGateway]]:
    gateway = make_gateway(upstreams={"openai": upstream})
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk, gateway


def tokens(record: dict[str, Any]) -> tuple[int, int]:
    return record["tokens_in"], record["tokens_out"]


def test_a_response_read_again_is_not_counted_again(client: tuple[openai.OpenAI, RunningGateway]) -> None:
    sdk, gateway = client
    made = sdk.responses.create(model="gpt-4o-mini", input="hi")
    assert made.usage is not None
    assert made.usage.output_tokens == 7
    for _ in range(2):
        assert sdk.responses.retrieve(made.id).output_text == "hi there"
    records = sorted(gateway.wait_for_logs(3), key=lambda r: r["id"])
    assert [tokens(r) for r in records] == [(11, 7), (0, 0), (0, 0)]
    assert records[0]["cost_usd"] > 0
    assert [bool(r["cost_usd"]) for r in records[1:]] == [False, False]  # nothing charged again


def test_a_background_response_is_counted_by_the_first_read_that_finds_it_done(
    client: tuple[openai.OpenAI, RunningGateway],
) -> None:
    sdk, gateway = client
    made = sdk.responses.create(model="gpt-4o-mini", input="hi", background=True)
    assert made.status == "queued"
    for _ in range(3):
        assert sdk.responses.retrieve(made.id).status == "completed"
    records = sorted(gateway.wait_for_logs(4), key=lambda r: r["id"])
    assert [tokens(r) for r in records] == [(0, 0), (11, 7), (0, 0), (0, 0)]
    assert records[3]["metadata"]["usage_counted_in"] == records[1]["id"]

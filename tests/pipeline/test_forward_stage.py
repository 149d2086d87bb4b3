"""Forwarder, called directly with a step: one upstream request, its answer whole or as a stream.

Forwarding is HTTP itself, so the upstream is the fake OpenAI server on loopback (no gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from multidict import CIMultiDict

from sluicegate.errors import UpstreamTimeout, UpstreamUnreachable
from sluicegate.exchange import Reply, Step
from sluicegate.pipeline.forward import Forwarder
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.upstream import Upstream
from tests.fakes.openai_server import BEHAVIOR_HEADER, FakeOpenAI

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as server:
        yield server


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    client = Upstream(connect_timeout=5)
    await client.open()
    yield client
    await client.close()


def chat_step(body: object = CHAT, **headers: str) -> Step:
    route = Route("local", "chat/completions")
    encoded = orjson.dumps(body)
    sent = CIMultiDict({"Authorization": "Bearer sk-test", "Content-Type": "application/json", **headers})
    return Step(OPENAI, route, sent, encoded, OPENAI.read_request(route, encoded))


async def test_a_json_answer_comes_back_whole_from_the_configured_base_url(
    fake: FakeOpenAI, upstream: Upstream
) -> None:
    fake.clear()
    forwarder = Forwarder(upstream, {"openai": fake.base_url}, exchange_timeout=10)
    reply = await forwarder.send(chat_step(), "POST", start_timeout=5)
    assert reply.status == 200
    assert reply.stream is None
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "echo: hello there"
    assert reply.headers["x-request-id"] == "req_fake_000001"  # the provider's headers are relayed
    [sent] = fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.header("Authorization") == "Bearer sk-test"


async def test_a_stream_is_relayed_chunk_by_chunk(fake: FakeOpenAI, upstream: Upstream) -> None:
    forwarder = Forwarder(upstream, {"openai": fake.base_url}, exchange_timeout=10)
    reply = await forwarder.send(chat_step({**CHAT, "stream": True}), "POST", start_timeout=5)
    assert reply.stream is not None
    chunks = [chunk async for chunk in reply.stream]
    assert chunks[0].startswith(b"data: {")  # the first chunk came with the answer's start
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")


async def test_an_upstream_error_is_an_answer_not_an_exception(fake: FakeOpenAI, upstream: Upstream) -> None:
    forwarder = Forwarder(upstream, {"openai": fake.base_url}, exchange_timeout=10)
    reply = await forwarder.send(chat_step(**{BEHAVIOR_HEADER: "rate-limited"}), "POST", start_timeout=5)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1"  # what the retry stage reads
    assert orjson.loads(reply.body)["error"]["code"] == "rate_limit_exceeded"


async def test_an_answer_that_does_not_start_in_time_is_an_upstream_timeout(
    fake: FakeOpenAI, upstream: Upstream
) -> None:
    forwarder = Forwarder(upstream, {"openai": fake.base_url}, exchange_timeout=10)
    with pytest.raises(UpstreamTimeout, match=r"within 0\.2 s"):
        await forwarder.send(chat_step(**{BEHAVIOR_HEADER: "slow-3000"}), "POST", start_timeout=0.2)


async def test_the_step_s_own_answer_rewrite_applies(fake: FakeOpenAI, upstream: Upstream) -> None:
    step = chat_step()
    step.answer = lambda reply: Reply(reply.status, reply.headers, body=b"rewritten")
    forwarder = Forwarder(upstream, {"openai": fake.base_url}, exchange_timeout=10)
    assert (await forwarder.send(step, "POST", start_timeout=5)).body == b"rewritten"


async def test_a_host_nobody_listens_on_is_unreachable(upstream: Upstream) -> None:
    forwarder = Forwarder(upstream, {"openai": "http://127.0.0.1:1/v1"}, exchange_timeout=10)
    with pytest.raises(UpstreamUnreachable):
        await forwarder.send(chat_step(), "POST", start_timeout=5)


async def test_the_step_s_own_base_url_wins(fake: FakeOpenAI, upstream: Upstream) -> None:
    step = chat_step()
    step.base_url = fake.base_url  # host-in-path: the host the request named
    forwarder = Forwarder(upstream, {"openai": "http://127.0.0.1:1/v1"}, exchange_timeout=10)
    assert (await forwarder.send(step, "POST", start_timeout=5)).status == 200

"""Forwarder, called directly with a step: one upstream request, its answer whole or as a stream.

The upstream is the fake OpenAI app behind the in-process transport (no socket, no gateway);
tests/fakes/test_in_process.py shows it answers as the same app over loopback does, and the
integration tests forward over real sockets."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict

from sluicegate.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from sluicegate.exchange import Reply, Step
from sluicegate.pipeline.forward import Forwarder
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from tests.fakes.in_process import InProcessTransport
from tests.fakes.openai_server import BEHAVIOR_HEADER, FakeOpenAI

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
ORIGIN = "http://openai.test"
BASE_URL = ORIGIN + "/v1"


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
def upstream(fake: FakeOpenAI) -> InProcessTransport:
    return InProcessTransport({ORIGIN: fake.build_app()})


def chat_step(body: object = CHAT, **headers: str) -> Step:
    route = Route("local", "chat/completions")
    encoded = orjson.dumps(body)
    sent = CIMultiDict({"Authorization": "Bearer sk-test", "Content-Type": "application/json", **headers})
    return Step(OPENAI, route, sent, encoded, OPENAI.read_request(route, encoded))


async def test_a_json_answer_comes_back_whole_from_the_configured_base_url(
    fake: FakeOpenAI, upstream: InProcessTransport
) -> None:
    forwarder = Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10)
    reply = await forwarder.send(chat_step(), "POST", start_timeout=5)
    assert reply.status == 200
    assert reply.stream is None
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "echo: hello there"
    assert reply.headers["x-request-id"] == "req_fake_000001"  # the provider's headers are relayed
    [sent] = fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.header("Authorization") == "Bearer sk-test"


async def test_a_stream_is_relayed_chunk_by_chunk(upstream: InProcessTransport) -> None:
    forwarder = Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10)
    reply = await forwarder.send(chat_step({**CHAT, "stream": True}), "POST", start_timeout=5)
    assert reply.stream is not None
    chunks = [chunk async for chunk in reply.stream]
    assert chunks[0].startswith(b"data: {")  # the first chunk came with the answer's start
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")


async def test_an_upstream_error_is_an_answer_not_an_exception(upstream: InProcessTransport) -> None:
    forwarder = Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10)
    reply = await forwarder.send(chat_step(**{BEHAVIOR_HEADER: "rate-limited"}), "POST", start_timeout=5)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1"  # what the retry stage reads
    assert orjson.loads(reply.body)["error"]["code"] == "rate_limit_exceeded"


async def test_a_stream_that_breaks_after_it_started_fails_in_the_client_s_hands(
    upstream: InProcessTransport,
) -> None:
    forwarder = Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10)
    step = chat_step({**CHAT, "stream": True}, **{BEHAVIOR_HEADER: "drop-mid-stream"})
    reply = await forwarder.send(step, "POST", start_timeout=5)  # started: not an error to retry
    assert reply.stream is not None
    with pytest.raises(UpstreamBroken, match="broke off its stream"):
        async for _ in reply.stream:
            pass


async def test_an_answer_that_does_not_start_in_time_is_an_upstream_timeout(
    upstream: InProcessTransport,
) -> None:
    forwarder = Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10)
    with pytest.raises(UpstreamTimeout, match=r"within 0\.2 s"):
        await forwarder.send(chat_step(**{BEHAVIOR_HEADER: "slow-3000"}), "POST", start_timeout=0.2)


async def test_the_step_s_own_answer_rewrite_applies(upstream: InProcessTransport) -> None:
    step = chat_step()
    step.answer = lambda reply: Reply(reply.status, reply.headers, body=b"rewritten")
    forwarder = Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10)
    assert (await forwarder.send(step, "POST", start_timeout=5)).body == b"rewritten"


async def test_a_host_nobody_serves_is_unreachable(upstream: InProcessTransport) -> None:
    forwarder = Forwarder(upstream, {"openai": "http://elsewhere.test/v1"}, exchange_timeout=10)
    with pytest.raises(UpstreamUnreachable):
        await forwarder.send(chat_step(), "POST", start_timeout=5)


async def test_the_step_s_own_base_url_wins(upstream: InProcessTransport) -> None:
    step = chat_step()
    step.base_url = BASE_URL  # host-in-path: the host the request named
    forwarder = Forwarder(upstream, {"openai": "http://elsewhere.test/v1"}, exchange_timeout=10)
    assert (await forwarder.send(step, "POST", start_timeout=5)).status == 200

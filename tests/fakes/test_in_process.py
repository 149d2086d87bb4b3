"""The in-process transport answers as the pool over loopback does, from the same fake apps: the
same status, relayed headers, body and stream for each provider's plain, streamed, error and 429
answers, and the same `errors.py` types for a broken stream, a timeout and an unknown host.

Each test sends the same requests to two fresh instances of one fake, one on loopback through
`Upstream`, one in process, through the same `Forwarder`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import cast

import orjson
import pytest
from multidict import CIMultiDict

from sluicegate.errors import GatewayError, UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from sluicegate.exchange import Reply, Step
from sluicegate.pipeline.forward import Forwarder
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.upstream import Upstream
from tests.fakes.base import BEHAVIOR_HEADER, FakeUpstream
from tests.fakes.in_process import InProcessTransport
from tests.integration.registry_cases import CASES, Fake

ORIGIN = "http://upstream.test"
# One provider per fake wire format (the OpenAI-compatible ones share FakeOpenAI).
PROVIDERS = ["openai", "anthropic", "google-ai-studio", "azure-openai", "cohere", "workers-ai", "huggingface"]
KINDS = ["plain", "stream", "error-500", "rate-limited"]


@dataclass(frozen=True)
class Seen:
    """An answer as the client of the forward stage sees it (Date left out: a second may tick)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    streamed: bool


def make_fake(name: str) -> FakeUpstream:
    fake = CASES[name].make_fake()
    assert isinstance(fake, FakeUpstream)
    return fake


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {name: make_fake(name).serve() for name in PROVIDERS}
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
async def pool() -> AsyncIterator[Upstream]:
    upstream = Upstream(connect_timeout=5)
    await upstream.open()
    yield upstream
    await upstream.close()


def step(name: str, kind: str) -> Step:
    """Provider `name`'s request in its wire format; `kind` is "plain", "stream", or a behaviour
    that a "stream," prefix asks of the streamed request."""
    case = CASES[name]
    provider = REGISTRY[name]
    behavior = kind.removeprefix("stream").removeprefix(",")
    path, body = case.path, case.body("parity check")
    if kind.startswith("stream") and case.streamed is not None:
        path, body = case.streamed("parity check")
    path, _, query = path.partition("?")
    route = Route("local", path, query)
    encoded = orjson.dumps(body)
    header, template = case.key
    headers = CIMultiDict(
        {"Content-Type": "application/json", header: template.format(key="k"), **dict(case.headers)}
    )
    if behavior and behavior != "plain":
        headers[BEHAVIOR_HEADER] = behavior
    return Step(provider, route, headers, encoded, provider.read_request(route, encoded))


async def seen(reply: Reply) -> Seen:
    body = reply.body if reply.stream is None else b"".join([chunk async for chunk in reply.stream])
    headers = [(name.lower(), value) for name, value in reply.headers.items() if name.lower() != "date"]
    return Seen(reply.status, sorted(headers), body, reply.stream is not None)


def loopback(fake: FakeUpstream, pool: Upstream, name: str, timeout: float = 10) -> Forwarder:
    fake.clear()  # ids count from 000001 again, as in the fresh in-process fake
    return Forwarder(pool, {name: CASES[name].base_url(fake)}, exchange_timeout=timeout)


def in_process(name: str, timeout: float = 10) -> tuple[Forwarder, FakeUpstream]:
    fake = make_fake(name)
    base = CASES[name].base_url(cast(Fake, _Rooted(ORIGIN)))  # base_url reads only `url`
    return Forwarder(InProcessTransport({ORIGIN: fake.build_app()}), {name: base}, timeout), fake


@dataclass(frozen=True)
class _Rooted:
    """A fake's address as `Case.base_url` reads it, for a fake that is not on a socket."""

    url: str


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", PROVIDERS)
async def test_the_same_fake_answers_the_same_in_process_as_over_loopback(
    served: dict[str, FakeUpstream], pool: Upstream, name: str, kind: str
) -> None:
    over_loopback = await seen(await loopback(served[name], pool, name).send(step(name, kind), "POST", 5))
    forwarder, fake = in_process(name)
    in_process_ = await seen(await forwarder.send(step(name, kind), "POST", 5))
    assert in_process_ == over_loopback
    expected = {"plain": 200, "stream": 200, "error-500": 500, "rate-limited": 429}[kind]
    assert over_loopback.status == expected
    assert over_loopback.streamed == (kind == "stream")
    [recorded] = fake.requests  # the fake saw the request whole: method, path, headers, body
    [recorded_over_loopback] = served[name].requests
    assert (recorded.method, recorded.path, recorded.query_string, recorded.json) == (
        recorded_over_loopback.method,
        recorded_over_loopback.path,
        recorded_over_loopback.query_string,
        recorded_over_loopback.json,
    )


async def drain(forwarder: Forwarder, name: str, kind: str) -> None:
    reply = await forwarder.send(step(name, kind), "POST", 5)
    if reply.stream is not None:
        async for _ in reply.stream:
            pass


async def error_of(forwarder: Forwarder, name: str, kind: str) -> type[GatewayError]:
    with pytest.raises(GatewayError) as raised:
        await drain(forwarder, name, kind)
    return type(raised.value)


@pytest.mark.parametrize("name", ["openai", "anthropic", "google-ai-studio"])
async def test_a_stream_dropped_midway_is_broken_either_way(
    served: dict[str, FakeUpstream], pool: Upstream, name: str
) -> None:
    over_loopback = await error_of(loopback(served[name], pool, name), name, "stream,drop-mid-stream")
    assert over_loopback is UpstreamBroken
    assert await error_of(in_process(name)[0], name, "stream,drop-mid-stream") is over_loopback


async def test_an_answer_slower_than_the_exchange_timeout_is_a_timeout_either_way(
    served: dict[str, FakeUpstream], pool: Upstream
) -> None:
    over_loopback = await error_of(
        loopback(served["openai"], pool, "openai", timeout=0.2), "openai", "slow-3000"
    )
    assert over_loopback is UpstreamTimeout
    assert await error_of(in_process("openai", timeout=0.2)[0], "openai", "slow-3000") is over_loopback


async def stalled(forwarder: Forwarder) -> type[GatewayError]:
    """What iterating a stream that started and then stalled raises."""
    reply = await forwarder.send(step("openai", "stream,pause-stream"), "POST", 5)
    assert reply.stream is not None  # it started: the timeout comes mid-stream
    with pytest.raises(GatewayError) as raised:
        async for _ in reply.stream:
            pass
    return type(raised.value)


async def test_a_stream_that_stalls_past_the_exchange_timeout_is_a_timeout_either_way(
    served: dict[str, FakeUpstream], pool: Upstream
) -> None:
    over_loopback = await stalled(loopback(served["openai"], pool, "openai", timeout=0.3))
    served["openai"].release()
    assert over_loopback is UpstreamTimeout
    forwarder, fake = in_process("openai", timeout=0.3)
    assert await stalled(forwarder) is over_loopback
    fake.release()


async def test_a_host_nobody_serves_is_unreachable_either_way(pool: Upstream) -> None:
    nowhere = {"openai": "http://127.0.0.1:1/v1"}
    assert await error_of(Forwarder(pool, nowhere, 10), "openai", "plain") is UpstreamUnreachable
    transport = InProcessTransport({ORIGIN: make_fake("openai").build_app()})
    unknown = {"openai": "http://elsewhere.test/v1"}
    assert await error_of(Forwarder(transport, unknown, 10), "openai", "plain") is UpstreamUnreachable
